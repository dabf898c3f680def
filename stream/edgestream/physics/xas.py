"""XAS pre-edge subtraction and normalization: a batched port of Larch's ``pre_edge``.

The algorithm, default ranges and their rounding rules are those of xraylarch 2026.3
``larch/xafs/pre_edge.py`` (``find_e0``, ``_finde0``, ``preedge``, and the ``flat`` array of
``pre_edge``), read from its source, vectorised over ``[n_spectra, n_points]``. Parity with
Larch itself is tested on real spectra (tests/physics/test_xas_parity.py).

Differences from Larch, all deliberate:
- NaN/inf values raise BadSpectrum (Larch silently drops those points), and so do energies that
  decrease (Larch sorts them): in a stream either means a broken scan.
- Repeated energies are kept and nudged apart by ``TINY_ENERGY`` exactly as Larch's
  ``remove_dups`` does, at the same places (the k-th repeat of a value moves up by
  k * TINY_ENERGY). A repeat makes a huge spurious derivative, so e0 is then as unreliable as
  Larch's; callers that can should average repeated points first.
- Fewer than ``MIN_POINTS`` points raise TooFewPoints; Larch's e0 search fails there too.
- Larch's ``iscalc`` mode and the ``flat_alt``/``dmude`` extras are not provided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgestream.errors import BadSpectrum, TooFewPoints
from edgestream.physics.grid import (
    as_batch,
    gradient_rows,
    index_nearest,
    index_of,
    polyfit_rows,
    smooth_lorentzian,
)

__all__ = ["MAX_NNORM", "MIN_POINTS", "TINY_ENERGY", "PreEdgeResult", "find_e0", "pre_edge"]

TINY_ENERGY = 0.0005  # eV: Larch's smallest tolerated energy step (xafsutils.TINY_ENERGY)
MAX_NNORM = 5  # highest post-edge polynomial degree Larch allows
# Larch's e0 search keeps 3 guard points at each end of the spectrum and of a window that must
# itself hold 3 + 1 + 3 points, and fails below that; 14 points is the least that always works.
MIN_POINTS = 14


@dataclass(frozen=True)
class PreEdgeResult:
    """Per-spectrum results of ``pre_edge``; ``n`` spectra of ``m`` points.

    Scalars per spectrum are ``[n]`` arrays: ``e0`` (eV), ``edge_step`` (units of mu),
    ``pre1``, ``pre2``, ``norm1``, ``norm2`` (eV relative to e0, as resolved and used),
    ``nnorm``, ``npre``, ``nvict`` (ints, after Larch's adjustments for short ranges).
    ``pre_edge_coefs`` is ``[n, 2]`` (offset, slope) of the line fitted to mu*E**nvict;
    ``norm_coefs`` is ``[n, MAX_NNORM + 1]``, the post-edge polynomial in raw powers of E
    (constant first), zero beyond each spectrum's ``nnorm``. ``pre_edge``, ``post_edge``,
    ``norm`` and ``flat`` are ``[n, m]`` on the input energies.
    """

    e0: np.ndarray
    edge_step: np.ndarray
    pre1: np.ndarray
    pre2: np.ndarray
    norm1: np.ndarray
    norm2: np.ndarray
    nnorm: np.ndarray
    npre: np.ndarray
    nvict: np.ndarray
    pre_edge_coefs: np.ndarray
    norm_coefs: np.ndarray
    pre_edge: np.ndarray
    post_edge: np.ndarray
    norm: np.ndarray
    flat: np.ndarray


def _remove_dups(energy: np.ndarray) -> np.ndarray:
    """Larch ``remove_dups(energy, tiny=TINY_ENERGY)`` on each row.

    A point less than TINY_ENERGY above its (original) predecessor moves up by one
    TINY_ENERGY more than that predecessor moved, with Larch's sequential float sums.
    """
    repeat = np.diff(energy, axis=1) < TINY_ENERGY
    if not repeat.any():
        return energy
    run = np.cumsum(repeat, axis=1)
    run -= np.maximum.accumulate(np.where(repeat, 0, run), axis=1)
    sums = [0.0]
    for _ in range(int(run.max())):
        sums.append(sums[-1] + TINY_ENERGY)
    out = energy.copy()
    out[:, 1:] += np.asarray(sums)[run]
    return out


def _clean(energy: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batch, check and de-duplicate like Larch's ``pre_edge`` and ``preedge``."""
    energy, mu = as_batch(energy, mu, what="mu")
    if mu.shape[1] < MIN_POINTS:
        raise TooFewPoints(
            f"{mu.shape[1]} points, need at least {MIN_POINTS}", n_points=mu.shape[1]
        )
    step = np.diff(energy, axis=1)
    if np.any(step < 0):
        bad = np.unique(np.nonzero(step < 0)[0])
        raise BadSpectrum("energy is not monotonic", spectra=bad[:10].tolist())
    # Larch de-duplicates in pre_edge and again in preedge: a nudged value can be nudged twice
    energy = np.ascontiguousarray(energy)
    once = _remove_dups(energy)
    if once is not energy:  # none repeated (the rule): the second pass has nothing to do
        energy = _remove_dups(once)
        if np.any(np.diff(energy, axis=1) <= 0):
            raise BadSpectrum("energy has repeated values that cannot be separated")
    return energy, mu


def _max_derivative(dmu: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
    """Larch ``_finde0``'s choice of index, given the derivative of each row (``[n, m]``).

    Rule: scale the derivative to [0, 1] over the points at least ``nmin = max(3, 2%)`` from
    either end; "high" points are those above 0.6 (0.3 for 20 points or fewer), halved up to
    twice while fewer than 3 (4 at the second try) qualify, else all points; the result is the
    highest point in [nmin, m - nmin] whose two neighbours are also high; 0 if none.
    """
    width = dmu.shape[1]
    m = n_valid[:, None]
    nmin = np.maximum(3, (n_valid * 0.02).astype(np.intp))[:, None]
    finite = np.isfinite(dmu)
    if not finite.all():
        dmu = np.where(finite, dmu, -1.0)
    # the common case, full rows with one nmin, takes plain slices instead of masks
    full = bool(np.all(n_valid == width)) and int(nmin.min()) == int(nmin.max())
    if full:
        a = int(nmin[0, 0])
        dm_min = dmu[:, a:width - a].min(axis=1, keepdims=True)
        dm_max = dmu[:, a:width - a].max(axis=1, keepdims=True)
        dmu = (dmu - dm_min) / np.maximum(1.0e-10, dm_max - dm_min)
    else:
        idx = np.arange(width)
        inner = (idx >= nmin) & (idx < m - nmin)
        dm_min = np.where(inner, dmu, np.inf).min(axis=1, keepdims=True)
        dm_max = np.where(inner, dmu, -np.inf).max(axis=1, keepdims=True)
        dmu = (dmu - dm_min) / np.maximum(1.0e-10, dm_max - dm_min)
        dmu[idx >= m] = -np.inf  # padding: never high, never chosen
    dhigh = np.where(m > 20, 0.60, 0.30)
    high = dmu > dhigh
    if np.any(np.count_nonzero(high, axis=1) < 3):
        halved = np.count_nonzero(dmu > dhigh * 0.5, axis=1, keepdims=True)
        factor = np.where(np.count_nonzero(high, axis=1, keepdims=True) >= 3, 1.0,
                          np.where(halved > 3, 0.5, 0.25))
        high = dmu > dhigh * factor
        few = np.count_nonzero(high, axis=1, keepdims=True) < 3
        high = np.where(few, dmu > -np.inf, high)  # too few: every point counts as high
    # a candidate is high with both neighbours high, in [nmin, m - nmin], and rising
    candidate = np.zeros_like(high)
    candidate[:, 1:-1] = high[:, 1:-1] & high[:, :-2] & high[:, 2:]
    candidate &= dmu > 0
    if full:
        candidate[:, :a] = False
        candidate[:, width - a + 1:] = False
    else:
        candidate &= (idx >= nmin) & (idx <= m - nmin)
    best = np.argmax(np.where(candidate, dmu, -np.inf), axis=1)
    return np.where(candidate.any(axis=1), best, 0)


def _energy_step(en: np.ndarray) -> np.ndarray:
    """Larch ``find_energy_step``: mean of the 10 smallest steps after skipping the smallest 1%.

    Larch's slice ``[nskip:-nskip]`` is empty when nskip is 0 (under 100 points), giving NaN,
    which ``find_e0`` then treats as 1 eV; this reproduces that.
    """
    nskip = int(0.01 * en.shape[1])
    kept = en[:, :-1][:, nskip:-nskip] if nskip else en[:, :0]
    steps = np.sort(np.diff(kept, axis=1), axis=1)[:, nskip:nskip + 10]
    if steps.shape[1] == 0:
        return np.full(en.shape[0], np.nan)
    return steps.mean(axis=1)


def _find_e0(energy: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Larch ``find_e0`` on cleaned ``[n, m]`` arrays: returns e0 in eV, ``[n]``."""
    n_rows, n_pts = energy.shape
    rows = np.arange(n_rows)
    # Larch's _finde0 keeps np.where(diff(argsort(en)) == 1), which drops the last point.
    # (_finde0 also runs remove_dups once more, on whatever range it is given)
    en, mu1 = _remove_dups(energy)[:, :-1], mu[:, :-1]
    estep1 = _energy_step(en)
    full = np.full(n_rows, n_pts - 1)
    ie0 = _max_derivative(gradient_rows(mu1, full) / gradient_rows(en, full), full)
    e1 = en[rows, ie0]
    istart = np.maximum(3, ie0 - 75)
    istop = np.minimum(ie0 + 75, n_pts - 3)
    # an edge in the first 5% of points is taken for a glitch: search (almost) everywhere
    early = ie0 < 0.05 * n_pts
    e1 = np.where(early, energy.mean(axis=1), e1)
    istart = np.where(early, np.maximum(3, ie0 - 20), istart)
    istop = np.where(early, n_pts - 3, istop)
    # Larch's min/max put a NaN step (too few points to measure it) at 1 eV
    estep1 = np.where(np.isnan(estep1), 1.0, estep1)
    estep = 0.5 * (np.clip(estep1, 0.01, 1.0) + np.clip(e1 / 25000.0, 0.01, 1.0))
    n_win = istop - istart - 1
    cols = np.minimum(istart[:, None] + np.arange(n_win.max()), n_pts - 1)
    en_w = _remove_dups(energy[rows[:, None], cols])
    mu_w = mu[rows[:, None], cols]
    with np.errstate(divide="ignore", invalid="ignore"):  # only the padding divides by 0
        dmu = gradient_rows(mu_w, n_win) / gradient_rows(en_w, n_win)
    ix = _max_derivative(smooth_lorentzian(en_w, dmu, n_win, estep), n_win)
    return np.where(ix < 1, energy[rows, istart + 2], en_w[rows, ix])


def find_e0(energy: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Edge energy E0 (eV) of each spectrum: the maximum of the derivative of mu(E).

    Larch's rules: a first pass on the unsmoothed derivative picks an index (see
    ``_max_derivative``); if it falls in the first 5% of points it is treated as a glitch.
    The second pass searches +-75 points around it (from 20 points below it to the end for an
    early edge) on the derivative smoothed by a Lorentzian of width
    ``estep = (clip(step, 0.01, 1) + clip(E/25000, 0.01, 1)) / 2`` eV, where ``step`` is the
    typical energy step and ``E`` the first-pass edge energy. E0 is always a measured energy.

    Arguments:
        energy: eV, ``[n_points]`` or ``[n_spectra, n_points]``, non-decreasing.
        mu: ``[n_spectra, n_points]`` or ``[n_points]``.

    Returns ``[n_spectra]`` e0 values.
    """
    energy, mu = _clean(energy, mu)
    return _find_e0(energy, mu)


def _per_row(value: float | np.ndarray | None, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(np.nan if value is None else value, dtype=float), (n,))


def pre_edge(
    energy: np.ndarray,
    mu: np.ndarray,
    e0: float | np.ndarray | None = None,
    step: float | np.ndarray | None = None,
    pre1: float | None = None,
    pre2: float | None = None,
    norm1: float | None = None,
    norm2: float | None = None,
    nnorm: int | None = None,
    npre: int = 1,
    nvict: int = 0,
) -> PreEdgeResult:
    """Pre-edge subtraction and edge-step normalization of a batch of XAS spectra.

    Steps (Larch ``pre_edge``): find E0; fit a line to mu(E)*E**nvict over
    [e0+pre1, e0+pre2]; fit a polynomial of degree nnorm to mu - pre_edge over
    [e0+norm1, e0+norm2]; edge_step = post_edge - pre_edge at the energy point nearest e0;
    norm = (mu - pre_edge) / edge_step; flat = norm with (post_edge - pre_edge)/edge_step
    replaced by its value at e0 above e0 (the post-edge curvature removed), norm below e0.

    Arguments (ranges in eV relative to e0; ``None`` means the rule given, per spectrum):
        energy: eV, ``[n_points]`` shared or ``[n_spectra, n_points]``, non-decreasing.
        mu: absorption ``[n_spectra, n_points]`` (one spectrum ``[n_points]`` is a batch of 1).
        e0: eV, scalar or per spectrum. None, or a value outside [energy[1], energy[-2]]:
            ``find_e0``.
        step: edge step, scalar or per spectrum. None: from the fits, as above.
        pre1: None: the 2nd energy point minus e0, rounded to a multiple of 5 eV (2 eV when
            the edge is within 20 points of the start); never below the first point.
        pre2: None: pre1 / 2. pre1 and pre2 are swapped if out of order.
        norm2: None: last energy minus e0, rounded to a multiple of 5 eV; never beyond the
            last point. A negative value means the last point (Larch's code turns it into
            span + |norm2|, which that limit then cuts back).
        norm1: None: min(25, norm2 / 15 rounded to a multiple of 5 eV); at most norm2 - 2.
            (Larch's docstring says ~min(150, norm2/3); its code, followed here, does this.)
        nnorm: post-edge polynomial degree, 0..5. None: 2 if norm2 - norm1 >= 300 eV,
            1 if >= 30 eV, else 0. Lowered to 1 when the range holds under 5 points and to 0
            under 2.
        npre: 1 (line) or 0 (constant: the mean) pre-edge; set to 0 (and nvict to 0) when
            [pre1, pre2] spans fewer than 3 points.
        nvict: Victoreen exponent: the line is fitted to mu*E**nvict.

    Returns a PreEdgeResult with every resolved parameter. Raises BadSpectrum (NaN/inf,
    decreasing energies, mismatched shapes) and TooFewPoints (under ``MIN_POINTS`` points).
    """
    energy, mu = _clean(energy, mu)
    n_rows, n_pts = mu.shape
    rows = np.arange(n_rows)
    e0_in = _per_row(e0, n_rows)
    need = ~((e0_in >= energy[:, 1]) & (e0_in <= energy[:, -2]))
    e0v = e0_in.copy()
    if need.any():
        e0v[need] = _find_e0(energy[need], mu[need])
    ie0 = index_nearest(energy, e0v)
    rel = energy - e0v[:, None]

    if pre1 is None:
        base = np.where(ie0 > 20, 5.0, 2.0)
        pre1v = base * np.round((energy[:, 1] - e0v) / base)
    else:
        pre1v = _per_row(pre1, n_rows).copy()
    pre1v = np.maximum(pre1v, energy[:, 0] - e0v)
    pre2v = 0.5 * pre1v if pre2 is None else _per_row(pre2, n_rows).copy()
    pre1v, pre2v = np.minimum(pre1v, pre2v), np.maximum(pre1v, pre2v)
    short_pre = (index_of(rel, pre2v) - index_of(rel, pre1v)) < 3
    npre_v = np.where(short_pre, 0, npre)
    nvict_v = np.where(short_pre | (npre_v == 0), 0, nvict)
    nvict_out = np.where(short_pre, 0, nvict)

    span = energy[:, -1] - e0v
    norm2v = 5.0 * np.round(span / 5.0) if norm2 is None else _per_row(norm2, n_rows).copy()
    norm2v = np.where(norm2v < 0, span - norm2v, norm2v)
    norm2v = np.minimum(norm2v, span)
    norm1v = (np.minimum(25.0, 5.0 * np.round(norm2v / 15.0)) if norm1 is None
              else _per_row(norm1, n_rows).copy())
    norm1v, norm2v = np.minimum(norm1v, norm2v), np.maximum(norm1v, norm2v)
    norm1v = np.minimum(norm1v, norm2v - 2)
    if nnorm is None:
        width = norm2v - norm1v
        nnorm_v = np.where(width < 30, 0, np.where(width < 300, 1, 2))
    else:
        nnorm_v = np.full(n_rows, nnorm)
    nnorm_v = np.clip(nnorm_v, 0, MAX_NNORM)

    # pre-edge line (or mean) over [index_of(pre1), index_nearest(pre2))
    p1 = index_of(energy, pre1v + e0v)
    p2 = index_nearest(energy, pre2v + e0v)
    p2 = np.where((npre_v == 0) & (p2 == p1), p2 + 1, p2)
    p2 = np.where((npre_v != 0) & (p2 - p1 < 2), np.minimum(n_pts, p1 + 2), p2)
    victoreen = energy ** nvict_v[:, None]
    pre_fit = polyfit_rows(energy, mu * victoreen, p1, p2, npre_v)
    pre_edge_curve = pre_fit(energy) / victoreen

    # post-edge polynomial over [index_of(norm1), index_nearest(norm2))
    p1 = np.minimum(index_of(energy, norm1v + e0v), n_pts - 3)
    p2 = index_nearest(energy, norm2v + e0v)
    tiny_range = p2 - p1 < 2
    p1 = np.where(tiny_range, p1 - 2, p1)
    nnorm_v = np.where(tiny_range, 0, np.where(p2 - p1 < 5, np.minimum(1, nnorm_v), nnorm_v))
    norm_fit = polyfit_rows(energy, mu - pre_edge_curve, p1, p2, nnorm_v)
    post_edge = pre_edge_curve + norm_fit(energy)

    jump = (post_edge - pre_edge_curve)[rows, ie0] if step is None else _per_row(step, n_rows)
    edge_step = np.maximum(1.0e-12, np.abs(jump))
    norm = (mu - pre_edge_curve) / edge_step[:, None]
    residue = (post_edge - pre_edge_curve) / edge_step[:, None]
    flat = norm - residue + residue[rows, ie0][:, None]
    flat = np.where(np.arange(n_pts) < ie0[:, None], norm, flat)

    return PreEdgeResult(
        e0=e0v, edge_step=edge_step, pre1=pre1v, pre2=pre2v, norm1=norm1v, norm2=norm2v,
        nnorm=nnorm_v, npre=npre_v, nvict=nvict_out, pre_edge_coefs=pre_fit.raw(2),
        norm_coefs=norm_fit.raw(MAX_NNORM + 1), pre_edge=pre_edge_curve, post_edge=post_edge,
        norm=norm, flat=flat,
    )
