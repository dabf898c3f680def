"""CLI: FEFF10 Cu spectra of the calibration references and of the non-oxide prototypes.

    python -m edgestream_models.generate_feff10 calibration        # Cu, Cu2O, CuO first
    python -m edgestream_models.generate_feff10 generate --workers 2
    python -m edgestream_models.generate_feff10 status
    python -m edgestream_models.generate_feff10 collect \
        --out ~/.cache/edgestream/datasets/feff10_cu_k.npz

Everything is cached per input (:mod:`edgestream_models.feff10`), so ``calibration`` and
``generate`` are resumable: run them again after a kill and finished sites are skipped.

``--edge L3`` does the same for the Cu L3 edge (cached apart, under ``feff10/L3``).

    python -m edgestream_models.labels --valence-only     # ~4 min on 2 processes
    python -m edgestream_models.generate_feff10 --edge L3 omnixas --sites 720

runs absorbing sites of the OmniXAS structures (the L-edge data set): ``--sites`` of them,
one per material, drawn round-robin over (valence, motif) strata from the cached labels
(the full ones when present, else the valence-only ones; motif None is one stratum) so that
a run stopped early is still balanced.

    python -m edgestream_models.generate_feff10 seed    # before the runs: the archived ones
    python -m edgestream_models.generate_feff10 pack    # after them: refresh the archive

``--element`` runs the K edge of other 3d absorbers (Ti V Cr Mn Fe Co Ni Zn, a comma list, or
``all``; :mod:`edgestream_models.elements3d`), cached under ``feff10/<Element>_K``:

    python -m edgestream_models.generate_feff10 --element all calibration   # the metals
    python -m edgestream_models.generate_feff10 --element all generate      # oxides
    python -m edgestream_models.generate_feff10 --element all omnixas       # co-cation sites
    python -m edgestream_models.generate_feff10 --element all k3d --workers 2  # all, in order
    python -m edgestream_models.generate_feff10 --element all pack          # one archive each

``k3d`` is the background run: the metals first, then the oxide prototypes (base structures,
then strains), then every inequivalent co-cation site of the OmniXAS structures, each group
round-robin over the elements.

The finished runs (meta.json, POSCAR, xmu.dat, labels.json of each; ~4 kB a site compressed)
are kept in the repository as ``models/data/feff10_<edge>_runs.tar.xz``: a fresh machine
seeds its cache from it and computes only what is missing (``make train`` does), instead of
the CPU-hours the runs cost. Delete the archive, or the cache entries, to recompute.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.paths import shared_root
from edgestream_models import elements3d, feff10, prototypes

OMNIXAS_ROOT = shared_root() / "data" / "omnixas-cu-k"
CALIBRATION_MP = {  # Materials Project id → (formula, formal valence, expected motif, note)
    "mp-361": ("Cu2O", 1.0, (2, "linear"), "cuprite, PBE-relaxed MP cell (a = 4.288 Å)"),
    "mp-1692": ("CuO", 2.0, (4, "square_planar"), "MP's P4_2/mmc (PtS-type) CuO cell, NOT "
                "monoclinic tenorite; see cuo_tenorite for the measured standard's phase"),
}
GRID_STEP = 0.25  # eV, of the common absolute grid in the dataset
# Displaced variants per prototype, by edge. K runs with SCF potentials (15-45 CPU-s a site):
# 3 of them keep the K set at 352 sites (base, 4 strains, 3 x 64 displaced), ~1.5 h on 2 cores.
DISPLACED_VARIANTS = {"K": 3}
ARCHIVE_DIR = Path(__file__).resolve().parent / "data"


def archive_path(edge: str) -> Path:
    """The committed archive of finished runs of ``edge`` (``pack`` writes it, ``seed``
    reads it), so that a fresh machine need not recompute hours of FEFF10; ``edge`` may be a
    cache set name (``Fe_K``: :func:`feff10.cache_set`)."""
    return ARCHIVE_DIR / f"feff10_{edge}_runs.tar.xz"


def displaced_variants(edge: str) -> int:
    """Displaced variants per prototype run for ``edge`` (``DISPLACED_VARIANTS``, else all)."""
    return DISPLACED_VARIANTS.get(edge, prototypes.N_DISPLACED)


def _load_omnixas(root: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    with gzip.open(root / "structures.json.gz", "rt") as fh:
        poscars = json.load(fh)
    d = np.load(root / "spectra.npz")
    sites: dict[str, list[int]] = {}
    for mid, idx in zip(d["material_id"], d["site_index"], strict=True):
        sites.setdefault(str(mid), []).append(int(idx))
    return poscars, sites


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
    poscars, sites = _load_omnixas(root)
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
    poscars, sites = _load_omnixas(root)
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


def _print_summary(summary: dict[str, Any], jobs: list[feff10.Job], root: Any) -> None:
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for key, err in summary["failures"]:
        print(f"FAILED {key}: {err}")


# ----------------------------------------------------------------------------- collect

def _coordination(meta: dict[str, Any]) -> dict[str, Any]:
    """Motif of the absorbing site by :func:`edgestream_models.labels.coordination`
    (CrystalNN + that module's Jahn–Teller rule), cached as ``labels.json`` in the entry."""
    path = Path(meta["path"]) / "labels.json"
    if path.exists():
        return json.loads(path.read_text())
    from pymatgen.core import Structure

    from edgestream_models.labels import coordination

    s = Structure.from_str(meta["poscar"], fmt="poscar")
    out = coordination(s, int(meta["site_index"]))
    path.write_text(json.dumps(out))
    return out


def collect(out: Path, edge: str = "K", root: Any = None,
            groups: tuple[str, ...] = ("prototype", "calibration")) -> dict[str, Any]:
    """Gather every finished entry of ``edge`` (or cache set, ``Fe_K``) made with today's
    settings (``feff10.matches_settings``) into one npz (fields: README section; ``edge`` is
    the edge alone, ``absorber`` the element of each row)."""
    warnings.filterwarnings("ignore")
    rows = [e for e in feff10.iter_entries(edge, root, current_only=True)
            if e[0]["labels"].get("group", "prototype") in groups]
    if not rows:
        raise SystemExit(f"no finished {edge} entries under {feff10.cache_root(root)}")
    rows.sort(key=lambda e: e[0]["key"])
    n, m = len(rows), max(len(e[1]) for e in rows)
    energy, energy_rel, mu = (np.full((n, m), np.nan) for _ in range(3))
    for i, (_, e, er, y) in enumerate(rows):
        energy[i, : len(e)], energy_rel[i, : len(e)], mu[i, : len(e)] = e, er, y
    lo = max(float(e[1][0]) for e in rows)
    hi = min(float(e[1][-1]) for e in rows)
    grid = np.arange(np.ceil(lo / GRID_STEP) * GRID_STEP, hi + 1e-9, GRID_STEP)
    mu_on_grid = np.stack([np.interp(grid, e, y) for _, e, _, y in rows])
    coord = [_coordination(r[0]) for r in rows]

    def lab(k: str, default: Any = "") -> np.ndarray:
        return np.array([r[0]["labels"].get(k, default) for r in rows])

    fields = {
        "energy": energy, "energy_rel": energy_rel, "mu": mu,
        "n_points": np.array([len(r[1]) for r in rows]),
        "grid": grid, "mu_on_grid": mu_on_grid,
        "key": np.array([r[0]["key"] for r in rows]), "material": lab("material"),
        "prototype": lab("prototype"), "variant": lab("variant"), "group": lab("group"),
        "calibration": lab("calibration"), "formula": lab("formula"),
        "formal_valence": lab("formal_valence", np.nan).astype(float),
        "valence_class": lab("valence_class"),
        "motif": np.array([c["motif"] for c in coord]),
        "cn": np.array([c["cn"] for c in coord]),
        "cn_crystalnn": np.array([c["cn_crystalnn"] for c in coord]),
        "motif_expected": lab("motif_expected"), "cn_expected": lab("cn_expected", -1),
        "poscar": np.array([r[0]["poscar"] for r in rows]),
        "site_index": np.array([r[0]["site_index"] for r in rows]),
        "strain": lab("strain", 0.0).astype(float),
        "sigma_disp": lab("sigma_disp", 0.0).astype(float),
        "approximate": lab("approximate", False).astype(bool),
        "feff_hash": np.array([r[0]["hash"] for r in rows]),
        "elapsed_s": np.array([r[0]["elapsed_s"] for r in rows]),
        "edge": np.array(feff10.set_edge(edge)),
        "absorber": np.array([r[0]["feff"].get("absorber", feff10.DEFAULT_ABSORBER)
                              for r in rows]),
        "feff_params": np.array(json.dumps(rows[0][0]["feff"])),
    }
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **fields)
    mismatch = [f'{r[0]["key"]}: {c["cn"]} {c["motif"]} (expected '
                f'{r[0]["labels"].get("cn_expected")} {r[0]["labels"].get("motif_expected")})'
                for r, c in zip(rows, coord, strict=True)
                if r[0]["labels"].get("motif_expected") not in (None, c["motif"])
                or r[0]["labels"].get("cn_expected") not in (None, c["cn"])]
    return {"out": str(out), "spectra": n, "max_points": m,
            "materials": len(set(fields["material"])),
            "grid": [float(grid[0]), float(grid[-1]), len(grid)] if len(grid) else [],
            "motif": {str(k): int(v) for k, v in zip(
                *np.unique(fields["motif"], return_counts=True), strict=True)},
            "differs_from_expected": mismatch}


# ----------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgestream_models.generate_feff10",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--edge", default="K", choices=feff10.EDGES)
    ap.add_argument("--cache", default=None, help="cache root (default: "
                    "${EDGESTREAM_CACHE:-~/.cache/edgestream}/feff10)")
    ap.add_argument("--element", default="Cu",
                    help="absorbing element(s): Cu (default: the Cu runs), or a comma list of "
                    f"{', '.join(elements3d.ELEMENTS)} or 'all' (K edge only)")
    ap.add_argument("--scf", type=float, default=None,
                    help="SCF radius (Å) of the potentials (default: the edge's: "
                    f"{feff10.K_SCF_RADIUS} for K, {feff10.L_SCF_RADIUS} for L); 0: none. "
                    "`collect` takes only runs made with the edge's defaults.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("calibration", "generate", "omnixas", "k3d"):
        p = sub.add_parser(name)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--retry-failed", action="store_true")
        p.add_argument("--dry-run", action="store_true", help="count the jobs, run nothing")
        if name == "generate":
            p.add_argument("--prototypes", default="", help="comma-separated names (all)")
            p.add_argument("--limit", type=int, default=0, help="first N jobs only")
        if name in ("omnixas", "k3d"):
            p.add_argument("--limit", type=int, default=0,
                           help="--element other than Cu: the first N co-cation sites only")
            p.add_argument("--log-each", action="store_true",
                           help="one line per finished site (key, status, seconds)")
        if name == "omnixas":
            p.add_argument("--sites", type=int, default=OMNIXAS_SITES)
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--sparse-first", action="store_true",
                           help="open structures first within each stratum (cheapest FEFF)")
    p = sub.add_parser("status")
    p.add_argument("--prototypes", default="")
    p = sub.add_parser("pack", help="archive the finished runs of today's settings")
    p.add_argument("--out", type=Path, default=None,
                   help=f"default: {ARCHIVE_DIR}/feff10_<edge>_runs.tar.xz")
    p = sub.add_parser("seed", help="put archived runs into the cache where it lacks them")
    p.add_argument("--archive", type=Path, default=None,
                   help=f"default: {ARCHIVE_DIR}/feff10_<edge>_runs.tar.xz")
    p = sub.add_parser("collect")
    p.add_argument("--out", type=Path, default=None,
                   help="default: ~/.cache/edgestream/datasets/feff10_cu_k.npz (Cu), "
                   "feff10_<el>_k.npz (--element)")
    p.add_argument("--no-calibration", action="store_true",
                   help="prototype spectra only (no Cu2O/CuO calibration references)")
    sub.add_parser("list")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")  # pymatgen's CIF/symmetry chatter
    if args.element != "Cu":
        return _main_3d(args)
    if args.cmd == "k3d":
        ap.error("k3d needs --element (Ti ... Zn, or all)")

    if args.cmd == "list":
        for p in prototypes.PROTOTYPES:
            n = sum(len(v.absorbers)
                    for v in prototypes.variants(p, n_displaced=displaced_variants(args.edge)))
            print(f"{p.name:20s} {p.formula:8s} {p.valence_class:7s} {n:4d} sites  "
                  f"{p.description}")
        return 0
    if args.cmd == "pack":
        out = args.out or archive_path(args.edge)
        n = feff10.pack_entries(args.edge, out, args.cache)
        print(f"{n} {args.edge} entries -> {out} ({out.stat().st_size / 1e6:.2f} MB)" if n
              else f"no finished {args.edge} runs of today's settings: {out} left as it was")
        return 0
    if args.cmd == "seed":
        archive = args.archive or archive_path(args.edge)
        if not archive.exists():
            print(f"no archive {archive}: every run is computed", file=sys.stderr)
            return 0
        print(json.dumps(feff10.seed_entries(archive, args.edge, args.cache)))
        return 0
    if args.cmd == "collect":
        groups = ("prototype",) if args.no_calibration else (
            "prototype", "calibration", "omnixas")
        out = args.out or Path("~/.cache/edgestream/datasets/feff10_cu_k.npz")
        res = collect(out, args.edge, args.cache, groups)
        print(json.dumps(res, indent=1, default=str))
        return 0
    t0 = time.perf_counter()
    scf = "default" if args.scf is None else (args.scf or None)
    if args.cmd == "calibration":
        jobs = calibration_jobs(args.edge, scf=scf)
    elif args.cmd == "omnixas":
        jobs = omnixas_jobs(args.edge, args.sites, args.seed, sparse_first=args.sparse_first)
    else:
        names = [n for n in args.prototypes.split(",") if n]
        jobs = prototype_jobs(names, args.edge, scf=scf)
        if getattr(args, "limit", 0):
            jobs = jobs[: args.limit]
    print(f"{len(jobs)} jobs prepared in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.cmd == "status" or getattr(args, "dry_run", False):
        states = [feff10.entry_state(feff10.entry_dir(j, args.cache)) for j in jobs]
        print(json.dumps({s: states.count(s) for s in ("done", "failed", "pending")}))
        return 0
    summary = feff10.run_jobs(jobs, workers=args.workers, root=args.cache,
                              retry_failed=args.retry_failed, desc=args.cmd)
    _print_summary(summary, jobs, args.cache)
    if args.cmd == "calibration":
        for j in jobs:
            print(f"{j.key:40s} {feff10.entry_dir(j, args.cache)}")
    return 0 if not summary["failures"] else 1


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


def _main_3d(args: argparse.Namespace) -> int:
    """``main`` for ``--element`` other than Cu (K edge, sets ``<Element>_K``)."""
    try:
        elements = elements3d.parse_elements(args.element)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if args.edge != "K":
        raise SystemExit(f"--element {args.element}: K edge only (got --edge {args.edge})")
    if args.scf is not None:
        raise SystemExit("--element: the runs use the Cu K settings; --scf is for Cu only")
    sets = [feff10.cache_set("K", el) for el in elements]
    if args.cmd == "pack":
        if args.out is not None and len(sets) > 1:
            raise SystemExit("--out names one archive: give one --element")
        for name in sets:
            out = args.out or archive_path(name)
            n = feff10.pack_entries(name, out, args.cache)
            print(f"{n} {name} entries -> {out} ({out.stat().st_size / 1e6:.2f} MB)" if n
                  else f"no finished {name} runs of today's settings: {out} left as it was")
        return 0
    if args.cmd == "seed":
        if args.archive is not None and len(sets) > 1:
            raise SystemExit("--archive names one archive: give one --element")
        for name in sets:
            archive = args.archive or archive_path(name)
            if not archive.exists():
                print(f"no archive {archive}: every {name} run is computed", file=sys.stderr)
                continue
            print(name, json.dumps(feff10.seed_entries(archive, name, args.cache)))
        return 0
    if args.cmd == "collect":
        if len(sets) > 1:
            raise SystemExit("collect writes one element's data set: give one --element")
        groups = ("prototype", "omnixas") if args.no_calibration else (
            "prototype", "calibration", "omnixas")
        out = args.out or Path(f"~/.cache/edgestream/datasets/feff10_{elements[0].lower()}"
                               "_k.npz")
        print(json.dumps(collect(out, sets[0], args.cache, groups), indent=1, default=str))
        return 0
    if args.cmd not in ("calibration", "generate", "omnixas", "k3d", "status"):
        raise SystemExit(f"{args.cmd} is not available with --element "
                         "(calibration, generate, omnixas, k3d, status, pack, seed, collect)")
    t0 = time.perf_counter()
    jobs = jobs_3d(args.cmd, elements, getattr(args, "limit", 0))
    print(f"{len(jobs)} jobs prepared in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.cmd == "status" or args.dry_run:
        table: dict[str, dict[str, int]] = {}
        for j in jobs:
            state = feff10.entry_state(feff10.entry_dir(j, args.cache))
            row = table.setdefault(j.absorber, {"jobs": 0, "done": 0, "failed": 0,
                                                "pending": 0})
            row["jobs"] += 1
            row[state] += 1
        print(json.dumps(table))
        return 0
    summary = feff10.run_jobs(jobs, workers=args.workers, root=args.cache,
                              retry_failed=args.retry_failed, desc=args.cmd,
                              log_each=getattr(args, "log_each", False))
    _print_summary(summary, jobs, args.cache)
    return 0 if not summary["failures"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
