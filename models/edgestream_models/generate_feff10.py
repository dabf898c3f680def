"""CLI: FEFF10 Cu spectra of the calibration references and of the non-oxide prototypes.

    python -m edgestream_models.generate_feff10 calibration        # Cu, Cu2O, CuO first
    python -m edgestream_models.generate_feff10 generate --workers 2
    python -m edgestream_models.generate_feff10 status
    python -m edgestream_models.generate_feff10 collect \
        --out ${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/feff10_cu_k.npz

The job sets are :mod:`edgestream_models.feff10_jobs`, the data set
:mod:`edgestream_models.feff10_collect`. Everything is cached per input
(:mod:`edgestream_models.feff10`), so ``calibration`` and
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
are kept in the repository as ``models/edgestream_models/data/feff10_<edge>_runs.tar.xz``: a
fresh machine seeds its cache from it and computes only what is missing (``make train`` does),
instead of the CPU-hours the runs cost. Delete the archive, or the cache entries, to recompute.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from edgestream.paths import cache_root
from edgestream_models import elements3d, feff10, prototypes
from edgestream_models.cache import ARCHIVE_DIR
from edgestream_models.feff10_collect import collect
from edgestream_models.feff10_jobs import (
    OMNIXAS_SITES,
    calibration_jobs,
    displaced_variants,
    jobs_3d,
    omnixas_jobs,
    prototype_jobs,
)


def archive_path(edge: str) -> Path:
    """The committed archive of finished runs of ``edge`` (``pack`` writes it, ``seed``
    reads it), so that a fresh machine need not recompute hours of FEFF10; ``edge`` may be a
    cache set name (``Fe_K``: :func:`feff10.cache_set`)."""
    return ARCHIVE_DIR / f"feff10_{edge}_runs.tar.xz"


def _pack(sets: list[str], out: Path | None, cache: Any) -> int:
    """``pack``: each cache set's finished runs into its archive (``out`` for one set)."""
    for name in sets:
        path = out or archive_path(name)
        n = feff10.pack_entries(name, path, cache)
        print(f"{n} {name} entries -> {path} ({path.stat().st_size / 1e6:.2f} MB)" if n
              else f"no finished {name} runs of today's settings: {path} left as it was")
    return 0


def _seed(sets: list[str], archive: Path | None, cache: Any, named: bool) -> int:
    """``seed``: each cache set's archived runs into the cache where it lacks them; ``named``
    prefixes each result with its set (several elements at once)."""
    for name in sets:
        path = archive or archive_path(name)
        if not path.exists():
            print(f"no archive {path}: every {name} run is computed", file=sys.stderr)
            continue
        result = json.dumps(feff10.seed_entries(path, name, cache))
        print(f"{name} {result}" if named else result)
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for key, err in summary["failures"]:
        print(f"FAILED {key}: {err}")


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
                   help="default: ${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/"
                   "feff10_cu_k.npz (Cu), "
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
        return _pack([args.edge], args.out, args.cache)
    if args.cmd == "seed":
        return _seed([args.edge], args.archive, args.cache, named=False)
    if args.cmd == "collect":
        groups = ("prototype",) if args.no_calibration else (
            "prototype", "calibration", "omnixas")
        out = args.out or cache_root() / "datasets" / "feff10_cu_k.npz"
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
    _print_summary(summary)
    if args.cmd == "calibration":
        for j in jobs:
            print(f"{j.key:40s} {feff10.entry_dir(j, args.cache)}")
    return 0 if not summary["failures"] else 1


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
        return _pack(sets, args.out, args.cache)
    if args.cmd == "seed":
        if args.archive is not None and len(sets) > 1:
            raise SystemExit("--archive names one archive: give one --element")
        return _seed(sets, args.archive, args.cache, named=True)
    if args.cmd == "collect":
        if len(sets) > 1:
            raise SystemExit("collect writes one element's data set: give one --element")
        groups = ("prototype", "omnixas") if args.no_calibration else (
            "prototype", "calibration", "omnixas")
        out = args.out or cache_root() / "datasets" / f"feff10_{elements[0].lower()}_k.npz"
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
    _print_summary(summary)
    return 0 if not summary["failures"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
