"""The Cu FEFF10 job sets (calibration references, prototypes and their variants, OmniXAS
sites) and the 3d-absorber ones of :mod:`edgestream_models.elements3d`, in the order they run:
what ``python -m edgestream_models.generate_feff10`` computes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models import elements3d, feff10, prototypes
from edgestream_models.omnixas import OMNIXAS_ROOT, structures_and_sites

CALIBRATION_MP = {  # Materials Project id → (formula, formal valence, expected motif, note)
    "mp-361": ("Cu2O", 1.0, (2, "linear"), "cuprite, PBE-relaxed MP cell (a = 4.288 Å)"),
    "mp-1692": ("CuO", 2.0, (4, "square_planar"), "MP's P4_2/mmc (PtS-type) CuO cell, NOT "
                "monoclinic tenorite; see cuo_tenorite for the measured standard's phase"),
}
# Displaced variants per prototype, by edge. K runs with SCF potentials (15-45 CPU-s a site):
# 3 of them keep the K set at 352 sites (base, 4 strains, 3 x 64 displaced), ~1.5 h on 2 cores.
DISPLACED_VARIANTS = {"K": 3}


def displaced_variants(edge: str) -> int:
    """Displaced variants per prototype run for ``edge`` (``DISPLACED_VARIANTS``, else all)."""
    return DISPLACED_VARIANTS.get(edge, prototypes.N_DISPLACED)



def prototype_jobs(names: list[str] | None = None, edge: str = "K",
                   scf: float | str | None = "default", n_displaced: int | None = None
                   ) -> list[feff10.Job]:
    """Jobs of every absorbing site of the (selected) prototypes and their variants
    (``scf``: :func:`feff10.make_job`'s; ``n_displaced``: default :func:`displaced_variants`)."""
    protos = [p for p in prototypes.PROTOTYPES if not names or p.name in names]
    if n_displaced is None:
        n_displaced = displaced_variants(edge)
    ranked = []
    for p in protos:
        for rank, v in enumerate(prototypes.variants(p, n_displaced=n_displaced)):
            for idx, label in v.absorbers:
                key = f"{p.name}/{v.name}/{label}-{idx:03d}"
                job = feff10.make_job(v.structure, idx, key, prototypes.site_labels(v, label),
                                      edge=edge, scf=scf)
                ranked.append((rank, job))
    # every prototype's base and strains first, then displaced variant 0 of every prototype,
    # ...: a run stopped half-way still covers every prototype
    return [job for _, job in sorted(ranked, key=lambda r: r[0])]


def calibration_jobs(edge: str = "K", root: Path = OMNIXAS_ROOT,
                     scf: float | str | None = "default") -> list[feff10.Job]:
    """Cu fcc (the prototype's base site), Cu2O mp-361 and CuO mp-1692 at their OmniXAS
    absorbing sites, and the experimental cuprite and tenorite cells."""
    from pymatgen.core import Structure

    cu = prototypes.get("cu_fcc")
    base = next(prototypes.variants(cu, strains=(), n_displaced=0))
    idx, label = base.absorbers[0]
    jobs = [feff10.make_job(base.structure, idx, f"cu_fcc/base/{label}-{idx:03d}",
                            prototypes.site_labels(base, label), edge=edge, scf=scf)]
    poscars, sites = structures_and_sites(root)
    for mid, (formula, val, (cn, motif), note) in CALIBRATION_MP.items():
        s = Structure.from_str(poscars[mid], fmt="poscar")
        for i in sites[mid]:
            labels = {"group": "calibration", "calibration": formula, "material": mid,
                      "prototype": mid, "variant": "mp", "formula": formula,
                      "formal_valence": val, "valence_class": f"Cu({'I' * int(val)})",
                      "cu_label": f"site{i}", "cn_expected": cn, "motif_expected": motif,
                      "strain": 0.0,
                      "sigma_disp": 0.0, "note": note,
                      "source": "OmniXAS structures.json.gz (Materials Project)"}
            jobs.append(feff10.make_job(s, i, f"calib/{mid}/site{i:03d}", labels, edge=edge,
                                        scf=scf))
    for p in prototypes.OXIDE_REFERENCES:
        v = next(prototypes.variants(p, strains=(), n_displaced=0))
        for i, lab in v.absorbers:
            labels = prototypes.site_labels(v, lab) | {
                "group": "calibration", "calibration": p.formula, "material": f"lit:{p.name}"}
            jobs.append(feff10.make_job(v.structure, i, f"calib/{p.name}/{lab}-{i:03d}",
                                        labels, edge=edge, scf=scf))
    return jobs


# ~16 % of the OmniXAS sites crash in FEFF10's xsph (deterministic, archived as failures), so
# 720 selected sites give the L-edge issue's 600 finished ones
OMNIXAS_SITES = 720


def omnixas_jobs(edge: str = "L3", n_sites: int = OMNIXAS_SITES, seed: int = 0,
                 root: Path = OMNIXAS_ROOT, labels: Path | None = None,
                 sparse_first: bool = False) -> list[feff10.Job]:
    """``n_sites`` OmniXAS absorbing sites, one per material, stratified by (valence, motif).

    Labels: ``labels`` if given, else the valence-only cache (``labels --valence-only``, what
    ``make train-ledge`` writes: strata are then valences alone), else the full one. The
    valence-only cache comes first so that the selection, and with it the FEFF10 cache a
    resumed run relies on, does not change when the full labels appear (``make train``).
    Strata are visited round-robin (each shuffled with ``seed``), so the first k jobs cover
    every stratum about equally; sites without an integer, confident valence label
    (``labels.valence_confident``) are skipped.
    ``sparse_first``: within a stratum, structures with the most volume per atom first
    (fewest atoms inside FEFF's spheres: with SCF the cost per site runs from ~10 CPU-s for
    open structures to ~90 for dense ones; measured r = -0.64 against volume per atom).
    """
    from pymatgen.core import Structure

    from edgestream_models.labels import valence_confident, valence_labels_path

    path = labels or valence_labels_path()
    if not path.exists():
        raise SystemExit(f"{path} missing: run `python -m edgestream_models.labels "
                         "--valence-only` first")
    poscars, sites = structures_and_sites(root)
    strata: dict[tuple[str, str], list[tuple[str, int, dict[str, Any], str]]] = {}
    # by structure id, not cache order (parallel labelling appends in completion order), so
    # the selection is the same on every machine and an archived run set stays valid
    for rec in sorted(map(json.loads, path.read_text().splitlines()), key=lambda r: r["id"]):
        # integer valences only: a fractional one is a composition average (oxi-state guess
        # or mixed-valence BVA), not this site's; mixtures are made synthetically instead
        # and confident ones (BVA agrees with the composition's guess: labels.valence_confident)
        options = [(int(i), lab) for i, lab in rec["sites"].items()
                   if int(i) in sites.get(rec["id"], ()) and lab.get("valence") is not None
                   and float(lab["valence"]).is_integer()
                   and valence_confident(lab["valence"], lab.get("valence_method", ""),
                                             rec.get("formula", ""))]
        if not options:
            continue
        i, lab = options[0]  # one site per material: materials, not sites, carry diversity
        key = (f"{float(lab['valence']):g}", str(lab.get("motif")))
        strata.setdefault(key, []).append((rec["id"], i, lab, rec.get("formula", "")))
    rng = np.random.default_rng(seed)
    queues = []
    for key in sorted(strata):
        members = [strata[key][j] for j in rng.permutation(len(strata[key]))]
        if sparse_first:  # popped from the end: the sparsest last in the list
            members.sort(key=lambda m: _volume_per_atom(poscars[m[0]]))
        queues.append(members)
    picked: list[tuple[str, int, dict[str, Any], str]] = []
    while len(picked) < n_sites and any(queues):
        for q in queues:
            if q and len(picked) < n_sites:
                picked.append(q.pop())
    jobs = []
    for mid, i, lab, formula in picked:
        s = Structure.from_str(poscars[mid], fmt="poscar")
        labels = {"group": "omnixas", "material": mid, "prototype": mid, "variant": "mp",
                  "formula": formula, "formal_valence": float(lab["valence"]),
                  "valence_method": lab.get("valence_method"), "cu_label": f"site{i}",
                  "motif_expected": lab.get("motif"), "cn_expected": lab.get("cn"),
                  "strain": 0.0, "sigma_disp": 0.0,
                  "source": "OmniXAS structures.json.gz (Materials Project)"}
        jobs.append(feff10.make_job(s, i, f"omnixas/{mid}/site{i:03d}", labels, edge=edge))
    return jobs


def _volume_per_atom(poscar: str) -> float:
    """Å³ per atom of a POSCAR text (scale, lattice vectors and counts only)."""
    lines = poscar.splitlines()
    scale = float(lines[1].split()[0])
    lattice = np.array([[float(x) for x in ln.split()[:3]] for ln in lines[2:5]]) * scale
    counts = lines[6].split() if lines[5].split()[0].isalpha() else lines[5].split()
    return abs(float(np.linalg.det(lattice))) / sum(int(c) for c in counts)



def jobs_3d(cmd: str, elements: list[str], limit: int = 0) -> list[feff10.Job]:
    """The K-edge jobs of ``cmd`` for 3d absorbers other than Cu: ``calibration`` (metals),
    ``generate`` (oxide prototypes and strains), ``omnixas`` (co-cation sites, the first
    ``limit``), ``k3d`` (all three, in that order)."""
    jobs = []
    if cmd in ("calibration", "k3d", "status"):
        jobs += elements3d.calibration_jobs(elements)
    if cmd in ("generate", "k3d", "status"):
        jobs += elements3d.prototype_jobs(elements)
    if cmd in ("omnixas", "k3d", "status"):
        jobs += elements3d.omnixas_jobs(elements, limit=limit)
    return jobs

