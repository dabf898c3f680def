"""Shift-tolerant spectral similarity for screening candidates (numpy).

A query (model input on ``GRID``) is compared with each candidate spectrum over the window
``WINDOW_EV``, after shifting the query by every energy in ``SHIFTS_EV``; the similarity is
the best Pearson correlation over shifts of the profile ``[μ, w · dμ/dE]`` (each part
centred, the whole scaled to unit norm), so edge position errors of a few eV (calibration,
FEFF) cost little while the shape of the edge and of the first oscillations decides.
"""

from __future__ import annotations

import numpy as np

SHIFTS_EV = np.round(np.arange(-3.0, 3.0 + 0.125, 0.25), 3)
WINDOW_EV = (8974.0, 9036.0)
DERIVATIVE_WEIGHT = 3.0  # eV: dμ/dE is scaled by this before joining μ


def profile(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Unit-norm profile ``[..., 2 * n_window]`` of spectra ``y [..., len(grid)]`` on the window
    points of ``grid`` (the same grid for queries and candidates)."""
    inside = (grid >= WINDOW_EV[0]) & (grid <= WINDOW_EV[1])
    d = np.gradient(y, grid.astype(y.dtype), axis=-1) * y.dtype.type(DERIVATIVE_WEIGHT)
    parts = [y[..., inside], d[..., inside]]
    parts = [p - p.mean(axis=-1, keepdims=True) for p in parts]
    out = np.concatenate(parts, axis=-1)
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-9)


def shifted(x: np.ndarray, grid: np.ndarray, shifts: np.ndarray = SHIFTS_EV) -> np.ndarray:
    """Queries ``x [n, len(grid)]`` moved by each shift: ``[n, n_shifts, len(grid)]``,
    ``out[:, k](E) = x(E + shifts[k])`` (end values held)."""
    step = grid[1] - grid[0]
    pos = np.clip((np.arange(grid.size)[None, :] + shifts[:, None] / step), 0, grid.size - 1)
    j = np.minimum(pos.astype(int), grid.size - 2)
    t = (pos - j).astype(x.dtype)
    return x[:, j] * (1 - t) + x[:, j + 1] * t


def similarity(x: np.ndarray, candidates: np.ndarray, grid: np.ndarray,
               shifts: np.ndarray = SHIFTS_EV) -> tuple[np.ndarray, np.ndarray]:
    """Best similarity ``[n, n_candidates]`` over shifts, and the shift (eV) that gave it.

    ``candidates`` are profiles (``profile`` of the candidate spectra, precomputed once).
    """
    q = profile(shifted(np.asarray(x, dtype=np.float32), grid, shifts), grid)
    n, k = q.shape[0], candidates.shape[0]
    sims = (q.reshape(-1, q.shape[-1]) @ candidates.T.astype(q.dtype)).reshape(n, -1, k)
    best = sims.argmax(axis=1)
    return np.take_along_axis(sims, best[:, None], 1)[:, 0], shifts[best]
