"""FEFF10 XANES of absorbing sites: input, cached and resumable runs in parallel, xmu.dat.

Settings (``../shared/notes/feff-torch-models.md``): pymatgen ``MPXANESSet`` with cluster
radius ``radius`` (6.0 Å), ``FMS <fms> 0`` (5.0 Å), ``XANES 4 0.04 0.1`` and two cards of
that set removed from the written ``feff.inp`` (``DROPPED_CARDS``):

- ``SCF``: pymatgen's (4.5 Å) is replaced by ``K_SCF_RADIUS`` / ``L_SCF_RADIUS`` (3.5 Å; the
  note: 670 s with pymatgen's defaults); with ``scf=None`` the line is dropped, because
  ``"SCF": None`` writes ``SCF None``, which feff10 rejects;
- ``LDOS``: the l-projected DOS is not part of xmu.dat but costs as much as the FMS step
  (Cu fcc: ldos 41 s of 95 s). Checked: Cu fcc xmu.dat with and without it is bit-identical.

Absorbers: Cu by default; any element with ``absorber=`` (the 3d K-edge runs, Ti...Zn, with
the Cu K settings). Cu runs are cached under ``<edge>``, the others under ``<Element>_<edge>``
(:func:`cache_set`: ``Fe_K``), so the Cu K archive, data set and calibration never see them
and the Cu input texts, hashes and folders are what they always were.

Cache: one folder per input text, ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/feff10/<set>/
<hash>/`` with ``feff.inp``, ``POSCAR``, ``xmu.dat``, ``feff.log`` (FEFF's console output) and
``meta.json`` (key, labels, site index, FEFF parameters and versions, wall and CPU seconds),
written last; a failed run leaves ``error.txt`` instead. ``<hash>`` is the first 16 hex digits
of the SHA-256 of the input text, so the same structure, site and settings always land in the
same folder and a killed run resumes by skipping folders that have ``meta.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RADIUS = 6.0            # Å, cluster radius (ATOMS card)
FMS_RADIUS = 5.0        # Å, full multiple scattering radius
XANES = "4 0.04 0.1"    # kmax (1/Å), dk (1/Å) near the edge, dE (eV) above
# Cu L2,3: the 925-970 eV window needs ~+40 eV above the edge (k = 3.2/Å), and the white
# line is set by the first two shells, so a smaller FMS sphere and k range halve the cost
# (CuO mp-1692 L3: 10.5 s at 5.0 Å / k 4, 4.9 s at 4.0 Å / k 3.5). Self-consistent
# potentials over a small sphere are kept: without them FEFF places the Fermi level so that
# CuO and Cu2O show no L3 white line and the oxides' valences look alike (measured: Cu(I),
# Cu(II), Cu(III) class means within the within-class spread); with SCF 3.5 Å CuO has its
# sharp L3 line, Cu2O a weaker one, Cu metal none, for ~2x the cost (9-13 s per site).
# Core hole for the L edges: none (ground-state final state). Measured on Cu fcc, Cu2O
# (mp-361), CuO (mp-1692), KCuO2 (mp-3982) with SCF 3.5 Å: L3 white line over the step at +30
# eV is 1.4 / 3.5 / 6.1 / 13.7 without a core hole, rising with the 3d-hole count as measured
# L3 lines do; pymatgen's default (FSR, full core hole) gives 1.1 / 1.2 / 1.1 / 1.4 and RPA
# 1.1 / 1.4 / 1.2 / 8.3, so Cu(I) and Cu(II) overlapped. Without SCF no core-hole setting
# gives white lines (1.2-2.2 all). Same cost as FSR.
L_FMS_RADIUS = 4.5
L_XANES = "3.5 0.05 0.1"
L_SCF_RADIUS = 3.5
L_COREHOLE = "NONE"
# Cu K: SCF over 3.5 Å (15-45 CPU-s per site; 12 without). Measured 2026-12-03 against the
# measured standards: the shifts that align FEFF10 Cu fcc / Cu2O / CuO are -4.4 / -0.2 / +2.5 eV
# without SCF (the valence order of the edges lost, Cu metal without its 8979-8981 eV shoulder;
# RMS residual 0.14 / 0.22 / 0.18; the valence model then read measured foils 1.06) and
# -7.0 / -6.4 / -4.5 eV with SCF 3.5 Å (0.09 / 0.12 / 0.10; foils read 0.1-0.2). FMS 6 Å or SCF
# 4.5 Å changed nothing. Runs with other settings stay cached but out of the data set
# (``settings``, ``matches_settings``).
K_SCF_RADIUS: float | None = 3.5
DROPPED_CARDS = ("SCF", "LDOS")
EDGES = ("K", "L3", "L2", "L1")
DEFAULT_ABSORBER = "Cu"
Runner = Callable[[str, Path], tuple[np.ndarray, np.ndarray]]


def cache_root(root: Path | str | None = None) -> Path:
    """``root`` or ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/feff10`` (not created)."""
    if root is not None:
        return Path(root).expanduser()
    base = Path(os.environ.get("EDGESTREAM_CACHE", Path.home() / ".cache" / "edgestream"))
    return base.expanduser() / "feff10"


def cache_set(edge: str, absorber: str = DEFAULT_ABSORBER) -> str:
    """The cache folder (and archive) name of ``absorber``'s ``edge`` runs: ``edge`` for Cu
    (the folders the Cu runs always had), ``<Element>_<edge>`` otherwise (``Fe_K``)."""
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, got {edge!r}")
    return edge if absorber == DEFAULT_ABSORBER else f"{absorber}_{edge}"


def set_edge(name: str) -> str:
    """The edge of a cache set name (``"Fe_K"`` -> ``"K"``, ``"L3"`` -> ``"L3"``)."""
    edge = name.rsplit("_", 1)[-1]
    if edge not in EDGES:
        raise ValueError(f"{name!r} is not an edge or <Element>_<edge> (edges: {EDGES})")
    return edge


def feff_input(structure: Any, site_index: int, edge: str = "K", radius: float = RADIUS,
               fms: float = FMS_RADIUS, xanes: str = XANES,
               drop: Iterable[str] = DROPPED_CARDS, scf: float | None = None,
               corehole: str | None = None, absorber: str = DEFAULT_ABSORBER) -> str:
    """The ``feff.inp`` text for absorbing site ``site_index`` of a pymatgen ``Structure``.

    ``radius``: cluster radius in Å; ``fms``: FMS radius in Å; ``xanes``: the XANES card;
    ``drop``: cards removed from the text (default: SCF and LDOS, see module docstring);
    ``scf``: a radius (Å) writes ``SCF <scf> 0 30 0.2 1`` instead (self-consistent potentials);
    ``corehole``: ``COREHOLE`` card value (``None``: pymatgen's, ``FSR``);
    ``absorber``: the element the site must be (a guard against a wrong index).
    """
    import tempfile

    from pymatgen.io.feff.sets import MPXANESSet

    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, got {edge!r}")
    if structure[site_index].specie.symbol != absorber:
        raise ValueError(f"site {site_index} is {structure[site_index].specie}, "
                         f"not {absorber}")
    tags = {"FMS": f"{fms:.1f} 0", "XANES": xanes}
    if corehole is not None:
        tags["COREHOLE"] = corehole
    feff_set = MPXANESSet(site_index, structure, edge=edge, radius=radius,
                          user_tag_settings=tags)
    with tempfile.TemporaryDirectory(prefix="feffinp-") as tmp:
        feff_set.write_input(tmp)
        text = Path(tmp, "feff.inp").read_text()
    dropped = tuple(d.upper() for d in drop) + (("SCF",) if scf is not None else ())
    lines = [ln.rstrip() for ln in text.splitlines()
             if not (ln.split() and ln.split()[0].upper() in dropped)]
    if scf is not None:
        lines.insert(1, f"SCF {scf:.1f} 0 30 0.2 1")
    return "\n".join(lines) + "\n"


def input_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of an input text (line endings normalized)."""
    norm = "\n".join(ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n"))
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


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
    import feff10

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with _console_to(workdir / "feff.log"):
        feff10.run(inp_text, str(workdir))
    energy, _, mu = parse_xmu(workdir / "xmu.dat")
    return energy, mu


# ----------------------------------------------------------------------------- jobs + cache

@dataclass
class Job:
    """One absorbing site: ``key`` names it (``prototype/variant/label-index``)."""

    key: str
    edge: str
    inp: str
    poscar: str
    site_index: int
    labels: dict[str, Any] = field(default_factory=dict)
    feff: dict[str, Any] = field(default_factory=dict)
    absorber: str = DEFAULT_ABSORBER

    @property
    def hash(self) -> str:
        return input_hash(self.inp)

    @property
    def set(self) -> str:
        """The cache folder name (:func:`cache_set`)."""
        return cache_set(self.edge, self.absorber)


def make_job(structure: Any, site_index: int, key: str, labels: dict[str, Any] | None = None,
             edge: str = "K", radius: float = RADIUS, fms: float | None = None,
             xanes: str | None = None, scf: float | str | None = "default",
             corehole: str | None = "default", absorber: str = DEFAULT_ABSORBER) -> Job:
    """A :class:`Job` with its input text and POSCAR built from ``structure``.

    ``fms``/``xanes``/``scf``/``corehole`` default to ``FMS_RADIUS``/``XANES``/no SCF/
    pymatgen's core hole for the K edge and to ``L_FMS_RADIUS``/``L_XANES``/``L_SCF_RADIUS``/
    ``L_COREHOLE`` for the L edges, whatever the ``absorber`` (same card settings for every
    element, so that the per-element energy offset is fitted the same way for each).
    """
    from pymatgen.io.vasp import Poscar

    l_edge = edge.startswith("L")
    fms = fms if fms is not None else (L_FMS_RADIUS if l_edge else FMS_RADIUS)
    xanes = xanes if xanes is not None else (L_XANES if l_edge else XANES)
    if scf == "default":
        scf = L_SCF_RADIUS if l_edge else K_SCF_RADIUS
    if corehole == "default":
        corehole = L_COREHOLE if l_edge else None
    inp = feff_input(structure, site_index, edge=edge, radius=radius, fms=fms, xanes=xanes,
                     scf=scf, corehole=corehole, absorber=absorber)
    dropped = [c for c in DROPPED_CARDS if not (c == "SCF" and scf is not None)]
    params = {"set": "MPXANESSet", "edge": edge, "radius": radius, "fms": fms,
              "xanes": xanes, "scf": scf, "corehole": corehole or "FSR",
              "dropped_cards": dropped}
    # the absorber is recorded only off Cu, so a Cu job's parameters (and meta.json) are
    # exactly what they were before other absorbers existed
    if absorber != DEFAULT_ABSORBER:
        params["absorber"] = absorber
    return Job(key=key, edge=edge, inp=inp, poscar=Poscar(structure).get_str(),
               site_index=site_index, labels=dict(labels or {}), feff=params,
               absorber=absorber)


def settings(edge: str) -> dict[str, Any]:
    """The FEFF parameters (as recorded in ``meta.json``) that today's jobs of ``edge`` use
    (an edge or a cache set name: ``Fe_K`` has the K settings)."""
    edge = set_edge(edge)
    if edge.startswith("L"):
        return {"fms": L_FMS_RADIUS, "xanes": L_XANES, "scf": L_SCF_RADIUS,
                "corehole": L_COREHOLE}
    return {"fms": FMS_RADIUS, "xanes": XANES, "scf": K_SCF_RADIUS, "corehole": "FSR"}


def matches_settings(meta: dict[str, Any], edge: str) -> bool:
    """True when a cache entry ran with today's :func:`settings`; runs with other settings
    stay in the cache but are not mixed into a data set (entries from before the core-hole
    setting was recorded ran with FSR, pymatgen's default)."""
    recorded = meta.get("feff", {})
    return all(recorded.get(k, "FSR" if k == "corehole" else None) == v
               for k, v in settings(edge).items())


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


# Files of a finished entry worth keeping: FEFF's input is rebuilt from POSCAR and settings,
# its console log only explains failures.
ARCHIVED_FILES = ("meta.json", "POSCAR", "xmu.dat", "labels.json")
# A FEFF stage that crashed on this input (e.g. xsph exit 29 on ~16 % of OmniXAS sites for
# L3) crashes again on the same input, which the folder's hash fixes: archived as error.txt
# so that a fresh machine does not spend ~35 CPU-s per such site to learn it again
# (``--retry-failed`` still recomputes them, e.g. after a feff10-rs upgrade). Other failures
# (a killed worker, a full disk) are not archived.
DETERMINISTIC_FAILURE = "FeffPipelineError"


def _archived_failure(path: Path) -> bool:
    error = path / "error.txt"
    return (entry_state(path) == "failed" and (path / "POSCAR").exists()
            and DETERMINISTIC_FAILURE in error.read_text(errors="replace"))


def pack_entries(edge: str, out: Path | str, root: Path | str | None = None) -> int:
    """Write the finished entries of ``edge`` (or set, ``Fe_K``) made with today's settings
    to a tar.xz.

    Byte-reproducible (sorted names, zero times and owners), so re-packing an unchanged
    cache changes nothing in git. Deterministic FEFF failures go in too (POSCAR and
    error.txt, ``DETERMINISTIC_FAILURE``). Returns the number of finished entries packed;
    with none, ``out`` is left as it was.
    """
    import io
    import tarfile

    base = cache_root(root) / edge
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    n = 0
    with tarfile.open(tmp, "w:xz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            failed = _archived_failure(path)
            if not failed and entry_state(path) != "done":
                continue
            if not failed and not matches_settings(
                    json.loads((path / "meta.json").read_text()), edge):
                continue
            for name in ("POSCAR", "error.txt") if failed else ARCHIVED_FILES:
                if not (path / name).exists():
                    continue
                data = (path / name).read_bytes()
                info = tarfile.TarInfo(f"{path.name}/{name}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
            n += not failed
    if n:
        tmp.replace(out)
    else:  # an empty cache must not replace a committed archive
        tmp.unlink()
    return n


def seed_entries(archive: Path | str, edge: str, root: Path | str | None = None) -> dict[str, int]:
    """Put the archive's entries into the cache where the cache lacks them.

    An entry already done in the cache is left alone; members that are not plain files named
    ``<16 hex digits>/<one of ARCHIVED_FILES or error.txt>`` are refused. ``{"seeded",
    "present", "failed"}`` (failed: archived deterministic failures put in as failed
    entries, which ``run_jobs`` skips unless ``retry_failed``).
    """
    import re
    import tarfile

    base = cache_root(root) / edge
    names = (*ARCHIVED_FILES, "error.txt")
    valid = re.compile(r"^[0-9a-f]{16}/(" + "|".join(map(re.escape, names)) + r")$")
    seeded, present = set(), set()
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if not (member.isfile() and valid.match(member.name)):
                raise ValueError(f"{archive}: unexpected member {member.name!r}")
            entry, name = member.name.split("/")
            path = base / entry
            if entry in present or (entry not in seeded and entry_state(path) == "done"):
                present.add(entry)
                continue
            path.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            # meta.json last in the archive's order is not guaranteed: write it atomically
            # and only after the spectrum, so a killed seed never leaves a "done" half-entry
            target = path / (name + ".part" if name == "meta.json" else name)
            target.write_bytes(data)
            seeded.add(entry)
    failed = 0
    for entry in seeded:
        part = base / entry / "meta.json.part"
        if part.exists() and (base / entry / "xmu.dat").exists():
            part.replace(base / entry / "meta.json")
        failed += entry_state(base / entry) == "failed"
    return {"seeded": len(seeded) - failed, "present": len(present), "failed": failed}
