"""Decide from the data what the names could not: is an axis an X-ray energy, and which
counters are I0 and It (or If). Pure numpy; the run router calls it at a run's stop.

The rule: among the scalar counters, the ratio that shows the clearest absorption edge at a
tabulated edge inside the scanned range gives μ — the log ratio ln(I0/It) for transmission,
the plain ratio If/I0 for fluorescence. I0 is the beam monitor: it carries (almost) no edge of
its own, while It drops and If rises at the edge, which tells the two geometries apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from edgestream.physics.edges import edge_table

# eV: below this, tabulated values are shallow levels no beamline scans as an edge
MIN_EDGE_EV = 100.0
# An axis is a plausible XAS energy scan when it spans this much (eV) ...
MIN_SPAN_EV, MAX_SPAN_EV = 10.0, 4000.0
# ... and values under this are taken to be keV (no hard X-ray edge lies under 150 eV)
KEV_BELOW = 150.0
# An energy that moves less than this (eV) over a run is a fixed-energy measurement
FIXED_ENERGY_SPAN_EV = 1.0
# Edge-step windows around a tabulated edge (eV): skip the edge region itself, which sits a
# few eV off the tabulated value (chemical shift, mono calibration)
PRE_WINDOW = (-200.0, -12.0)
POST_WINDOW = (20.0, 200.0)
# eV: the tabulated edge must lie this close to the steepest rise of μ (chemical shifts of
# oxides reach ~15 eV above the metal's edge, monochromators are off by a few eV)
EDGE_TOLERANCE_EV = 25.0
# Smallest edge step over point-to-point noise accepted as "an edge"
MIN_EDGE_SNR = 8.0
# A signal channel's own edge (It or If before dividing by I0) over its noise; lenient, as
# the beam's jitter is still in it
MIN_OWN_SNR = 3.0
# I0 may carry at most this fraction of the signal channel's own ln-step at the edge
MAX_MONITOR_STEP = 0.2


@dataclass(frozen=True)
class Inferred:
    """Roles found from the data: ``keys`` maps i0/it/if/ir to counter names."""

    keys: dict[str, str]
    modality: str  # xas_transmission | xas_fluorescence
    edge_ev: float  # the tabulated edge the step was found at
    snr: float


@cache
def _edges() -> np.ndarray:
    energies = {e for edges in edge_table().values() for e in edges.values() if e >= MIN_EDGE_EV}
    return np.array(sorted(energies))


def edges_inside(lo: float, hi: float) -> np.ndarray:
    """Tabulated edges with room for a pre- and a post-edge window inside [lo, hi]."""
    e = _edges()
    return e[(e > lo - PRE_WINDOW[1]) & (e < hi - POST_WINDOW[0])]


def energy_scale_from_values(values: np.ndarray) -> float | None:
    """1 (eV) or 1000 (keV) when unit-less values look like an XAS scan over a tabulated
    edge; None when they do not (a motor position, a count index)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3 or np.any(v <= 0):
        return None
    scale = 1000.0 if v.max() < KEV_BELOW else 1.0
    lo, hi = v.min() * scale, v.max() * scale
    if not MIN_SPAN_EV <= hi - lo <= MAX_SPAN_EV or hi < MIN_EDGE_EV:
        return None
    return scale if edges_inside(lo, hi).size else None


def noise(y: np.ndarray) -> float:
    """Point-to-point noise: robust spread of second differences (white noise: 6 σ²)."""
    if y.size < 5:
        return float("inf")
    d2 = np.diff(y, 2)
    mad = float(np.median(np.abs(d2 - np.median(d2)))) * 1.4826 / np.sqrt(6.0)
    return max(mad, 1e-9 * float(np.median(np.abs(y))) + 1e-15)


def steps(energy: np.ndarray, y: np.ndarray, edges: np.ndarray,
          residuals: np.ndarray | None = None) -> np.ndarray:
    """Edge step of ``y`` at each edge: post-edge line minus pre-edge line, both at the
    edge; NaN where a window has fewer than three points. ``residuals``, when given,
    receives the RMS scatter of the pre-edge points about their line (drift and noise)."""
    out = np.full(edges.size, np.nan)
    for i, e in enumerate(edges):
        rel = energy - e
        pre = (rel >= PRE_WINDOW[0]) & (rel <= PRE_WINDOW[1])
        post = (rel >= POST_WINDOW[0]) & (rel <= POST_WINDOW[1])
        if pre.sum() < 3 or post.sum() < 3:
            continue
        at_pre, scatter = _line_at(rel[pre], y[pre])
        out[i] = _line_at(rel[post], y[post])[0] - at_pre
        if residuals is not None:
            residuals[i] = scatter
    return out


def _line_at(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Value at x = 0 of the least-squares line through (x, y), and the RMS residual."""
    if np.ptp(x) == 0:
        return float(np.mean(y)), float(np.std(y))
    coef = np.polyfit(x, y, 1)
    return float(coef[1]), float(np.sqrt(np.mean((y - np.polyval(coef, x)) ** 2)))


def _usable(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counters that can be intensities: finite, positive, not constant (dead channels)."""
    out = {}
    for key, col in columns.items():
        col = np.asarray(col, dtype=float)
        if col.ndim != 1 or not np.all(np.isfinite(col)) or np.any(col <= 0):
            continue
        if np.unique(col).size < 3 or np.std(col) <= 1e-9 * abs(np.mean(col)):
            continue
        out[key] = col
    return out


def infer_channels(energy: np.ndarray, columns: Mapping[str, np.ndarray]) -> Inferred | None:
    """I0 and It or If (and a reference chamber Ir) from the counters' data.

    ``energy`` is ascending and unique (eV); ``columns`` hold one value per energy. Returns
    None when no ratio shows an edge at a tabulated edge (then the names must be given).
    """
    edges = edges_inside(float(energy[0]), float(energy[-1])) if energy.size else np.empty(0)
    counters = _usable(columns)
    if edges.size == 0 or len(counters) < 2:
        return None
    logs = {k: np.log(c) for k, c in counters.items()}
    own = _OwnSteps(energy, logs, edges)
    # Only a counter with an edge of its own can be the signal (It drops, If rises): this
    # keeps the pair search short on beamlines that record many counters
    drops = {k for k in counters if _edge_snr(energy, -logs[k], edges)[0] >= MIN_OWN_SNR}
    rises = {k for k in counters if _edge_snr(energy, logs[k], edges)[0] >= MIN_OWN_SNR}
    best: tuple[float, str, str, str, int] | None = None  # (snr, modality, a, b, edge index)
    for a in counters:
        for b in counters:
            if a == b:
                continue
            hypotheses = [(m, f, s) for m, f, s, ok in (
                ("xas_transmission", lambda a=a, b=b: logs[a] - logs[b], -1.0, b in drops),
                ("xas_fluorescence", lambda a=a, b=b: counters[b] / counters[a], 1.0,
                 b in rises)) if ok]
            for modality, make_mu, sign in hypotheses:
                mu = make_mu()
                snr, i = _edge_snr(energy, mu, edges)
                if i is None or snr < MIN_EDGE_SNR:
                    continue
                s_a, s_b = own(a, i), own(b, i)
                # the signal channel carries the edge, in its direction; the monitor hardly
                if not (sign * s_b > 0 and abs(s_a) <= MAX_MONITOR_STEP * abs(s_b)):
                    continue
                if best is None or snr > best[0]:
                    best = (snr, modality, a, b, i)
    if best is None:
        return None
    snr, modality, i0, sig, i = best
    if modality == "xas_fluorescence":
        return Inferred({"i0": i0, "if": sig}, modality, float(edges[i]), snr)
    keys = _transmission_chain(energy, logs, own, i0, sig, edges, i)
    return Inferred(keys, modality, float(edges[i]), snr)


def _edge_snr(energy: np.ndarray, mu: np.ndarray, edges: np.ndarray) -> tuple[float, int | None]:
    """Largest positive edge step over noise among the tabulated edges, and its index.

    The noise is the larger of the point-to-point noise and the pre-edge scatter about a
    line: a monitor that does not follow the beam (drift, top-up) leaves the latter in μ.
    """
    if edges.size == 0:
        return 0.0, None
    distance = np.abs(edges - steepest_rise(energy, mu))
    if not np.nanmin(distance, initial=np.inf) <= EDGE_TOLERANCE_EV:
        return 0.0, None
    i = int(np.nanargmin(distance))  # the tabulated edge nearest to the measured rise
    scatter = np.zeros(1)
    s = float(steps(energy, mu, edges[i:i + 1], scatter)[0]) / max(noise(mu), scatter[0])
    return (s, i) if np.isfinite(s) else (0.0, None)


def steepest_rise(energy: np.ndarray, mu: np.ndarray) -> float:
    """Energy (eV) of the steepest rise of μ, on a 1 eV grid smoothed over 3 eV so that
    closely spaced noisy points (fly scans) do not win."""
    if energy.size < 3 or np.ptp(energy) < 3.0:
        return float("nan")
    grid = np.arange(energy[0], energy[-1], 1.0)
    y = np.convolve(np.interp(grid, energy, mu), np.ones(3) / 3.0, mode="valid")
    if y.size < 2:
        return float("nan")
    return float(grid[1:-1][int(np.argmax(np.gradient(y)))])


class _OwnSteps:
    """Each counter's own ln-step at an edge, computed when first asked."""

    def __init__(self, energy: np.ndarray, logs: Mapping[str, np.ndarray], edges: np.ndarray
                 ) -> None:
        self.energy, self.logs, self.edges = energy, logs, edges
        self.cache: dict[tuple[str, int], float] = {}

    def __call__(self, key: str, i: int) -> float:
        if (key, i) not in self.cache:
            self.cache[key, i] = float(steps(self.energy, self.logs[key],
                                             self.edges[i:i + 1])[0])
        return self.cache[key, i]


def _transmission_chain(
    energy: np.ndarray, logs: Mapping[str, np.ndarray], own: _OwnSteps,
    i0: str, sig: str, edges: np.ndarray, i: int,
) -> dict[str, str]:
    """I0 → It → Ir: the counter that drops least at the edge is It, one that drops more
    behind it (a reference foil) is Ir."""
    drops = {k: -own(k, i) for k in logs if k != i0 and np.isfinite(own(k, i))}
    chain = sorted((k for k, d in drops.items() if d > 0 and _clear(
        energy, logs[i0] - logs[k], edges, edges[i])), key=drops.get)
    if sig not in chain:
        chain = [sig]
    it = chain[0]
    keys = {"i0": i0, "it": it}
    for k in chain[1:]:
        if _clear(energy, logs[it] - logs[k], edges, edges[i]):
            keys["ir"] = k
            break
    return keys


def _clear(energy: np.ndarray, mu: np.ndarray, edges: np.ndarray, near_ev: float) -> bool:
    """μ shows a clear edge of its own, at (about) the same place as the sample's."""
    snr, i = _edge_snr(energy, mu, edges)
    return i is not None and snr >= MIN_EDGE_SNR and \
        abs(edges[i] - near_ev) <= 2 * EDGE_TOLERANCE_EV
