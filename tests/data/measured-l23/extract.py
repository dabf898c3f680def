"""Rebuild the measured L2,3 validation spectra of this folder from their public sources.

    python tests/data/measured-l23/extract.py [--mirror DIR]

Every source is a public GitHub repository brought here as a bare snapshot (the ``fetch``
tool's ``/work/.mirror/<owner>+<name>/repo``, or any clone: ``--mirror`` names the folder
holding ``<owner>+<name>/repo``); files are read from the commit named below with
``git show``, so the output does not depend on the snapshot's later history. Writes the
two-column text files and ``manifest.json``; README.md and the licence files are kept by
hand. VALIDATION ONLY: nothing here may be used to train a model or fit a constant.

Nothing from the XAS Data Library, xraylarch's Cu HERFD/YBCO examples, the test data of
apstools, polartools, tiled-export or databroker, or smglsn12/ML_XAS_EELS is read.
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MIRROR = Path("/work/.mirror")

FLEXPES = {"repository": "alexeip100/flexpes-nexafs",
           "commit": "e5ccae6a9c916fd4609f62ee1780724c193b3a7b",
           "path": "src/flexpes_nexafs/library.h5",
           "licence": "MIT", "licence_file": "LICENSE-flexpes-nexafs.txt"}
CHATZIDAKIS = {"repository": "MichaelChatzidakis/Mn_Classifier_CNNs",
               "commit": "30d32ca0e895d74ce702133b4f24d804b9f83cf7",
               "licence": "MIT", "licence_file": "LICENSE-Mn_Classifier_CNNs.txt"}
EXSPY = {"repository": "hyperspy/exspy",
         "commit": "10e53facc0e8e6557653abcc0ddfa08150fa26ec",
         "path": "examples/coreloss_spectrum.msa",
         "licence": "GPL-3.0-or-later", "licence_file": "LICENSE-exspy-GPL-3.0.txt"}

# Digitized_Mn_Usecases.pkl: six groups, in the order its own test script names them
# (test_digitized_spectra.py: ['Mn4', 'Mn2', 'Mn3', 'mixed23', 'mixed34', 'mixed']); only the
# three single-valence groups are taken
DIGITIZED_GROUPS = {0: 4, 1: 2, 2: 3}


def git_show(mirror: Path, repository: str, commit: str, path: str) -> bytes:
    """One file of one commit of a mirrored repository."""
    git_dir = mirror / repository.replace("/", "+") / "repo"
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


class _Stub:
    """Stands in for any pandas class of an old pickle: keeps its state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _new_index(cls: Any, d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else {"data": d}


class _OldPandas(pickle.Unpickler):
    """Pandas 0.x pickles read without pandas (whose modern versions cannot read them):
    numpy arrays come back as arrays, every pandas object as a ``_Stub`` with its state.
    Only numpy's array reconstruction is imported; no other code can run."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray") and name in (
                "ndarray", "dtype", "_reconstruct"):
            return super().find_class(module, name)
        if module == "builtins" and name == "slice":
            return slice
        if name == "_new_Index":
            return _new_index
        return type(name, (_Stub,), {})


def _blocks(obj: _Stub) -> dict[str, Any]:
    """axes and blocks of a pickled DataFrame/Series (pandas 0.14+ manager state)."""
    state = obj.state["_data"].state
    return state[3]["0.14.1"]


def _frame_rows(obj: _Stub) -> np.ndarray:
    """A single-block DataFrame's values, one row per DataFrame row."""
    (block,) = _blocks(obj)["blocks"]
    return np.asarray(block["values"], dtype=float).T


def _energy_order(energy: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by energy, the values at one energy averaged (a digitized curve steps
    back where the white line is steep: the order of digitizing, not of measuring)."""
    order = np.argsort(energy, kind="stable")
    e, s = energy[order], signal[order]
    unique, inverse = np.unique(e, return_inverse=True)
    return unique, np.bincount(inverse, weights=s) / np.bincount(inverse)


def write_spectrum(name: str, energy: np.ndarray, signal: np.ndarray, header: list[str],
                   labels: tuple[str, str]) -> None:
    """Two columns, eV and signal, below ``#`` comment lines and a label line."""
    lines = [f"# {h}" for h in header] + [f"# {labels[0]} {labels[1]}"]
    lines += [f"{e:.4f} {s:.6g}" for e, s in zip(energy, signal, strict=True)]
    (HERE / name).write_text("\n".join(lines) + "\n")


def flexpes(mirror: Path) -> list[dict[str, Any]]:
    """FlexPES (MAX IV) Cu L2,3 of CuO powder, TEY and PFY, from the program's reference
    library as stored (pre-edge removed, area-normalized by the program)."""
    import h5py

    raw = git_show(mirror, FLEXPES["repository"], FLEXPES["commit"], FLEXPES["path"])
    out = []
    with h5py.File(io.BytesIO(raw), "r") as h5:
        for key, group in h5["spectra"].items():
            attrs = {k: (v.decode() if isinstance(v, bytes) else v)
                     for k, v in group.attrs.items()}
            if attrs["element"] != "Cu":
                continue
            tey = attrs["detector"] == "b107a_em_03_ch1"
            modality = "xas_tey" if tey else "xas_fy"
            name = f"cu2_CuO_{'tey' if tey else 'pfy'}_flexpes.txt"
            energy, signal = np.asarray(group["x"], float), np.asarray(group["y"], float)
            write_spectrum(name, energy, signal, [
                f"Cu L2,3 XAS of CuO powder on carbon tape, {'TEY' if tey else 'PFY'} "
                f"({attrs['detector']}), FlexPES beamline, MAX IV",
                f"source: {FLEXPES['repository']} @ {FLEXPES['commit'][:12]} "
                f"{FLEXPES['path']} spectra/{key} ({FLEXPES['licence']})",
                f"as stored by the program: post_normalization={attrs['post_normalization']}, "
                "pre-edge removed", "VALIDATION ONLY"], ("energy", "mu"))
            out.append({
                "file": name, "element": "Cu", "edge": "L2,3", "compound": "CuO",
                "formal_valence": 2.0, "modality": modality, "measured": True,
                "digitized": False, "background_subtracted": True, "normalized": "area",
                "source": {**{k: FLEXPES[k] for k in ("repository", "commit", "path")},
                           "entry": f"spectra/{key}",
                           "original_entry": attrs["source_entry"]},
                "licence": FLEXPES["licence"], "licence_file": FLEXPES["licence_file"],
                "notes": f"{attrs['comment']}; resolution {attrs['resolution_meV']:g} meV; "
                         f"{attrs['label']}; stored {attrs['created']}"})
    return out


def chatzidakis(mirror: Path) -> list[dict[str, Any]]:
    """Mn(II) EELS (FEI Titan) of Chatzidakis & Botton: the mean over each published set of
    spectrum-image pixels and its first pixel. Mn(III) and Mn(IV) sets are named in the
    repository but their blobs are not in the snapshot (large files)."""
    out = []
    sets = {"thin": "Data/Mn2_615-685eV_thin_659.pkl",
            "thinnest": "Data/Mn2_615-685eV_thinnest_448.pkl"}
    energy = 615.0 + 0.1 * np.arange(700)  # the file name's 615-685 eV over 700 channels
    for label, path in sets.items():
        raw = git_show(mirror, CHATZIDAKIS["repository"], CHATZIDAKIS["commit"], path)
        rows = _frame_rows(_OldPandas(io.BytesIO(raw)).load())
        assert rows.shape[1] == energy.size, rows.shape
        for kind, signal in (("mean", rows.mean(axis=0)), ("pixel0", rows[0])):
            name = f"mn2_Mn-II_eels_{label}_{kind}_chatzidakis.txt"
            what = (f"mean of all {len(rows)} spectra" if kind == "mean"
                    else f"first of the {len(rows)} spectra (one pixel)")
            write_spectrum(name, energy, signal, [
                f"Mn L2,3 EELS of a Mn(II) reference ('{label}' set), {what}",
                f"source: {CHATZIDAKIS['repository']} @ {CHATZIDAKIS['commit'][:12]} {path} "
                f"({CHATZIDAKIS['licence']})",
                "energy axis from the file name: 615-685 eV over 700 channels (0.1 eV); "
                "background-subtracted as published", "VALIDATION ONLY"],
                ("energy_loss", "counts"))
            out.append({
                "file": name, "element": "Mn", "edge": "L2,3",
                "compound": "Mn(II) reference (repository labels the valence only)",
                "formal_valence": 2.0, "modality": "eels", "measured": True,
                "digitized": False, "background_subtracted": True, "normalized": "as published",
                "source": {"repository": CHATZIDAKIS["repository"],
                           "commit": CHATZIDAKIS["commit"], "path": path},
                "licence": CHATZIDAKIS["licence"], "licence_file": CHATZIDAKIS["licence_file"],
                "notes": f"{what}; energy axis inferred from the file name (615-685 eV, 700 "
                         "channels), so the absolute scale is the publication's (its L3 "
                         "maximum sits at ~645 eV); Chatzidakis & Botton, Sci. Rep. 9, 2126 "
                         "(2019) used these as their Mn2+ class"})
    return out


def digitized(mirror: Path) -> list[dict[str, Any]]:
    """The Mn L2,3 spectra the same repository digitized from the literature (its
    Data/data.md: 'digitized reference spectra'), single-valence groups only."""
    path = "Data/Digitized_Mn_Usecases.pkl"
    raw = git_show(mirror, CHATZIDAKIS["repository"], CHATZIDAKIS["commit"], path)
    series = _OldPandas(io.BytesIO(raw)).load()
    (block,) = _blocks(series)["blocks"]
    out = []
    for group, valence in DIGITIZED_GROUPS.items():
        members = block["values"][group]
        (inner,) = _blocks(members)["blocks"]
        index = _blocks(members)["axes"][0]["data"]
        for i, frame in enumerate(inner["values"]):
            energy, signal = _frame_rows(frame).T
            back = int(np.count_nonzero(np.diff(energy) <= 0))
            energy, signal = _energy_order(energy, signal)
            name = f"mn{valence}_digitized_{group}-{i:02d}_chatzidakis.txt"
            write_spectrum(name, energy, signal, [
                f"Mn L2,3 EELS of a Mn({valence}+) compound DIGITIZED from a published figure "
                f"(group {group}, item {i}, index {int(index[i])})",
                f"source: {CHATZIDAKIS['repository']} @ {CHATZIDAKIS['commit'][:12]} {path} "
                f"({CHATZIDAKIS['licence']})", "background-subtracted as digitized; points put "
                f"in energy order ({back} back-steps of the digitization; equal energies "
                "averaged)", "VALIDATION ONLY"], ("energy_loss", "counts"))
            out.append({
                "file": name, "element": "Mn", "edge": "L2,3",
                "compound": f"unnamed Mn({valence}+) compound (digitized literature spectrum)",
                "formal_valence": float(valence), "modality": "eels", "measured": True,
                "digitized": True, "background_subtracted": True, "normalized": "as digitized",
                "source": {"repository": CHATZIDAKIS["repository"],
                           "commit": CHATZIDAKIS["commit"], "path": path,
                           "entry": f"group {group} (Mn{valence}), item {i}"},
                "licence": CHATZIDAKIS["licence"], "licence_file": CHATZIDAKIS["licence_file"],
                "notes": "digitized by the repository's author from published figures (the "
                         "repository says 'digitized reference spectra' and licenses it MIT; "
                         "it does not name the papers or compounds); valence from the group "
                         "label of its test_digitized_spectra.py; points put in energy "
                         f"order ({back} back-steps of the digitization), equal energies "
                         "averaged"})
    return out


def exspy(mirror: Path) -> list[dict[str, Any]]:
    """eXSpy's example core-loss spectrum (O K and Mn L2,3, raw counts with background)."""
    text = git_show(mirror, EXSPY["repository"], EXSPY["commit"], EXSPY["path"]).decode()
    meta, counts = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            counts.append(float(line.split(",")[0]))
    offset, step = float(meta["OFFSET"]), float(meta["XPERCHAN"])
    energy = offset + step * np.arange(len(counts))
    name = "mn_unknown-oxide_eels_exspy.txt"
    write_spectrum(name, energy, np.asarray(counts), [
        "O K and Mn L2,3 EELS core-loss spectrum, raw counts (background not removed), "
        "300 kV, convergence 24.6 mrad, collection 13.6 mrad (per the example that loads it)",
        f"source: {EXSPY['repository']} @ {EXSPY['commit'][:12]} {EXSPY['path']} "
        f"({EXSPY['licence']})", "sample not named by the source: a Mn-O compound",
        "VALIDATION ONLY"], ("energy_loss", "counts"))
    return [{
        "file": name, "element": "Mn", "edge": "L2,3",
        "compound": "unnamed Mn oxide (the source names only Mn and O)",
        "formal_valence": None, "modality": "eels", "measured": True, "digitized": False,
        "background_subtracted": False, "normalized": "no (counts)",
        "source": {k: EXSPY[k] for k in ("repository", "commit", "path")},
        "licence": EXSPY["licence"], "licence_file": EXSPY["licence_file"],
        "notes": "HyperSpy/eXSpy example and test spectrum since HyperSpy's early releases; "
                 f"{len(counts)} channels from {offset:g} eV at {step:g} eV; no formal "
                 "valence (compound unknown): a pipeline-path case, not an accuracy one"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    args = parser.parse_args()
    for old in HERE.glob("*.txt"):
        if not old.name.startswith("LICENSE"):
            old.unlink()
    manifest = (flexpes(args.mirror) + chatzidakis(args.mirror) + exspy(args.mirror)
                + digitized(args.mirror))
    manifest.sort(key=lambda m: (m["element"], m["digitized"], m["formal_valence"] is None,
                                 m["formal_valence"] or 0.0, m["file"]))
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} spectra written to {HERE}")


if __name__ == "__main__":
    main()
