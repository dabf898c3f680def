"""Run the multiplet grid: one exact diagonalization per parameter set, cached, in parallel,
resumable, with progress; pack the cache into the committed archive and seed a fresh cache
from it.

    nice -n 19 python -m edgestream_models.multiplets.generate run --workers 1
    python -m edgestream_models.multiplets.generate pack       # -> data/multiplets_cu_l23.tar.xz
    python -m edgestream_models.multiplets.generate status

Cache: ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/multiplets/<Params.key()>.npz`` with the
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
from edgestream_models.multiplets.grid import CONFIGS, Params, default_grid
from edgestream_models.multiplets.solve import Sticks, solve

ARCHIVE = ARCHIVE_DIR / "multiplets_cu_l23.tar.xz"


def folder(cache: Path | None = None) -> Path:
    """Where the entries live (created)."""
    if cache is None:
        return cache_dir("multiplets")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def entry_path(p: Params, cache: Path | None = None) -> Path:
    return folder(cache) / f"{p.key()}.npz"


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
    log(f"multiplets: {len(sets)} parameter sets, {len(sets) - len(todo)} cached, "
        f"{len(todo)} to run with {workers} worker(s) in {folder(cache)}")
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
         ) -> list[tuple[Params, Sticks]]:
    """The cached entries of ``sets`` (default: the whole grid) that exist, in order."""
    sets = default_grid() if sets is None else list(sets)
    out = []
    for p in sets:
        path = entry_path(p, cache)
        if path.exists():
            out.append(read_entry(path))
    return out


def pack(cache: Path | None = None, out: Path = ARCHIVE) -> dict[str, int]:
    """Every entry of the cache into one tar.xz (sorted names, zeroed times: reproducible)."""
    files = sorted(folder(cache).glob("*.npz"))
    with tarfile.open(out, "w:xz", preset=9) as tar:
        for f in files:
            info = tar.gettarinfo(str(f), arcname=f.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with f.open("rb") as fh:
                tar.addfile(info, fh)
    return {"entries": len(files), "bytes": out.stat().st_size}


def seed(cache: Path | None = None, archive: Path = ARCHIVE) -> int:
    """Entries of the archive the cache lacks, copied in; how many."""
    if not archive.exists():
        return 0
    dest, n = folder(cache), 0
    with tarfile.open(archive, "r:xz") as tar:
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


def status(cache: Path | None = None) -> dict[str, object]:
    """Entries per configuration and the diagonalization's seconds (mean, median, max)."""
    entries = load(cache=cache)
    out: dict[str, object] = {"grid": len(default_grid()), "cached": len(entries)}
    for c in CONFIGS:
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
                    help="leave out the charge-transfer sets")
    args = ap.parse_args(argv)
    if args.what == "run":
        seeded = seed(args.cache)
        if seeded:
            print(f"multiplets: {seeded} entries seeded from {ARCHIVE.name}")
        run(default_grid(not args.ionic_only), args.workers, args.cache, args.every)
        print(json.dumps(status(args.cache), indent=1))
    elif args.what == "pack":
        print(json.dumps(pack(args.cache)))
    elif args.what == "seed":
        print(json.dumps({"seeded": seed(args.cache)}))
    else:
        print(json.dumps(status(args.cache), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
