"""EELS core-loss edges: power-law background, edge onset, edge-step normalization.

Energy losses are in eV; counts in any unit (counts per channel). Arrays are batches
``[n_spectra, n_points]`` (one spectrum ``[n_points]`` is a batch of one) over a shared
``[n_points]`` or per-spectrum energy-loss axis, ascending.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgestream.errors import BadSpectrum, TooFewPoints
from edgestream.physics.grid import as_batch

__all__ = [
    "EelsNormalization",
    "PowerLawFit",
    "find_edge_onset",
    "fit_power_law",
    "normalize_eels",
    "subtract_power_law",
]

MIN_FIT_POINTS = 3  # a two-parameter fit needs at least one degree of freedom
PRE_WINDOW = (-50.0, -5.0)  # eV relative to the onset: default background-fit window
POST_WINDOW = (40.0, 60.0)  # eV relative to the onset: default edge-step window
# eV: a pre-edge window narrower than this cannot pin a power law's exponent (over 10 eV at
# 900 eV the background falls ~3 %, within counting noise): a constant is fitted instead
MIN_PRE_WIDTH = 10.0
# Core-loss backgrounds fall as E**-r with r between 2 and 6, about 3 for most edges
# (Egerton, Electron Energy-Loss Spectroscopy in the Electron Microscope, ch. 4): the exponent
# assumed where the pre-edge is too short to fit one
FALLBACK_EXPONENT = 3.0
# eV: the last stretch averaged for the step when POST_WINDOW lies past the spectrum's end
SHORT_POST_WIDTH = 10.0
# A fitted background exponent outside this range is not an inelastic background (measured
# ones lie at about 2-6): a pre-edge already at about zero (a background-subtracted spectrum)
# fits noise, e.g. r = 174 with an infinite amplitude
PLAUSIBLE_EXPONENT = (0.0, 12.0)
FALLBACKS = ("short_pre_edge", "no_pre_edge", "short_post_edge", "lower_envelope")


class _BackgroundAliases:
    """``A`` and ``r``, the names of the background ``A * E**-r`` in the EELS literature."""

    amplitude: np.ndarray
    exponent: np.ndarray

    @property
    def A(self) -> np.ndarray:
        return self.amplitude

    @property
    def r(self) -> np.ndarray:
        return self.exponent


@dataclass(frozen=True)
class PowerLawFit(_BackgroundAliases):
    """Background ``A * E**-r`` per spectrum (``A``/``r`` alias ``amplitude``/``exponent``).

    ``amplitude`` (counts * eV**exponent) and ``exponent`` are ``[n]``; ``window`` is the
    ``[n, 2]`` energy-loss range fitted (eV) and ``n_points`` how many points it used.
    """

    amplitude: np.ndarray
    exponent: np.ndarray
    window: np.ndarray
    n_points: np.ndarray


@dataclass(frozen=True)
class EelsNormalization(_BackgroundAliases):
    """Result of ``normalize_eels``; ``[n]`` per spectrum, ``[n, m]`` per point.

    ``edge_onset`` (eV), ``amplitude`` and ``exponent`` (the background A * E**-r, also as
    ``A`` and ``r``), ``step`` (counts:
    mean background-subtracted signal over ``post_window``), ``background``, ``signal``
    (counts - background), ``norm`` (signal / step), ``pre_window`` and ``post_window``
    (``[n, 2]``, eV, as used).
    """

    edge_onset: np.ndarray
    amplitude: np.ndarray
    exponent: np.ndarray
    step: np.ndarray
    background: np.ndarray
    signal: np.ndarray
    norm: np.ndarray
    pre_window: np.ndarray
    post_window: np.ndarray
    fallback: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


def _windows(window: tuple[float, float] | np.ndarray, n: int) -> np.ndarray:
    window = np.asarray(window, dtype=float)
    if window.shape not in ((2,), (n, 2)) or np.any(window[..., 1] <= window[..., 0]):
        # BadSpectrum is a ValueError: callers that passed a window get what they expect
        raise BadSpectrum(
            f"window must be (low, high) or [n_spectra, 2] with low < high: {window.tolist()}")
    return np.array(np.broadcast_to(window, (n, 2)))


def fit_power_law(
    energy_loss: np.ndarray, counts: np.ndarray, window: tuple[float, float] | np.ndarray
) -> PowerLawFit:
    """Fit ``counts = A * E**-r`` over a pre-edge window by least squares in log-log space.

    Arguments:
        energy_loss: eV, ``[n_points]`` or ``[n_spectra, n_points]``.
        counts: ``[n_spectra, n_points]``.
        window: eV, ``(low, high)`` for all spectra or ``[n_spectra, 2]``; inclusive.

    Points with zero or negative counts (or loss) have no logarithm and are left out; at
    low counts that biases A upwards, so fit where the background is well above zero.
    Raises TooFewPoints when a window holds fewer than 3 usable points.
    """
    energy, counts = as_batch(energy_loss, counts, what="counts")
    win = _windows(window, len(counts))
    use = (energy >= win[:, :1]) & (energy <= win[:, 1:]) & (counts > 0) & (energy > 0)
    n_use = np.count_nonzero(use, axis=1)
    if np.any(n_use < MIN_FIT_POINTS):
        bad = np.nonzero(n_use < MIN_FIT_POINTS)[0]
        raise TooFewPoints(
            f"power-law window holds fewer than {MIN_FIT_POINTS} positive points",
            spectra=bad[:10].tolist(), window=win[bad[0]].tolist(),
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = np.where(use, np.log(energy), 0.0)
        log_c = np.where(use, np.log(counts), 0.0)
    # closed-form straight-line fit per row, centred for accuracy
    mean_e = log_e.sum(axis=1) / n_use
    mean_c = log_c.sum(axis=1) / n_use
    de = np.where(use, log_e - mean_e[:, None], 0.0)
    dc = np.where(use, log_c - mean_c[:, None], 0.0)
    sxx = (de * de).sum(axis=1)
    if np.any(sxx <= 0):
        raise TooFewPoints("power-law window spans a single energy", window=win.tolist())
    slope = (de * dc).sum(axis=1) / sxx
    with np.errstate(over="ignore"):  # an overflow is no background: normalize_eels falls back
        amplitude = np.exp(mean_c - slope * mean_e)
    return PowerLawFit(amplitude=amplitude, exponent=-slope, window=win, n_points=n_use)


def subtract_power_law(
    energy_loss: np.ndarray,
    counts: np.ndarray,
    amplitude: np.ndarray | float,
    exponent: np.ndarray | float,
) -> np.ndarray:
    """``counts - amplitude * E**-exponent`` per spectrum (``amplitude``, ``exponent``: ``[n]``).

    The background is undefined at zero or negative loss: those points come back NaN.
    """
    energy, counts = as_batch(energy_loss, counts, what="counts")
    amplitude = np.broadcast_to(np.asarray(amplitude, dtype=float), (len(counts),))
    exponent = np.broadcast_to(np.asarray(exponent, dtype=float), (len(counts),))
    with np.errstate(divide="ignore", invalid="ignore"):
        background = amplitude[:, None] * np.where(energy > 0, energy, np.nan) ** -exponent[:, None]
    return counts - background


def _boxcar_rows(y: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Moving mean over ``2*half + 1`` points per row (shorter windows at the ends)."""
    n, m = y.shape
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(y, axis=1)], axis=1)
    idx = np.arange(m)
    lo = np.clip(idx - half[:, None], 0, m)
    hi = np.clip(idx + half[:, None] + 1, 0, m)
    return (np.take_along_axis(csum, hi, 1) - np.take_along_axis(csum, lo, 1)) / (hi - lo)


def _lower_envelope(energy: np.ndarray, counts: np.ndarray, upto: np.ndarray,
                    rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows``: the largest amplitude A with A·E^-FALLBACK_EXPONENT under every
    positive-energy point below ``upto`` (0 when a point there is not above zero)."""
    e = np.broadcast_to(energy, counts.shape)[rows]
    c = counts[rows]
    below = (e < upto[rows, None]) & (e > 0)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.where(below, c * np.where(e > 0, e, 1.0) ** FALLBACK_EXPONENT, np.inf)
    return np.clip(scaled.min(axis=1), 0.0, None)


def find_edge_onset(
    energy_loss: np.ndarray,
    counts: np.ndarray,
    expected: float | np.ndarray | None = None,
    search: float = 15.0,
    smooth: float = 2.0,
) -> np.ndarray:
    """Edge onset (eV) per spectrum: where the smoothed counts rise fastest.

    Arguments:
        energy_loss: eV, ``[n_points]`` or ``[n_spectra, n_points]``, strictly increasing.
        counts: ``[n_spectra, n_points]``.
        expected: eV, scalar or per spectrum (e.g. a tabulated edge such as Cu L3, 932.7 eV).
            The maximum is searched within ``expected +- search``. None: over the whole
            spectrum less one smoothing width at each end (a power-law background only
            falls, so the steepest rise is the edge unless a stronger edge is in range).
        search: eV, half-width of the search range around ``expected``. 15 eV covers
            chemical shifts and a miscalibrated dispersion offset.
        smooth: eV, width of the moving mean applied before differentiating; 2 eV averages
            counting noise without moving a Cu L3 edge (white line ~3 eV wide) noticeably.

    Returns ``[n_spectra]`` energies of the maximum of the derivative (a measured point).
    Raises BadSpectrum when the search range holds no point.
    """
    energy, counts = as_batch(energy_loss, counts, what="counts")
    if np.any(np.diff(energy, axis=1) <= 0):
        raise BadSpectrum("energy loss must increase strictly")
    n, m = counts.shape
    if m < MIN_FIT_POINTS:
        raise TooFewPoints(f"{m} points", n_points=m)
    step = np.median(np.diff(energy, axis=1), axis=1)
    half = np.maximum(1, np.round(smooth / (2 * step))).astype(np.intp)
    derivative = np.gradient(_boxcar_rows(counts, half), axis=1) / np.gradient(energy, axis=1)
    if expected is None:
        idx = np.arange(m)
        allowed = (idx >= half[:, None]) & (idx < m - half[:, None])
    else:
        centre = np.broadcast_to(np.asarray(expected, dtype=float), (n,))[:, None]
        allowed = np.abs(energy - centre) <= search
    if not np.all(allowed.any(axis=1)):
        raise BadSpectrum("no data in the edge-onset search range", expected=expected)
    best = np.argmax(np.where(allowed, derivative, -np.inf), axis=1)
    return energy[np.arange(n), best]


def normalize_eels(
    energy_loss: np.ndarray,
    counts: np.ndarray,
    edge_onset: float | np.ndarray,
    pre_window: tuple[float, float] | np.ndarray | None = None,
    post_window: tuple[float, float] | np.ndarray | None = None,
) -> EelsNormalization:
    """Subtract a power-law background and divide by the edge step.

    Arguments:
        energy_loss: eV, ``[n_points]`` or ``[n_spectra, n_points]``.
        counts: ``[n_spectra, n_points]``.
        edge_onset: eV, scalar or per spectrum (``find_edge_onset``, or a tabulated edge).
        pre_window: eV, absolute ``(low, high)`` or ``[n, 2]``: background-fit range.
            None: ``onset + PRE_WINDOW`` = (onset - 50, onset - 5): ends clear of the edge's
            rise, wide enough to pin the exponent; its low end is raised to the first
            measured loss when the spectrum starts later.
        post_window: eV, absolute, as above: the range whose mean signal is the edge step.
            None: ``onset + POST_WINDOW`` = (onset + 40, onset + 60): past the white lines and
            the L2 edge of 3d metals (L3-L2 splitting at most ~25 eV, Cu: 19.6 eV), before
            the continuum has decayed much.

    Fallbacks (default windows only; named per spectrum in ``fallback``, "" for none):
        ``short_pre_edge``: the spectrum has less than ``MIN_PRE_WIDTH`` (10 eV) of usable
            pre-edge before ``onset - 5`` (a Cu L2,3 spectrum starting at 929 eV): a power
            law of exponent ``FALLBACK_EXPONENT`` (3) through the mean of the points more
            than 0.5 eV below the onset.
        ``no_pre_edge``: no point below the onset: the same power law through the first
            point.
        ``short_post_edge``: the spectrum ends before ``onset + 60``: the step is the mean of
            its last ``SHORT_POST_WIDTH`` eV (from at least onset + 5 eV).
        ``lower_envelope``: a spectrum with too little pre-edge whose first points are already
            on the edge (it starts at the white line), or that was background-subtracted before
            (a literature spectrum at 0 below the edge): the power law through its first points
            would lie above the edge. Instead, the highest power law of exponent
            ``FALLBACK_EXPONENT`` that stays under every point up to the post-edge window
            (about zero for a background-subtracted spectrum). Also taken, with a pre-edge
            of any length, when the fitted power law is no background (exponent outside
            ``PLAUSIBLE_EXPONENT`` or an amplitude that is not finite: a background-subtracted
            spectrum's pre-edge fits noise).

    Returns an EelsNormalization. Raises TooFewPoints for a window with under 3 points and
    BadSpectrum for a non-positive edge step (no edge above the background) or a malformed
    window.
    """
    energy, counts = as_batch(energy_loss, counts, what="counts")
    n = len(counts)
    onset = np.broadcast_to(np.asarray(edge_onset, dtype=float), (n,)).copy()
    fallback = np.full(n, "", dtype=object)
    if pre_window is None:
        pre = onset[:, None] + np.asarray(PRE_WINDOW)
        pre[:, 0] = np.maximum(pre[:, 0], energy[:, 0])
        inside = (energy >= pre[:, :1]) & (energy <= pre[:, 1:]) & (counts > 0)
        short = ((pre[:, 1] - pre[:, 0]) < MIN_PRE_WIDTH) | (
            np.count_nonzero(inside, axis=1) < MIN_FIT_POINTS)
        before = energy < onset[:, None] - 0.5
        fallback[short] = np.where(before[short].any(axis=1), "short_pre_edge", "no_pre_edge")
        pre[short] = np.column_stack([energy[short, 0], np.maximum(
            onset[short] - 0.5, energy[short, 0] + 1e-9)])
    else:
        pre = _windows(pre_window, n)
        short = np.zeros(n, dtype=bool)
    amplitude, exponent = np.zeros(n), np.zeros(n)
    if (~short).any():
        fit = fit_power_law(energy[~short], counts[~short], pre[~short])
        amplitude[~short], exponent[~short] = fit.amplitude, fit.exponent
    lo, hi = PLAUSIBLE_EXPONENT
    implausible = ~short & ~(np.isfinite(amplitude) & (exponent > lo) & (exponent < hi))
    amplitude[implausible], exponent[implausible] = 0.0, FALLBACK_EXPONENT
    if short.any():
        # too little pre-edge to fit an exponent: the typical one, anchored on the points
        # below the onset (else on the first point: a spectrum that starts at its edge has no
        # background of its own to measure)
        e_s, c_s = energy[short], counts[short]
        below = e_s < onset[short, None] - 0.5
        below[~below.any(axis=1), 0] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(below, c_s * np.where(e_s > 0, e_s, np.nan) ** FALLBACK_EXPONENT,
                              0.0)
        amplitude[short] = np.nan_to_num(scaled.sum(axis=1) / np.count_nonzero(below, axis=1))
        exponent[short] = FALLBACK_EXPONENT
    signal = subtract_power_law(energy, counts, amplitude, exponent)
    if post_window is None:
        post = onset[:, None] + np.asarray(POST_WINDOW)
        in_post = (energy >= post[:, :1]) & (energy <= post[:, 1:]) & np.isfinite(signal)
        # a spectrum ending before onset + 60 eV: its last stretch past the onset gives the step
        cut = np.count_nonzero(in_post, axis=1) < MIN_FIT_POINTS
        if cut.any():
            last = energy[cut, -1]
            post[cut] = np.column_stack([np.maximum(onset[cut] + 5.0, last - SHORT_POST_WIDTH),
                                         last])
            fallback[cut & (fallback == "")] = "short_post_edge"
    else:
        post = _windows(post_window, n)
    in_post = (energy >= post[:, :1]) & (energy <= post[:, 1:]) & np.isfinite(signal)
    n_post = np.count_nonzero(in_post, axis=1)
    if np.any(n_post < MIN_FIT_POINTS):
        raise TooFewPoints(
            "post-edge window holds too few points: the spectrum must reach 5 eV past its "
            "onset by at least 3 points",
            spectra=np.nonzero(n_post < MIN_FIT_POINTS)[0][:10].tolist(),
        )
    step = np.where(in_post, signal, 0.0).sum(axis=1) / n_post
    envelope = ((step <= 0) & short) | implausible
    if envelope.any():
        amplitude[envelope] = _lower_envelope(energy, counts, post[:, 0], envelope)
        signal[envelope] = subtract_power_law(
            np.broadcast_to(energy, counts.shape)[envelope], counts[envelope],
            amplitude[envelope], exponent[envelope])
        step[envelope] = (np.where(in_post[envelope], signal[envelope], 0.0).sum(axis=1)
                          / n_post[envelope])
        fallback[envelope] = "lower_envelope"
    if np.any(step <= 0):
        raise BadSpectrum(
            "no edge: background-subtracted signal is not positive past the onset",
            spectra=np.nonzero(step <= 0)[0][:10].tolist(),
        )
    return EelsNormalization(
        edge_onset=onset, amplitude=amplitude, exponent=exponent, step=step,
        background=counts - signal, signal=signal, norm=signal / step[:, None],
        pre_window=pre, post_window=post, fallback=fallback,
    )
