"""Run the multiplet grid: one exact diagonalization per parameter set, cached, in parallel,
resumable, with progress; pack the cache into the committed archive and seed a fresh cache
from it.

    nice -n 19 python -m edgestream_models.multiplets.generate run --workers 1
    python -m edgestream_models.multiplets.generate pack       # -> data/multiplets_cu_l23.tar.xz
    python -m edgestream_models.multiplets.generate status
    nice -n 19 python -m edgestream_models.multiplets.generate run --element Mn   # Mn, Fe, Co, Ni

Cache: ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/multiplets/<Params.key()>.npz`` (Cu;
``multiplets_<El>/`` for the other elements, archived as ``multiplets_<el>_l23.tar.xz``) with the
parameters, the sticks (``solve.Sticks``) and the seconds the diagonalization took. A file
appears whole (written aside, then renamed), so an interrupted run resumes with the sets
that have none.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from edgestream_models.cache import ARCHIVE_DIR, cache_dir
from edgestream_models.multiplets.grid import CONFIGS, ELEMENT_CONFIGS, Params, default_grid
from edgestream_models.multiplets.solve import Sticks, solve

ARCHIVE = ARCHIVE_DIR / "multiplets_cu_l23.tar.xz"


def archive(element: str = "Cu") -> Path:
    """The committed archive of one element's entries."""
    return ARCHIVE if element == "Cu" else ARCHIVE_DIR / f"multiplets_{element.lower()}_l23.tar.xz"


def grid_of(element: str = "Cu", charge_transfer: bool = True) -> list[Params]:
    """The shipped parameter sets of one element."""
    if element == "Cu":
        return default_grid(charge_transfer)
    from edgestream_models.multiplets.elements import element_grid

    return element_grid(element)


def folder(cache: Path | None = None, element: str = "Cu") -> Path:
    """Where the entries of ``element`` live (created): ``cache`` itself for Cu, its
    ``<El>`` subfolder for the others."""
    name = "multiplets" if element == "Cu" else f"multiplets_{element}"
    if cache is None:
        return cache_dir(name)
    out = cache if element == "Cu" else cache / element
    out.mkdir(parents=True, exist_ok=True)
    return out


def entry_path(p: Params, cache: Path | None = None) -> Path:
    return folder(cache, p.element) / f"{p.key()}.npz"


def write_entry(path: Path, p: Params, s: Sticks) -> None:
    """One entry, whole or not at all."""
    buf = io.BytesIO()
    np.savez_compressed(buf, params=np.array(json.dumps(p.as_dict())), initial=s.initial,
                        energy=s.energy, weight=s.weight, seconds=np.float64(s.seconds))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def read_entry(path: Path) -> tuple[Params, Sticks]:
    with np.load(path) as z:
        p = Params(**json.loads(str(z["params"])))
        return p, Sticks(z["initial"], z["energy"], z["weight"], float(z["seconds"]))


def _run_one(args: tuple[Params, str]) -> tuple[str, float]:
    """Worker: diagonalize one set and write its entry; (key, seconds)."""
    p, path = args
    s = solve(p)
    write_entry(Path(path), p, s)
    return p.key(), s.seconds


def run(sets: Iterable[Params], workers: int = 1, cache: Path | None = None,
        every: int = 20, log=print) -> dict[str, float]:
    """Diagonalize every set without an entry, ``workers`` processes at a time, a progress
    line every ``every`` sets (done, rate, ETA); returns the seconds per set just run."""
    sets = list(dict.fromkeys(sets))
    todo = [p for p in sets if not entry_path(p, cache).exists()]
    where = folder(cache, sets[0].element) if sets else folder(cache)
    log(f"multiplets: {len(sets)} parameter sets, {len(sets) - len(todo)} cached, "
        f"{len(todo)} to run with {workers} worker(s) in {where}")
    seconds: dict[str, float] = {}
    if not todo:
        return seconds
    t0 = time.perf_counter()
    jobs = [(p, str(entry_path(p, cache))) for p in todo]

    def progress(n: int) -> None:
        if n % every and n != len(jobs):
            return
        wall = time.perf_counter() - t0
        eta = wall / n * (len(jobs) - n)
        log(f"multiplets: {n}/{len(jobs)} done, {wall / n:.2f} s wall per set, "
            f"{np.mean(list(seconds.values())):.2f} s per diagonalization, ETA {eta:.0f} s")

    if workers <= 1:
        for n, job in enumerate(jobs, 1):
            key, sec = _run_one(job)
            seconds[key] = sec
            progress(n)
        return seconds
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_run_one, job) for job in jobs]
        for n, fut in enumerate(as_completed(futures), 1):
            key, sec = fut.result()
            seconds[key] = sec
            progress(n)
    return seconds


def load(sets: Iterable[Params] | None = None, cache: Path | None = None,
         element: str = "Cu") -> list[tuple[Params, Sticks]]:
    """The cached entries of ``sets`` (default: the whole grid of ``element``) that exist,
    in order."""
    sets = grid_of(element) if sets is None else list(sets)
    out = []
    for p in sets:
        path = entry_path(p, cache)
        if path.exists():
            out.append(read_entry(path))
    return out


def pack(cache: Path | None = None, out: Path | None = None,
         element: str = "Cu") -> dict[str, int]:
    """Every entry of one element's cache into one tar.xz (sorted names, zeroed times:
    reproducible)."""
    out = archive(element) if out is None else out
    files = sorted(folder(cache, element).glob("*.npz"))
    with tarfile.open(out, "w:xz", preset=9) as tar:
        for f in files:
            data = _archived(f)
            info = tarfile.TarInfo(f.name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return {"entries": len(files), "bytes": out.stat().st_size}


# sticks weaker than this part of the strongest are below any broadened spectrum's noise
ARCHIVE_WEIGHT_FLOOR = 1e-6


def _archived(path: Path) -> bytes:
    """An entry as archived: energies and weights in float32, weights under
    ``ARCHIVE_WEIGHT_FLOOR`` of the strongest set to 0 (a third of the bytes once compressed;
    spectra change by < 1e-6 of their maximum)."""
    p, s = read_entry(path)
    weight = np.where(s.weight >= ARCHIVE_WEIGHT_FLOOR * s.weight.max(), s.weight, 0.0)
    buf = io.BytesIO()
    np.savez_compressed(buf, params=np.array(json.dumps(p.as_dict())), initial=s.initial,
                        energy=s.energy.astype(np.float32), weight=weight.astype(np.float32),
                        seconds=np.float64(s.seconds))
    return buf.getvalue()


def seed(cache: Path | None = None, source: Path | None = None, element: str = "Cu") -> int:
    """Entries of the archive the cache lacks, copied in; how many."""
    source = archive(element) if source is None else source
    if not source.exists():
        return 0
    dest, n = folder(cache, element), 0
    with tarfile.open(source, "r:xz") as tar:
        for m in tar.getmembers():
            name = Path(m.name).name
            if not m.isfile() or not name.endswith(".npz") or (dest / name).exists():
                continue
            data = tar.extractfile(m).read()
            tmp = dest / f"{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            tmp.replace(dest / name)
            n += 1
    return n


def status(cache: Path | None = None, element: str = "Cu") -> dict[str, object]:
    """Entries per configuration and the diagonalization's seconds (mean, median, max)."""
    entries = load(cache=cache, element=element)
    out: dict[str, object] = {"element": element, "grid": len(grid_of(element)),
                              "cached": len(entries)}
    configs = CONFIGS if element == "Cu" else ELEMENT_CONFIGS[element]
    for c in configs:
        sec = np.array([s.seconds for p, s in entries if p.config == c])
        if len(sec):
            out[c] = {"n": len(sec), "mean_s": round(float(sec.mean()), 3),
                      "median_s": round(float(np.median(sec)), 3),
                      "max_s": round(float(sec.max()), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgestream_models.multiplets.generate",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("run", "pack", "seed", "status"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--every", type=int, default=20, help="a progress line every N sets")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--ionic-only", action="store_true",
                    help="leave out the charge-transfer sets (Cu)")
    ap.add_argument("--element", default="Cu",
                    help="Cu, Mn, Fe, Co, Ni, or 'all' (every one in turn)")
    args = ap.parse_args(argv)
    elements = ("Cu", *ELEMENT_CONFIGS) if args.element == "all" else (args.element,)
    for el in elements:
        if args.what == "run":
            seeded = seed(args.cache, element=el)
            if seeded:
                print(f"multiplets: {seeded} entries seeded from {archive(el).name}")
            run(grid_of(el, not args.ionic_only), args.workers, args.cache, args.every)
            print(json.dumps(status(args.cache, el), indent=1))
        elif args.what == "pack":
            print(json.dumps(pack(args.cache, element=el)))
        elif args.what == "seed":
            print(json.dumps({"element": el, "seeded": seed(args.cache, element=el)}))
        else:
            print(json.dumps(status(args.cache, el), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
