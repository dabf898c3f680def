"""FEFF10 runs: one cache folder per input, run in parallel, locked, resumable, and read
back (the cache layout: :mod:`edgestream_models.feff10`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.paths import cache_root as _cache_base
from edgestream_models.feff10.inputs import Job, matches_settings

Runner = Callable[[str, Path], tuple[np.ndarray, np.ndarray]]


def cache_root(root: Path | str | None = None) -> Path:
    """``root`` or ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/feff10`` (not created)."""
    if root is not None:
        return Path(root).expanduser()
    return _cache_base() / "feff10"


def parse_xmu(path: Path | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(energy, energy_rel, mu)`` from a FEFF ``xmu.dat``, all in eV except mu.

    Columns as FEFF writes them: 1 omega, the absolute photon energy; 2 e, relative to the
    Fermi level; 3 k; 4 mu, edge-step normalized; 5 mu0; 6 chi. Fewer than 2 points is a
    ``ValueError``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": below
        data = np.loadtxt(path, comments="#", ndmin=2)
    if data.shape[0] < 2 or data.shape[1] < 4:
        raise ValueError(f"{path}: {data.shape[0]} rows × {data.shape[1]} columns, "
                         "expected ≥2 rows of omega e k mu ...")
    return data[:, 0].copy(), data[:, 1].copy(), data[:, 3].copy()


@contextlib.contextmanager
def _console_to(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 (FEFF's Fortran console output, its stage subprocesses
    included) to ``path`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


def run_feff(inp_text: str, workdir: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Run FEFF10 (``feff10.run``) in ``workdir``; ``(energy, mu)`` of its xmu.dat.

    FEFF's console output goes to ``workdir/feff.log``. Raises ``feff10.FeffError``
    subclasses on parse, validation or stage failures.
    """
    import feff10  # the feff10-rs bindings (top level), not this package

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with _console_to(workdir / "feff.log"):
        feff10.run(inp_text, str(workdir))
    energy, _, mu = parse_xmu(workdir / "xmu.dat")
    return energy, mu


def entry_dir(job: Job, root: Path | str | None = None) -> Path:
    """``<root>/<set>/<hash>`` (``<set>``: :attr:`Job.set`, the edge for Cu)."""
    return cache_root(root) / job.set / job.hash


def entry_state(path: Path) -> str:
    """``"done"`` (meta.json and xmu.dat), ``"failed"`` (error.txt) or ``"pending"``."""
    if (path / "meta.json").exists() and (path / "xmu.dat").exists():
        return "done"
    if (path / "error.txt").exists():
        return "failed"
    return "pending"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("feff10-rs", "pymatgen", "pymatgen-core"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)  # atomic: a killed run never leaves a half-written meta.json


def _take_lock(path: Path) -> bool:
    """Create ``path/.lock`` with our pid; False when another live process holds it."""
    lock = path / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
                return False  # held by a live process
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # stale lock of a killed run
                continue
            except PermissionError:
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def run_job(job: Job, root: Path | str | None = None, runner: Runner | None = None,
            keep_workdir: bool = False) -> dict[str, Any]:
    """Compute one job into its cache folder unless it is done; a status dict.

    ``status``: ``"cached"`` (already done, not recomputed), ``"ok"``, ``"failed"`` (the
    traceback is in ``error.txt``) or ``"busy"`` (another live process holds the lock).
    ``runner(inp_text, workdir) -> (energy, mu)`` defaults to :func:`run_feff` and must leave
    ``xmu.dat`` in ``workdir``.
    """
    runner = runner or run_feff
    path = entry_dir(job, root)
    path.mkdir(parents=True, exist_ok=True)
    out = {"key": job.key, "path": str(path), "hash": job.hash}
    if entry_state(path) == "done":
        return out | {"status": "cached"}
    if not _take_lock(path):
        return out | {"status": "busy"}
    work = path / "_work"
    try:
        (path / "error.txt").unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        (path / "feff.inp").write_text(job.inp)
        (path / "POSCAR").write_text(job.poscar)
        t0, c0 = time.perf_counter(), os.times()
        try:
            energy, _mu = runner(job.inp, work)
            shutil.copy2(work / "xmu.dat", path / "xmu.dat")
        except Exception as exc:  # recorded in the cache and reported, never fatal
            with contextlib.suppress(OSError):
                shutil.copy2(work / "feff.log", path / "feff.log")
            (path / "error.txt").write_text(
                f"{job.key}\n{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
            return out | {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            shutil.copy2(work / "feff.log", path / "feff.log")
        c1 = os.times()
        elapsed = time.perf_counter() - t0
        cpu = (c1.children_user + c1.children_system + c1.user + c1.system
               - c0.children_user - c0.children_system - c0.user - c0.system)
        meta = {"key": job.key, "hash": job.hash, "edge": job.edge,
                "site_index": job.site_index, "labels": job.labels,
                "feff": job.feff | {"versions": _versions()},
                "n_points": len(energy), "elapsed_s": round(elapsed, 2),
                "cpu_s": round(cpu, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _write_json(path / "meta.json", meta)
        return out | {"status": "ok", "elapsed_s": elapsed, "cpu_s": cpu}
    finally:
        if not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
        (path / ".lock").unlink(missing_ok=True)


def refresh_labels(job: Job, root: Path | str | None = None) -> bool:
    """Rewrite a finished entry's labels when the job's differ (labels are not part of the
    input, so a relabelling never reruns FEFF). True when rewritten."""
    path = entry_dir(job, root) / "meta.json"
    meta = json.loads(path.read_text())
    if meta.get("labels") == job.labels and meta.get("key") == job.key:
        return False
    _write_json(path, meta | {"labels": job.labels, "key": job.key})
    return True


def _nice_worker() -> None:
    """Pool initializer: workers quietly ignore Ctrl-C (the parent stops them)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_jobs(jobs: Iterable[Job], workers: int = 2, root: Path | str | None = None,
             runner: Runner | None = None, retry_failed: bool = False,
             progress: bool = True, desc: str = "feff10", log_each: bool = False
             ) -> dict[str, Any]:
    """Run the jobs not yet in the cache on ``workers`` processes (1: in this process).

    Done entries are skipped (resumable); failed ones too unless ``retry_failed``. Returns
    counts by status, the failures (key, error) and the mean wall/CPU seconds of new runs.
    A tqdm bar shows progress and the ETA; ``log_each`` adds one line per finished job
    (time, status, key, wall and CPU seconds), for a log that a person reads hours later.
    """
    from tqdm import tqdm

    jobs = list({(j.set, j.hash): j for j in jobs}.values())  # one run per distinct input
    counts = {"cached": 0, "ok": 0, "failed": 0, "busy": 0, "skipped_failed": 0}
    todo = []
    for job in jobs:
        state = entry_state(entry_dir(job, root))
        if state == "done":
            counts["cached"] += 1
            refresh_labels(job, root)
        elif state == "failed" and not retry_failed:
            counts["skipped_failed"] += 1
        else:
            todo.append(job)
    failures: list[tuple[str, str]] = []
    times: list[tuple[float, float]] = []

    def account(res: dict[str, Any]) -> None:
        counts[res["status"]] += 1
        if res["status"] == "failed":
            failures.append((res["key"], res["error"]))
            tqdm.write(f"FAILED {res['key']}: {res['error']} ({res['path']})")
        elif res["status"] == "ok":
            times.append((res["elapsed_s"], res["cpu_s"]))
        if log_each and res["status"] != "failed":
            took = (f" {res['elapsed_s']:.1f} s wall {res['cpu_s']:.1f} s CPU"
                    if res["status"] == "ok" else "")
            tqdm.write(f"{time.strftime('%H:%M:%S')} {res['status']} {res['key']}{took}",
                       file=sys.stderr)

    bar = tqdm(total=len(todo), desc=desc, disable=not progress, mininterval=2.0,
               smoothing=0.05, file=sys.stderr)
    try:
        if workers <= 1:
            for job in todo:
                account(run_job(job, root, runner))
                bar.update()
        else:
            with ProcessPoolExecutor(workers, initializer=_nice_worker) as pool:
                futures = [pool.submit(run_job, job, root, runner) for job in todo]
                for fut in as_completed(futures):
                    account(fut.result())
                    bar.update()
    finally:
        bar.close()
    mean = np.mean(times, axis=0).round(2).tolist() if times else [None, None]
    return {"jobs": len(jobs), **counts, "failures": failures,
            "mean_elapsed_s": mean[0], "mean_cpu_s": mean[1]}


def iter_entries(edge: str = "K", root: Path | str | None = None, current_only: bool = False
                 ) -> Iterator[tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]]:
    """``(meta, energy, energy_rel, mu)`` of every finished cache entry of ``edge`` (an edge,
    or a set name such as ``Fe_K`` for another absorber: :func:`cache_set`);
    ``current_only``: only those made with today's settings (:func:`matches_settings`), the
    others not even read past their meta.json."""
    base = cache_root(root) / edge
    if not base.is_dir():
        return
    for path in sorted(base.iterdir()):
        if entry_state(path) != "done":
            continue
        meta = json.loads((path / "meta.json").read_text())
        if current_only and not matches_settings(meta, edge):
            continue
        meta["path"] = str(path)
        meta["poscar"] = (path / "POSCAR").read_text()
        yield (meta, *parse_xmu(path / "xmu.dat"))

