"""Rebuild this folder from a checkout of xraypy/xraylarch (MIT): one XDI file per spectrum.

    python tests/data/measured-3d-k/extract.py /path/to/xraylarch  # a clone, bare or not

Each chosen Athena group's μ(E) is written unchanged (no shift, no rebinning) with the
provenance in the header; the known answer (formal valence, coordination) goes only into
``manifest.json``, never into the spectrum file, so the service reads the files as a user's.
Validation only: these spectra never train a model and never fit a constant.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgestream.doors.files.athena import read_athena

HERE = Path(__file__).resolve().parent
PRJ = "examples/xafsdata/AthenaProjectFiles"
OCT, TET = (6, "octahedral"), (4, "tetrahedral")
# (file stem, project, group label, compound, formula, formal valence, (CN, family), note)
CHOSEN = [
    ("mn0_Mn_foil", "Mn", "Mn foil", "Mn metal foil", "Mn", 0, (12, "metal"), ""),
    ("mn2_MnO", "Mn", "MnO", "MnO (manganosite)", "MnO", 2, OCT, ""),
    ("mn2_MnCl2", "Mn", "MnCl2", "MnCl2", "MnCl2", 2, OCT, ""),
    ("mn2_Mn_oxalate", "Mn", "Mn Oxalate", "Mn(II) oxalate", "MnC2O4·2H2O", 2, OCT,
     "hydration state not stated in the project"),
    ("mn2_MnCO3_rhodochrosite", "Mn", "Rhodochrosite", "rhodochrosite", "MnCO3", 2, OCT, ""),
    ("mn267_Mn3O4", "Mn", "Mn3O4", "Mn3O4 (hausmannite)", "Mn3O4", 8 / 3, (5.33, "mixed"),
     "mixed valence: Mn(II) tetrahedral + 2 Mn(III) octahedral; the project aligns it by "
     "+19.1 eV (its raw energies are off)"),
    ("mn3_Mn2O3", "Mn", "Mn2O3x", "Mn2O3", "Mn2O3", 3, OCT,
     "project label 'Mn2O3x'; taken as Mn2O3 (bixbyite)"),
    ("mn3_MnOOH_manganite", "Mn", "g-MnOOH", "γ-MnOOH (manganite)", "MnOOH", 3, OCT, ""),
    ("mn4_Li2MnO3", "Mn", "Li2MnO3", "Li2MnO3", "Li2MnO3", 4, OCT, ""),
    ("mn4_MnO2_pyrolusite", "Mn", "Pyrolusite", "β-MnO2 (pyrolusite)", "MnO2", 4, OCT, ""),
    ("mn4_MnO2_ramsdellite", "Mn", "Ramsdellite", "ramsdellite", "MnO2", 4, OCT, ""),
    ("mn7_KMnO4", "Mn_all", "KMnO4", "KMnO4", "KMnO4", 7, TET,
     "Mn(VII): beyond the valences the models learn (expected to be flagged)"),
    ("fe0_Fe_foil", "Fe", "Fe foil", "Fe metal foil", "Fe", 0, (8, "metal"), ""),
    ("fe2_FeO", "FeO", "FeO", "FeO (wüstite)", "FeO", 2, OCT,
     "wüstite is Fe-deficient (Fe1-xO); nominal Fe(II)"),
    ("fe2_FeS2_pyrite", "FeS2", "fes2_rt01_mar02.xmu", "FeS2 (pyrite)", "FeS2", 2, OCT,
     "low-spin Fe(II) in S2(2-) octahedra"),
    ("fe2_FeCr2O4_chromite", "Fe-K-ALS-10.3.2", "Chromite", "chromite", "FeCr2O4", 2, TET,
     "natural mineral"),
    ("fe2_FeAl2O4_hercynite", "Fe-K-ALS-10.3.2", "Hercynite", "hercynite", "FeAl2O4", 2, TET,
     "natural mineral; spinel, partly inverse"),
    ("fe2_Fe2SiO4_fayalite", "Fe-K-ALS-10.3.2", "Olivine (Fo0)", "olivine Fo0 (fayalite)",
     "Fe2SiO4", 2, OCT, ""),
    ("fe2_olivine_Fo80", "Fe-K-ALS-10.3.2", "Olivine (Fo80)", "olivine Fo80",
     "(Mg0.8Fe0.2)2SiO4", 2, OCT, ""),
    ("fe2_FeS_troilite", "Fe-K-ALS-10.3.2", "Troilite", "troilite", "FeS", 2, OCT, ""),
    ("fe3_Fe2O3_hematite", "Fe", "Hematite", "α-Fe2O3 (hematite)", "Fe2O3", 3, OCT, ""),
    ("fe3_FeOOH_goethite", "Fe", "Goerthite", "α-FeOOH (goethite)", "FeOOH", 3, OCT,
     "project label misspelt 'Goerthite'"),
    ("fe3_FeOOH_lepidocrocite", "Fe", "Lepidocrocite", "γ-FeOOH (lepidocrocite)", "FeOOH", 3,
     OCT, ""),
    ("fe3_ferrihydrite", "Fe", "Ferrihydrite", "ferrihydrite", "Fe(III) oxyhydroxide", 3, OCT,
     "poorly crystalline; some tetrahedral Fe is debated"),
    ("ni2_NiO", "NiO", "NiO", "NiO (bunsenite)", "NiO", 2, OCT,
     "carries its simultaneous Ni-foil reference channel (mu_ref)"),
    ("ti4_PbTiO3", "tipb", "PbTiO3 300 K", "PbTiO3, 300 K", "PbTiO3", 4, OCT,
     "tetragonal ferroelectric: Ti off-centre in its octahedron"),
    ("ti4_EuTiO3", "eutio3", "tieu_300", "EuTiO3, 300 K", "EuTiO3", 4, OCT, ""),
    ("zn2_Zn_aqueous", "zn_solution", "05BM_znsoln.001", "Zn(II) in aqueous solution",
     "Zn(H2O)6(2+)", 2, OCT, ""),
]
# Scan files copied byte for byte: (file name, path in the repository, compound, formula,
# formal valence, (CN, family), note)
RAW = [
    ("zn2_ZnSe.001", "examples/xafsdata/znse_zn_xafs.001", "ZnSe (stilleite)", "ZnSe", 2, TET,
     "EPICS scan file of APS 13-BM-D with i0/i1 columns, as the beamline wrote it"),
]
# (stem, project, group, reference group) of spectra carrying a reference channel
REFERENCES = {"ni2_NiO": "Ref NiO"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.check_output(["git", "-C", str(repo), *args], text=True).strip()


def _groups(repo: Path, rel: str) -> dict[str, object]:
    """The project's μ(E) groups by label, read from the repository (work tree or bare)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(rel).name
        path.write_bytes(subprocess.check_output(["git", "-C", str(repo), "show", f"HEAD:{rel}"]))
        return {str(g.metadata.get("Sample.name")).strip(): g for g in read_athena(path).records}


def main(repo: Path) -> None:
    commit = _git(repo, "rev-parse", "HEAD")
    manifest = []
    cache: dict[str, dict] = {}
    for stem, project, label, compound, formula, valence, (cn, family), note in CHOSEN:
        rel = f"{PRJ}/{project}.prj"
        if project not in cache:
            cache[project] = _groups(repo, rel)
        g = cache[project][label]
        energy, mu = np.asarray(g.energy), np.asarray(g.columns["mu"])
        cols = [energy, mu]
        names = ["energy eV", "mu"]
        ref_label = REFERENCES.get(stem)
        if ref_label:
            ref = cache[project][ref_label]
            if not np.allclose(ref.energy, energy):
                raise SystemExit(f"{stem}: reference on another energy grid")
            cols.append(np.asarray(ref.columns["mu"]))
            names.append("mu_ref")
        element = g.metadata["Element.symbol"]
        shift = float(g.metadata.get("Athena.bkg_eshift", "0"))
        head = [
            "XDI/1.0 edgestream-validation/1",
            *[f"Column.{i + 1}: {n}" for i, n in enumerate(names)],
            f"Element.symbol: {element}", "Element.edge: K",
            f"Sample.name: {compound}", f"Sample.formula: {formula}",
            f"Source.repository: https://github.com/xraypy/xraylarch @ {commit}",
            f"Source.file: {rel} (git blob {_git(repo, 'rev-parse', f'HEAD:{rel}')})",
            f"Source.group: {label}", "Source.licence: MIT (LICENSE.xraylarch)",
            f"Source.athena_eshift_eV: {shift:g} (not applied)",
            "///", "validation spectrum: mu as stored in the Athena project, unshifted",
            "\t".join(n.split()[0] for n in names),
        ]
        body = np.column_stack(cols)
        out = HERE / f"{stem}.xdi"
        with out.open("w") as fh:
            fh.write("".join(f"# {h}\n" for h in head))
            np.savetxt(fh, body, fmt="%.6f" + "\t%.8g" * (len(cols) - 1))
        manifest.append({
            "file": out.name, "element": element, "edge": "K", "compound": compound,
            "formula": formula, "formal_valence": round(valence, 3), "cn": cn,
            "geometry": family, "reference_channel": bool(ref_label),
            "athena_eshift_ev": shift, "npts": int(energy.size),
            "energy_min": float(energy.min()), "energy_max": float(energy.max()),
            "source_path": rel, "source_group": label, "source_commit": commit,
            "licence": "MIT", "note": note,
        })
    for name, rel, compound, formula, valence, (cn, family), note in RAW:
        (HERE / name).write_bytes(
            subprocess.check_output(["git", "-C", str(repo), "show", f"HEAD:{rel}"]))
        manifest.append({
            "file": name, "element": "Zn", "edge": "K", "compound": compound,
            "formula": formula, "formal_valence": valence, "cn": cn, "geometry": family,
            "reference_channel": False, "athena_eshift_ev": 0.0, "source_path": rel,
            "source_commit": commit, "licence": "MIT", "note": note,
        })
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(manifest)} spectra written")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
