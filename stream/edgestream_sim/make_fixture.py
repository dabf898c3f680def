"""Build the Cu K-edge fixture in ``stream/sim/data/`` from the OmniXAS FEFF9 data set, and the
FEFF10 K-edge fixtures of other 3d elements (``--feff10 Fe``) from this project's FEFF10 runs.

Run from the repository root (needs the shared data, which clones do not have)::

    python -m edgestream_sim.make_fixture \
        --source ../shared/data/omnixas-cu-k --out stream/edgestream_sim/data
    python -m edgestream_sim.make_fixture --feff10 Fe   # needs edgestream_models + its cache

The spectra are copied unchanged (FEFF9 absolute energies, eV, and edge-step-normalized
mu); the energy calibration and extension happen at run time in ``edgestream_sim.spectra``.
``--fit-shift tests/data/measured-cu-k`` re-derives ``FEFF9_ENERGY_SHIFT_EV`` from measured,
foil-calibrated Cu2O and CuO spectra.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
from pathlib import Path

import numpy as np

from edgestream.paths import shared_root

FIXTURE_NAME = "cu_k_feff9.npz"

# (material_id, absorbing site index, formula, common name, formal valence of that site)
SELECTION: tuple[tuple[str, int, str, str, int], ...] = (
    ("mp-361", 0, "Cu2O", "cuprite", 1),
    ("mp-1692", 0, "CuO", "tenorite", 2),
    ("mp-1478", 4, "Cu4O3", "paramelaconite, linear Cu(I) site", 1),
    ("mp-20525", 0, "CuSO4", "chalcocyanite (anhydrous)", 2),
    ("mp-3982", 2, "KCuO2", "potassium cuprate(III)", 3),
    ("mp-19735", 2, "La2CuO4", "lanthanum cuprate", 2),
    ("mp-4541", 1, "NaCuO2", "sodium cuprate(III)", 3),
    ("mp-9158", 1, "LiCuO2", "lithium cuprate(III)", 3),
)

CU_O_BOND_MAX = 2.3  # Å; Cu-O distances up to this count towards the coordination number


def _parse_poscar(text: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Lattice (Å, rows), species per site, fractional coordinates of a VASP5 POSCAR."""
    lines = text.splitlines()
    scale = float(lines[1])
    lattice = np.array([[float(x) for x in lines[i].split()] for i in (2, 3, 4)]) * scale
    elements, counts = lines[5].split(), [int(x) for x in lines[6].split()]
    species = [el for el, n in zip(elements, counts, strict=True) for _ in range(n)]
    frac = np.array([[float(x) for x in lines[8 + i].split()[:3]] for i in range(len(species))])
    return lattice, species, frac


def cu_o_coordination(poscar: str, site: int) -> int:
    """Number of O neighbours within ``CU_O_BOND_MAX`` Å of ``site`` (checks the valence)."""
    lattice, species, frac = _parse_poscar(poscar)
    if species[site] != "Cu":
        raise ValueError(f"site {site} is {species[site]}, not Cu")
    n = 0
    for j, f in enumerate(frac):
        if species[j] != "O":
            continue
        for shift in itertools.product(range(-2, 3), repeat=3):
            d = np.linalg.norm((f + np.array(shift) - frac[site]) @ lattice)
            n += int(0.1 < d < CU_O_BOND_MAX)
    return n


def build(source: Path, out: Path) -> Path:
    """Write ``out/cu_k_feff9.npz`` and ``out/LICENSE``; return the .npz path."""
    data = np.load(source / "spectra.npz")
    with gzip.open(source / "structures.json.gz", "rt") as fh:
        poscars = json.load(fh)
    splits = json.loads((source / "splits.json").read_text())
    split_of = {key.rsplit("_", 1)[0]: name for name, keys in splits.items() for key in keys}

    rows = []
    for mid, site, formula, _name, valence in SELECTION:
        (idx,) = np.where((data["material_id"] == mid) & (data["site_index"] == site))
        if len(idx) != 1:
            raise ValueError(f"{mid} site {site}: {len(idx)} spectra")
        rows.append(int(idx[0]))
        cn = cu_o_coordination(poscars[mid], site)
        print(
            f"{mid:9s} site {site} {formula:8s} Cu({valence}) CN(O)={cn} "
            f"split={split_of.get(mid, 'none')}"
        )

    out.mkdir(parents=True, exist_ok=True)
    path = out / FIXTURE_NAME
    np.savez_compressed(
        path,
        material_id=np.array([s[0] for s in SELECTION]),
        site_index=np.array([s[1] for s in SELECTION], dtype=np.int16),
        formula=np.array([s[2] for s in SELECTION]),
        name=np.array([s[3] for s in SELECTION]),
        valence=np.array([s[4] for s in SELECTION], dtype=np.int8),
        cu_o_coordination=np.array(
            [cu_o_coordination(poscars[s[0]], s[1]) for s in SELECTION], dtype=np.int8
        ),
        omnixas_split=np.array([split_of.get(s[0], "none") for s in SELECTION]),
        energy_feff=data["energy"][rows].astype(np.float32),
        mu=data["mu"][rows].astype(np.float32),
    )
    shutil.copyfile(source / "LICENSE", out / "LICENSE")
    print(f"wrote {path} ({path.stat().st_size} bytes) and {out / 'LICENSE'}")
    return path


# FEFF10 K-edge fixtures: per element, the prototypes whose base-variant sites are kept, in the
# order the simulated beamline measures them (valences and coordinations that differ).
FEFF10_SELECTION: dict[str, tuple[str, ...]] = {
    "Fe": ("fe2o3_corundum", "feo_rocksalt", "fe3o4_spinel", "fe_metal", "znfe2o4_spinel"),
}


def feff10_fixture_name(element: str) -> str:
    return f"{element.lower()}_k_feff10.npz"


def build_feff10(element: str, out: Path, cache: Path | None = None) -> Path:
    """Write ``out/<el>_k_feff10.npz``: the base-variant sites of ``FEFF10_SELECTION[element]``
    from the FEFF10 cache (today's settings only), with their labels and the element's energy
    calibration (``edgestream_models.k3d_data.calibration_offset``, as the k_edge models)."""
    import warnings

    from edgestream.physics import edge_energy
    from edgestream_models import feff10
    from edgestream_models.feff10_collect import _coordination
    from edgestream_models.k3d_data import cache_set, calibration_offset

    warnings.filterwarnings("ignore")
    # the same rows, in the same order, as k3d_data.load_element: the same calibration
    rows = sorted(feff10.iter_entries(cache_set(element), cache, current_only=True),
                  key=lambda r: r[0]["key"])
    rows = [r for r in rows if r[0]["feff"].get("absorber", element) == element]
    offset = calibration_offset(element, rows)
    metal = next(r[0]["key"] for r in rows
                 if r[0]["labels"].get("calibration") == f"{element} foil"
                 and r[0]["labels"].get("variant", "base") in ("base", "d00"))
    order = FEFF10_SELECTION[element]
    keep = sorted((r for r in rows if r[0]["labels"].get("prototype") in order
                   and r[0]["labels"].get("variant") == "base"),
                  key=lambda r: (order.index(r[0]["labels"]["prototype"]), r[0]["key"]))
    missing = set(order) - {r[0]["labels"]["prototype"] for r in keep}
    if missing:
        raise SystemExit(f"{element}: no finished base-variant FEFF10 run of {sorted(missing)}")
    n = {len(r[1]) for r in keep}
    if len(n) != 1:
        raise SystemExit(f"{element}: FEFF10 runs of different lengths {sorted(n)}")
    meta = [r[0] for r in keep]
    labels = [m["labels"] for m in meta]
    coord = [_coordination(m) for m in meta]
    for m, c in zip(meta, coord, strict=True):
        print(f"{m['key']:32s} {m['labels']['formula']:8s} v={m['labels']['formal_valence']} "
              f"CN={c['cn']} {c['motif']} x{m['labels'].get('multiplicity', 1)}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / feff10_fixture_name(element)
    np.savez_compressed(
        path,
        element=np.array(element), edge=np.array("K"),
        edge_energy_ev=np.array(edge_energy(element, "K")),
        calibration_offset_ev=np.array(offset), calibration_key=np.array(metal),
        key=np.array([m["key"] for m in meta]),
        material=np.array([lb["prototype"] for lb in labels]),
        formula=np.array([lb["formula"] for lb in labels]),
        name=np.array([lb.get("description", lb["formula"]) for lb in labels]),
        site_label=np.array([lb["site_label"] for lb in labels]),
        site_index=np.array([m["site_index"] for m in meta], dtype=np.int16),
        multiplicity=np.array([lb.get("multiplicity", 1) for lb in labels], dtype=np.int16),
        valence=np.array([lb["formal_valence"] for lb in labels], dtype=np.float32),
        coordination=np.array([c["cn"] for c in coord], dtype=np.int8),
        geometry=np.array([c["motif"] for c in coord]),
        structure_source=np.array([lb.get("source", "") for lb in labels]),
        feff_parameters=np.array(json.dumps(meta[0]["feff"], sort_keys=True)),
        energy_feff=np.stack([r[1] for r in keep]).astype(np.float32),
        mu=np.stack([r[3] for r in keep]).astype(np.float32),
    )
    print(f"calibration offset {offset:+.3f} eV (on {metal}); "
          f"wrote {path} ({path.stat().st_size} bytes)")
    return path


def _normalize(energy: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Pre-edge line (< 8960 eV) removed, divided by the post-edge line (9030-9120 eV)."""
    pre = (energy < 8960) & (energy > energy.min() + 10)
    post = (energy > 9030) & (energy < 9120)
    pre_line = np.polyval(np.polyfit(energy[pre], mu[pre], 1), energy)
    step = np.polyfit(energy[post], (mu - pre_line)[post], 1)
    return (mu - pre_line) / np.polyval(step, energy)


def fit_shift(measured: Path, fixture: Path | None = None) -> dict[str, float]:
    """Best FEFF9 energy shift (eV) per measured Cu2O/CuO spectrum, and their mean.

    Measured energies get the session's foil calibration (``shift_to_put_reference_at_8979_eV``
    in ``manifest.json``); the shift minimizes the mean squared difference of the normalized
    spectra over 8975-9030 eV.
    """
    from .spectra import load_fixture

    refs = {r.formula: r for r in load_fixture(fixture)}
    grid = np.arange(8975.0, 9030.0, 0.1)
    shifts = np.arange(-20.0, 0.001, 0.05)
    out: dict[str, float] = {}
    for entry in json.loads((measured / "manifest.json").read_text()):
        ref = refs.get(entry["formula"])
        if ref is None or entry["formula"] not in ("Cu2O", "CuO"):
            continue
        data = np.loadtxt(measured / entry["file"])
        energy = data[:, 0] + entry["shift_to_put_reference_at_8979_eV"]
        target = np.interp(grid, energy, _normalize(energy, data[:, 1]))
        errors = [np.mean((ref.normalized_mu(grid, s) - target) ** 2) for s in shifts]
        out[entry["file"]] = round(float(shifts[int(np.argmin(errors))]), 2)
    out["mean"] = round(float(np.mean(list(out.values()))), 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=shared_root() / "data" / "omnixas-cu-k")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument(
        "--fit-shift",
        type=Path,
        default=None,
        metavar="MEASURED_DIR",
        help="only fit the FEFF9 energy shift against measured spectra",
    )
    parser.add_argument("--feff10", metavar="ELEMENT", choices=sorted(FEFF10_SELECTION),
                        help="build <el>_k_feff10.npz from the FEFF10 cache instead")
    args = parser.parse_args(argv)
    if args.feff10 is not None:
        build_feff10(args.feff10, args.out)
        return
    if args.fit_shift is not None:
        print(json.dumps(fit_shift(args.fit_shift), indent=2))
        return
    build(args.source, args.out)


if __name__ == "__main__":
    main()
