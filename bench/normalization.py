"""Normalization alone: edgestream's batched ``pre_edge`` vs Larch's ``pre_edge``, same spectra.

The spectra are those the service assembles from the workload's documents (step scans and
fly sweeps, μ = ln(I0/It) on ascending energies). For each length: edgestream's ``pre_edge``
on batches of 1, 32 and 256 spectra, ``normalize_spectra`` (the pipeline's whole
normalization step: pre_edge, edge features, resampling), and Larch's ``pre_edge`` (all
defaults, a Python loop over the spectra). Parity: max |Δe0| and max |Δnorm| over
[e0 - 20, e0 + 80] eV (Larch's e0), as in tests/physics/test_xas_parity.py.
Times are CPU seconds of this process (``time.process_time``) and wall seconds. Both run
under the allocator setting the service makes when it starts (``keep_freed_memory``, called
at import of this module): Larch in this process gets it too.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.documents import Run, encoded
from edgestream.config.settings import Settings
from edgestream.documents.spectrum import RawSpectrum
from edgestream.documents.wire import decode
from edgestream.normalize import keep_freed_memory, normalize_spectra
from edgestream.physics import pre_edge
from edgestream.pipeline import Pipeline

BATCHES = (1, 32, 256)
WINDOW_EV = (-20.0, 80.0)

keep_freed_memory()  # as the service does when it starts


def assembled(runs: list[Run]) -> list[RawSpectrum]:
    """Every spectrum the service's router assembles from these runs (decoded from the wire)."""
    pipeline = Pipeline(Settings())
    out: list[RawSpectrum] = []
    for _, value in encoded(runs):
        out += pipeline.ingest(*decode(value))
    return out


def timed(fn: Callable[[], Any], min_s: float = 0.5, max_reps: int = 1000) -> dict[str, float]:
    """CPU and wall seconds per call, repeated for at least ``min_s`` CPU seconds."""
    fn()  # warm caches
    c0, w0, reps = time.process_time(), time.perf_counter(), 0
    while reps < max_reps and (reps == 0 or time.process_time() - c0 < min_s):
        fn()
        reps += 1
    return {"cpu_s": (time.process_time() - c0) / reps,
            "wall_s": (time.perf_counter() - w0) / reps, "reps": reps}


def larch_available() -> str | None:
    """Larch's version, or None when xraylarch is not installed."""
    try:
        import larch
    except ImportError:
        return None
    return str(getattr(larch, "__version__", "unknown"))


def larch_pre_edge(energy: np.ndarray, mu: np.ndarray) -> tuple[float, np.ndarray]:
    """Larch ``pre_edge`` with all defaults: (e0, norm)."""
    import larch
    from larch.xafs import pre_edge as lpe

    group = larch.Group(energy=energy.copy(), mu=mu.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lpe(group)
    return float(group.e0), np.asarray(group.norm)


def parity(energy: np.ndarray, mu: np.ndarray, ours: Any) -> dict[str, float]:
    """max |Δe0| and max |Δnorm| over [e0-20, e0+80] against Larch, over the rows."""
    de0 = dnorm = 0.0
    for i in range(len(mu)):
        e0, norm = larch_pre_edge(energy[i], mu[i])
        rel = energy[i] - e0
        window = (rel >= WINDOW_EV[0]) & (rel <= WINDOW_EV[1])
        de0 = max(de0, abs(float(ours.e0[i]) - e0))
        dnorm = max(dnorm, float(np.abs(ours.norm[i][window] - norm[window]).max()))
    return {"max_abs_de0_ev": de0, "max_abs_dnorm": dnorm}


def by_length(spectra: list[RawSpectrum]) -> dict[int, list[RawSpectrum]]:
    """Distinct XAS spectra grouped by their number of points."""
    groups: dict[int, list[RawSpectrum]] = defaultdict(list)
    seen: set[bytes] = set()
    for s in spectra:
        if s.modality != "eels" and (key := s.signal.tobytes()) not in seen:
            seen.add(key)
            groups[s.energy.size].append(s)
    return dict(groups)


def normalization(runs: list[Run], larch_spectra: int = 24,
                  progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Per-spectrum times of ours (batched) and Larch's, the speed-up and the parity."""
    version = larch_available()
    results: dict[str, Any] = {"larch_version": version, "lengths": {}}
    for n_points, distinct in by_length(assembled(runs)).items():
        kind = "step" if distinct[0].ids.seq_range[0] != distinct[0].ids.seq_range[1] else "fly"
        progress(f"normalization: {kind} scans, {n_points} points, "
                 f"{len(distinct)} distinct spectra")
        results["lengths"][str(n_points)] = {"kind": kind, "n_points": n_points} | one_length(
            distinct, larch_spectra if version else 0)
    return results


def one_length(distinct: list[RawSpectrum], larch_spectra: int) -> dict[str, Any]:
    """Timings for spectra of one length (cycled to the largest batch), Larch when asked."""
    group = [distinct[i % len(distinct)] for i in range(max(BATCHES))]
    energy = np.stack([s.energy for s in group])
    mu = np.stack([s.signal for s in group])
    row: dict[str, Any] = {"ours": {}}
    for b in BATCHES:
        t = timed(lambda b=b: pre_edge(energy[:b], mu[:b]))
        row["ours"][b] = {"ms_per_spectrum_cpu": 1e3 * t["cpu_s"] / b,
                          "ms_per_spectrum_wall": 1e3 * t["wall_s"] / b}
    grid = Pipeline(Settings()).grid
    t = timed(lambda: normalize_spectra(group, grid))
    row["normalize_spectra_ms_per_spectrum_cpu"] = 1e3 * t["cpu_s"] / len(group)
    if larch_spectra:
        k = min(larch_spectra, len(group))
        t = timed(lambda: [larch_pre_edge(energy[i], mu[i]) for i in range(k)], 1.0, 20)
        larch_ms = 1e3 * t["cpu_s"] / k
        row |= {"larch_ms_per_spectrum_cpu": larch_ms,
                "larch_ms_per_spectrum_wall": 1e3 * t["wall_s"] / k,
                "speedup_batched": larch_ms / row["ours"][max(BATCHES)]["ms_per_spectrum_cpu"],
                "speedup_single": larch_ms / row["ours"][1]["ms_per_spectrum_cpu"]}
        d = len(distinct)
        row["parity"] = parity(energy[:d], mu[:d], pre_edge(energy[:d], mu[:d])) | {
            "distinct_spectra": d}
    return row
