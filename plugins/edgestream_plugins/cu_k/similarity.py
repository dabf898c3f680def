"""Shift-tolerant comparisons of a query spectrum with screening candidates (numpy).

A query (model input on ``GRID``) is compared with each candidate spectrum over the window
``WINDOW_EV``, after shifting the query by every energy in ``SHIFTS_EV``, so edge position
errors of a few eV (calibration, FEFF) cost little:

- ``similarity``: the best Pearson correlation over shifts of the profile ``[μ, w · dμ/dE]``
  (each part centred, the whole scaled to unit norm): the shape of the edge and of the first
  oscillations decides.
- ``Whitening``: minus the smallest squared distance over shifts after whitening with a
  covariance of what separates a measured spectrum from its candidate's predicted one (the
  forward model's errors, measured-like distortions), so the energy ranges where the library
  is unreliable count less.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


class Profiles:
    """Candidate profiles in the basis they span (right singular vectors above ~1e-6 of the
    largest singular value): a profile of a window of n points and its derivative spans at
    most ~n dimensions, so the 2n-long dot products shrink to ~n with no loss (the dropped
    part is below 1e-7 per profile)."""

    def __init__(self, profiles: np.ndarray) -> None:
        p = np.asarray(profiles, dtype=np.float64)
        # eigenvectors of the small Gram matrix: the SVD's basis at a fraction of its cost
        lam, vec = np.linalg.eigh(p.T @ p)
        keep = vec[:, lam > 1e-12 * lam.max()].T
        self.basis = keep.astype(np.float32)  # [rank, 2n]
        self.reduced = (p @ keep.T).astype(np.float32)  # [n_candidates, rank]

    def __len__(self) -> int:
        return len(self.reduced)


def similarity(x: np.ndarray, candidates: Profiles | np.ndarray, grid: np.ndarray,
               shifts: np.ndarray = SHIFTS_EV, refine: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Best similarity ``[n, n_candidates]`` over shifts, and the shift (eV) that gave it.

    ``candidates``: the candidate spectra's ``profile`` rows, best wrapped in ``Profiles``
    once (a plain array is wrapped on every call).
    ``refine``: None compares every candidate at every shift. A number k first compares all
    candidates at every 4th shift (1 eV apart: the similarity varies slowly with shift), then
    the k best of them per query at every shift; the others keep their coarse value, a lower
    bound (about 4x less work for thousands of candidates).
    """
    if not isinstance(candidates, Profiles):
        candidates = Profiles(candidates)
    x = np.asarray(x, dtype=np.float32)
    q = _query(x, grid, shifts, candidates)  # [n_shifts, n, rank]
    if refine is None or refine >= len(candidates):
        return _best_over_shifts(q, candidates.reduced, shifts)
    best, at = _best_over_shifts(q[::4], candidates.reduced, shifts[::4])
    top = np.argpartition(-best, refine - 1, axis=1)[:, :refine]  # [n, k]
    fine = np.einsum("snr,nkr->snk", q, candidates.reduced[top], optimize=True)
    which = fine.argmax(axis=0)
    np.put_along_axis(best, top, fine.max(axis=0), 1)
    np.put_along_axis(at, top, shifts[which], 1)
    return best, at


def _query(x: np.ndarray, grid: np.ndarray, shifts: np.ndarray, candidates: Profiles
           ) -> np.ndarray:
    """Query profiles at each shift in the candidates' basis: ``[n_shifts, n, rank]``, each
    shift's block contiguous for its matrix product."""
    q = profile(shifted(x, grid, shifts), grid) @ candidates.basis.T
    return np.ascontiguousarray(q.transpose(1, 0, 2))


def _best_over_shifts(q: np.ndarray, reduced: np.ndarray, shifts: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    best = q[0] @ reduced.T
    which = np.zeros(best.shape, dtype=np.int8)
    for j in range(1, len(q)):  # a running max: no [n, n_shifts, n_candidates] array
        sims = q[j] @ reduced.T
        better = sims > best
        np.maximum(best, sims, out=best)
        np.putmask(which, better, j)
    return best, shifts[which]


def window(grid: np.ndarray) -> np.ndarray:
    """Mask of the ``grid`` points inside ``WINDOW_EV``."""
    return (grid >= WINDOW_EV[0]) & (grid <= WINDOW_EV[1])


@dataclass(frozen=True)
class Whitening:
    """Whitened distance on the window points of the grid.

    ``transform`` ``[k, k]``: a factor L of the inverse covariance (``L Lᵀ = C⁻¹``), so that
    ``|(a - b) L|²`` is the squared Mahalanobis distance; ``bias`` ``[k]``: the mean of
    measured minus predicted, added to every candidate.
    """

    transform: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(cls, covariance: np.ndarray, bias: np.ndarray, ridge: float = 0.01) -> Whitening:
        """From a covariance ``[k, k]``, regularized by ``ridge`` times its mean variance."""
        c = np.asarray(covariance, dtype=np.float64)
        c = c + ridge * np.trace(c) / len(c) * np.eye(len(c))
        return cls(np.linalg.cholesky(np.linalg.inv(c)).astype(np.float32),
                   np.asarray(bias, dtype=np.float32))

    def save(self, path: Path | str) -> None:
        np.savez(path, transform=self.transform, bias=self.bias)

    @classmethod
    def load(cls, path: Path | str) -> Whitening:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["transform"], z["bias"])

    def candidates(self, spectra: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Whitened candidate spectra ``[N, k]`` (float32) from spectra ``[N, len(grid)]``."""
        y = np.asarray(spectra, dtype=np.float32)[:, window(grid)] + self.bias
        return y @ self.transform

    def scores(self, x: np.ndarray, candidates: np.ndarray, grid: np.ndarray,
               shifts: np.ndarray = SHIFTS_EV) -> np.ndarray:
        """``[n, N]``: minus the smallest whitened squared distance over ``shifts`` between
        each query ``x [n, len(grid)]`` and each whitened candidate (:meth:`candidates`)."""
        q = shifted(np.asarray(x, dtype=np.float32), grid, shifts)[:, :, window(grid)]
        q = q @ self.transform  # [n, n_shifts, k]
        c2 = np.einsum("nk,nk->n", candidates, candidates)
        best = np.full((len(q), len(candidates)), -np.inf, dtype=np.float32)
        for j in range(q.shape[1]):  # a running max: no [n, n_shifts, N] array
            qj = q[:, j]
            d = np.einsum("nk,nk->n", qj, qj)[:, None] + c2[None, :] - 2 * (qj @ candidates.T)
            np.maximum(best, -d, out=best)
        return best
