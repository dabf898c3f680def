"""Larch's Lorentzian ``smooth`` on a batch of rows, with the reflections folded into FFTs.

Larch (``larch.math.smooth``) interpolates each row onto a uniform grid of N points, pads it
with two reflections (3N - 1 points), convolves with a normalized Lorentzian window of 2N
points and interpolates back. Written out, the kept outputs are

    s[k] = sum_g y0[g] (L(k - g) + L(k + g) [g >= 1] + L(k + g - 2N + 1)),   k, g in [0, N)

with L the window (offsets -N .. N-1, zero outside). The three sums are a convolution of y0
and one of y0 reversed, each of lags within +-(N - 1): a circular convolution of length
>= 2N - 1 holds them exactly, and the reversed row's transform is the conjugate of y0's
times a phase. So one real FFT of N points (padded to a fast length near 2N, against 3N for
the padded linear convolution) and one inverse per row, with the window spectra cached per
(N, width) across calls; only the grid points next to the row's own points are read back.
Same sums as Larch's ``np.convolve`` in another order: equal to ~1e-15 relative.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

__all__ = ["smooth_lorentzian"]

# grid values per batch (~32 MB): very fine or very long scans are smoothed in blocks of rows
_FFT_BUDGET = 2**22


def _smooth_grid(
    x: np.ndarray, n_valid: np.ndarray, xstep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Larch ``smooth``'s uniform grid per row: (first, last, number of points)."""
    x_last = x[np.arange(len(x)), n_valid - 1]
    xmin = xstep * np.trunc((x[:, 0] - 5 * xstep) / xstep)
    xmax = xstep * np.trunc((x_last + 5 * xstep) / xstep)
    npts = 1 + np.trunc(np.abs(xmax - xmin + xstep * 0.1) / xstep).astype(np.intp)
    return xmin, xmax, np.minimum(npts, 50 * n_valid)


def _fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (pocketfft is fastest on those)."""
    best = 1 << max(0, int(n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


@lru_cache(maxsize=256)  # ~30 KB each: a run has a few windows, a noisy batch some dozens
def _window(n: int, sigma: float, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """For N = ``n`` grid points and half-width ``sigma`` grid steps: the spectra (length
    ``size``) of the kernels for y0 and for its conjugate (y0 reversed), and the window's
    sum."""
    w = np.arange(2 * n)
    win = 1.0 / (1 + ((w - n) / sigma) ** 2)
    total = float(win.sum())
    lorentz = win / total  # L(d) = lorentz[d + n], d in [-n, n-1]
    d = np.arange(-(n - 1), n)
    direct = np.zeros(size)
    direct[d % size] = lorentz[d + n]
    # reversed row: L(d + n - 1) for lags d <= 0 and L(d - n) for d >= 0 (both at d = 0)
    mirrored = np.zeros(size)
    mirrored[d % size] = np.where(d <= 0, lorentz[np.clip(d + 2 * n - 1, 0, 2 * n - 1)], 0.0)
    mirrored[d % size] += np.where(d >= 0, lorentz[np.clip(d, 0, 2 * n - 1)], 0.0)
    f = np.arange(size // 2 + 1)
    phase = np.exp(-2j * np.pi * f * ((n - 1) % size) / size)
    return np.fft.rfft(direct), phase * np.fft.rfft(mirrored), total


def _grid_counts(x: np.ndarray, x0_at, xmin: np.ndarray, step: np.ndarray, npts: np.ndarray,
                 strict: bool) -> np.ndarray:
    """Per point of ``x`` ``[n, m]``, how many grid points are < it (``strict``) or <= it."""
    last = (npts - 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        guess = np.floor((x - xmin[:, None]) / step[:, None])
    guess = np.where(np.isnan(guess), -1.0, guess)  # a one-point grid (step 0)
    t = np.minimum(np.maximum(guess, -1), last).astype(np.intp)  # the last index below
    # (x - xmin) / step is at most ~1e4 grid steps, rounded to ~1e-11 of a step: the guess
    # is off by one at most, which one comparison each way with the grid's own values settles
    below = x0_at(np.maximum(t, 0))
    t = np.where((t >= 0) & ((below >= x) if strict else (below > x)), t - 1, t)
    above = x0_at(np.minimum(t + 1, last))
    t = np.where((t < last) & ((above < x) if strict else (above <= x)), t + 1, t)
    return t + 1


def _on_grid(x: np.ndarray, y: np.ndarray, n_valid: np.ndarray, first: np.ndarray,
             xmin: np.ndarray, xmax: np.ndarray, step: np.ndarray, npts: np.ndarray,
             width: int) -> np.ndarray:
    """``np.interp(grid, x, y)`` per row on its first ``npts`` grid points, 0 beyond.

    ``first`` ``[n, m]``: how many grid points lie below each x. Grid point k lies after
    cnt[k] points of x; one table per row gives the value as Y + S * (x0 - X) for every
    case: the first point's value (S = 0) before x, the segment cnt - 1 inside, the last
    point's value at and after the end, and 0 beyond npts (no branches over the grid)."""
    n_rows, m = x.shape
    rows = np.arange(n_rows)
    pad = 2 * m + 2
    first = np.where(np.arange(m) < n_valid[:, None], first, width)
    hist = np.bincount((rows[:, None] * (width + 1) + first).ravel(),
                       minlength=n_rows * (width + 1)).reshape(n_rows, width + 1)
    hist[rows, npts] += m + 1  # grid points past npts read the zero entries
    hist[:, 0] += rows * pad  # so that the counts index the flattened tables
    cnt = np.cumsum(hist[:, :width], axis=1)
    tx, ty, ts = np.zeros((3, n_rows, pad))  # X, Y, S per entry
    tx[:, 1:m], ty[:, 1:m] = x[:, :-1], y[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (y[:, 1:] - y[:, :-1]) / (x[:, 1:] - x[:, :-1])
    ts[:, 1:m] = np.where(np.isfinite(slope), slope, 0.0)  # np.interp's y_lo then
    tx[:, 0], ty[:, 0] = x[:, 0], y[:, 0]
    last = n_valid - 1
    tx[rows, n_valid], ty[rows, n_valid], ts[rows, n_valid] = x[rows, last], y[rows, last], 0.0
    x0 = np.arange(width) * step[:, None] + xmin[:, None]
    x0[rows, np.minimum(npts, width) - 1] = xmax
    # slope * (x0 - x_lo) + y_lo, in place on x0 (flat takes: numpy's fastest gather)
    x0 -= np.take(tx, cnt)
    x0 *= np.take(ts, cnt)
    x0 += np.take(ty, cnt)
    return x0


def _convolved(y0: np.ndarray, npts: np.ndarray, sigma: np.ndarray, size: int,
               at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two circular convolutions of each row of ``y0`` (see the module docstring), read
    at the grid indices ``at`` ``[n, q]``, and each row's window sum.

    Rows are sorted by window, so that each window multiplies a contiguous slice of rows
    (no per-row copy of the kernels)."""
    order = np.lexsort((sigma, npts))  # rows of one window next to each other
    n_s, s_s = npts[order], sigma[order]
    cuts = [0, *(np.flatnonzero((n_s[1:] != n_s[:-1]) | (s_s[1:] != s_s[:-1])) + 1).tolist(),
            len(order)]
    one = len(cuts) == 2  # one window (the rule): rows stay in their order, no copies
    spec = np.fft.rfft(y0 if one else y0[order], size)
    totals = np.empty(len(order))
    for lo, hi in itertools.pairwise(cuts):
        direct, mirrored, total = _window(int(n_s[lo]), float(s_s[lo]), size)
        totals[order[lo:hi]] = total
        part = spec[lo:hi]
        # complex products throughout: numpy's mixed real x complex loops are far slower
        flipped = part.conj()
        flipped *= mirrored
        part *= direct
        part += flipped
    if one:
        return np.take_along_axis(np.fft.irfft(spec, size), at, 1), totals
    out = np.empty(at.shape)
    out[order] = np.take_along_axis(np.fft.irfft(spec, size), at[order], 1)
    return out, totals


def smooth_lorentzian(
    x: np.ndarray, y: np.ndarray, n_valid: np.ndarray, xstep: np.ndarray
) -> np.ndarray:
    """Larch ``smooth(x, y, xstep=xstep, sigma=xstep)`` (Lorentzian form) on each row.

    ``x`` ``[n, m]`` ascending rows (only the first ``n_valid[b]`` points of row b are used:
    ragged rows are padded on the right), ``y`` the values, ``xstep`` ``[n]`` the grid step.
    Larch's grid of spacing ``xstep`` padded by 5 steps (at most 50 points per input point),
    its reflections, its normalized Lorentzian of half-width one step and its linear
    interpolations; the convolution by FFT for the whole batch (see the module docstring).
    Returns ``[n, m]``.
    """
    n_rows = len(x)
    n_valid = np.asarray(n_valid, dtype=np.intp)
    xstep = np.asarray(xstep, dtype=float)
    xmin, xmax, npts = _smooth_grid(x, n_valid, xstep)
    block = max(1, _FFT_BUDGET // (2 * int(npts.max())))
    if n_rows > block:
        return np.concatenate([
            smooth_lorentzian(x[i:i + block], y[i:i + block], n_valid[i:i + block],
                              xstep[i:i + block]) for i in range(0, n_rows, block)])
    width = int(npts.max())
    # np.linspace's arithmetic (k * step + start, the end set), as Larch's grid
    step = (xmax - xmin) / np.maximum(npts - 1, 1)

    def x0_at(k: np.ndarray) -> np.ndarray:
        return np.where(k == (npts - 1)[:, None], xmax[:, None],
                        k * step[:, None] + xmin[:, None])

    y0 = _on_grid(x, y, n_valid, _grid_counts(x, x0_at, xmin, step, npts, strict=True),
                  xmin, xmax, step, npts, width)
    size = _fast_length(2 * width - 1)
    sigma = xstep * (1.0 / xstep)  # Larch's sigma in grid steps, rounded as Larch does

    # back onto x: np.interp(x, grid, smooth0), reading the two grid points around each x
    hi = np.minimum(np.maximum(_grid_counts(x, x0_at, xmin, step, npts, strict=False), 1),
                    np.maximum(npts - 1, 1)[:, None])
    last = (npts - 1)[:, None]
    at = np.concatenate([hi - 1, hi, np.zeros_like(last), last], axis=1)
    conv, totals = _convolved(y0, npts, sigma, size, at)
    # the g = 0 term counted twice by the two convolutions (L(k) y0[0]) taken off
    conv -= 1.0 / (1 + (at / sigma[:, None]) ** 2) / totals[:, None] * y0[:, :1]
    m = x.shape[1]
    s_lo, s_hi = conv[:, :m], conv[:, m:2 * m]
    x_lo, x_hi = x0_at(hi - 1), x0_at(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (s_hi - s_lo) / (x_hi - x_lo) * (x - x_lo) + s_lo
    out = np.where(x >= x0_at(last), conv[:, -1:], out)
    out = np.where(x <= xmin[:, None], conv[:, -2:-1], out)
    return np.where(np.isfinite(out), out, s_lo)
