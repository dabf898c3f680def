"""Simple edge features of normalized spectra: white line and pre-edge centroid.

Inputs are normalized spectra (edge step = 1, pre-edge at 0), e.g. ``pre_edge(...).norm``,
as ``[n_spectra, n_points]`` over a shared ``[n_points]`` or per-spectrum energy axis in eV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgestream.errors import BadSpectrum
from edgestream.physics.grid import as_batch

__all__ = ["EdgeFeatures", "edge_features"]

WHITE_LINE_WINDOW = (0.0, 30.0)  # eV relative to e0
PRE_EDGE_WINDOW = (-15.0, -2.0)  # eV relative to e0
STRONG_FRACTION = 0.9  # a maximum is "strong" at >= 90% of the window's highest value
MIN_PRE_EDGE_HEIGHT = 0.02  # normalized units (2% of the edge step) above the baseline
BASELINE_SPAN = 1.0  # eV at each end of the pre-edge window averaged for the baseline


@dataclass(frozen=True)
class EdgeFeatures:
    """Per-spectrum ``[n]`` features; NaN where a feature is absent.

    ``white_line_energy`` (eV) and ``white_line_height`` (normalized units);
    ``pre_edge_centroid`` (eV) and ``pre_edge_height`` (normalized units above the baseline);
    the windows used, relative to e0 in eV.
    """

    white_line_energy: np.ndarray
    white_line_height: np.ndarray
    pre_edge_centroid: np.ndarray
    pre_edge_height: np.ndarray
    white_line_window: tuple[float, float]
    pre_edge_window: tuple[float, float]


def _white_line(energy: np.ndarray, norm: np.ndarray, inside: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    rows = np.arange(len(norm))
    prev = np.concatenate([np.full((len(norm), 1), -np.inf), norm[:, :-1]], axis=1)
    nxt = np.concatenate([norm[:, 1:], np.full((len(norm), 1), -np.inf)], axis=1)
    # neighbours come from the whole spectrum, so a peak at a window end still counts
    local_max = inside & (norm >= prev) & (norm > nxt)
    top = np.where(inside, norm, -np.inf).max(axis=1, keepdims=True)
    strong = local_max & (norm >= STRONG_FRACTION * top)
    first = np.argmax(strong, axis=1)
    found = strong.any(axis=1)
    return (np.where(found, energy[rows, first], np.nan),
            np.where(found, norm[rows, first], np.nan))


def _end_mean(energy: np.ndarray, norm: np.ndarray, mask: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    count = np.maximum(np.count_nonzero(mask, axis=1), 1)
    return (np.where(mask, energy, 0.0).sum(1) / count, np.where(mask, norm, 0.0).sum(1) / count)


def _pre_edge(energy: np.ndarray, norm: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    inside = (energy >= lo) & (energy <= hi)
    # A straight baseline through the mean points of the window's first and last
    # BASELINE_SPAN eV takes out the edge's rising tail as well as any pre-edge slope.
    e_a, y_a = _end_mean(energy, norm, inside & (energy <= lo + BASELINE_SPAN))
    e_b, y_b = _end_mean(energy, norm, inside & (energy >= hi - BASELINE_SPAN))
    slope = np.divide(y_b - y_a, e_b - e_a, out=np.zeros_like(y_a), where=e_b > e_a)
    baseline = y_a[:, None] + slope[:, None] * (energy - e_a[:, None])
    excess = np.where(inside, norm - baseline, -np.inf)
    height = excess.max(axis=1)
    # centroid of the peak region: points at or above half the peak's height
    weight = np.where(inside & (excess >= 0.5 * height[:, None]), excess, 0.0)
    total = weight.sum(axis=1)
    centroid = np.divide((weight * energy).sum(axis=1), total, out=np.full_like(total, np.nan),
                         where=total > 0)
    # A maximum inside an end span is the baseline's own misfit (the edge's convex tail rises
    # above a straight line there), not a peak.
    peak_energy = energy[np.arange(len(energy)), np.argmax(excess, axis=1)]
    interior = (peak_energy > lo[:, 0] + BASELINE_SPAN) & (peak_energy < hi[:, 0] - BASELINE_SPAN)
    has_peak = interior & (np.count_nonzero(inside, axis=1) >= 3) & (height >= MIN_PRE_EDGE_HEIGHT)
    return np.where(has_peak, centroid, np.nan), np.where(has_peak, height, np.nan)


def edge_features(
    energy: np.ndarray,
    norm: np.ndarray,
    e0: float | np.ndarray,
    white_line_window: tuple[float, float] = WHITE_LINE_WINDOW,
    pre_edge_window: tuple[float, float] = PRE_EDGE_WINDOW,
) -> EdgeFeatures:
    """White-line position and height, and pre-edge peak centroid, of normalized spectra.

    Arguments:
        energy: eV, ``[n_points]`` or ``[n_spectra, n_points]``, ascending.
        norm: normalized mu(E), ``[n_spectra, n_points]``.
        e0: edge energy, eV, scalar or ``[n_spectra]``.
        white_line_window: eV relative to e0; default (0, 30): the first strong maximum
            above the edge, where white lines and the first resonance sit.
        pre_edge_window: eV relative to e0; default (-15, -2): below the main rise, where
            1s->3d (K edges of 3d metals) and similar bound-state peaks sit.

    White line: the first local maximum in the window whose height is at least
    ``STRONG_FRACTION`` (90%) of the window's highest value; NaN if the window holds no local
    maximum (a spectrum still rising at its end). Pre-edge: a straight baseline through the
    window's end points (each averaged over ``BASELINE_SPAN`` = 1 eV) removes the edge's
    tail; the centroid is the excess-weighted mean energy over the points at or above half
    the largest excess. NaN when that excess is below ``MIN_PRE_EDGE_HEIGHT`` (0.02), when it
    lies within ``BASELINE_SPAN`` of either window end (where a steep edge's tail, not a
    peak, rises above the straight baseline), or when the window holds under 3 points. A
    steep edge's tail also bends under the straight baseline, so ``pre_edge_height`` is a
    lower bound of the peak's true height.
    """
    energy, norm = as_batch(energy, norm, what="norm")
    e0 = np.broadcast_to(np.asarray(e0, dtype=float), (len(norm),))[:, None]
    if white_line_window[1] <= white_line_window[0] or pre_edge_window[1] <= pre_edge_window[0]:
        raise ValueError("windows must be (low, high) with low < high")
    wl_inside = (energy >= e0 + white_line_window[0]) & (energy <= e0 + white_line_window[1])
    if not np.all(wl_inside.any(axis=1)):
        raise BadSpectrum("no data in the white-line window", window=white_line_window)
    wl_energy, wl_height = _white_line(energy, norm, wl_inside)
    pe_centroid, pe_height = _pre_edge(
        energy, norm, e0 + pre_edge_window[0], e0 + pre_edge_window[1]
    )
    return EdgeFeatures(
        white_line_energy=wl_energy, white_line_height=wl_height,
        pre_edge_centroid=pe_centroid, pre_edge_height=pe_height,
        white_line_window=tuple(white_line_window), pre_edge_window=tuple(pre_edge_window),
    )
