"""The screening search for a whole batch at once: the best candidates by whitened distance
(best over shifts) plus a per-candidate bonus, exactly, without the full distance matrix.

:meth:`Whitening.scores` computes every query's distance to every candidate at every shift:
``n x n_shifts x N x k`` multiply-adds, 85 % of the screening plugin's time. Only the few
best candidates of each query are reported, so :class:`WhitenedSearch` ranks candidates first
by a cheap *lower bound* of the distance and computes the exact distance only for those that
can still be among the best (branch and bound; the result is the same ranking):

- candidates ``c`` (whitened) are split by a PCA of rank ``r`` into ``P c`` and a residual
  ``e_c`` (``|e_c|`` is small: their spectra are smooth); a query ``q`` likewise into ``P q``
  and ``a_q``. Then ``|q - c|² = |P(q - c)|² + |a_q - e_c|² >= |P(q - c)|² + (|a_q| - |e_c|)²``,
  a squared distance in ``r + 1`` dimensions: one ``[n, r + 3] @ [r + 3, N]`` product per shift
  (the norms and the scale ride along), then the running max over shifts;
- the ``EXAMINED`` candidates of best bound per query get the exact distance; a query whose
  ``m``-th best exact total is below the bound of a candidate not examined (rare: ambiguous
  queries) gets the exact distance of every candidate its bound cannot exclude.

Exact up to float32 rounding: the totals are those of ``Whitening.scores`` summed in another
order (differences ~1e-6 of ``|q|² + |c|²``, far inside ``SLACK``).

The shift (``edgestream_plugins.cu_k.similarity.shifted``), the window and the whitening are
linear, so they are one matrix ``[len(grid), n_shifts * k]`` made once.
"""

from __future__ import annotations

import numpy as np

from edgestream_plugins.cu_k.similarity import (
    DERIVATIVE_WEIGHT,
    SHIFTS_EV,
    Whitening,
    shifted,
    window,
)

# PCA rank of the bound and candidates per query given the exact distance before the bound is
# checked. The bound's cost is mostly its running max over shifts (a floor near rank 8), the
# rest grows with the rank; a lower rank needs more candidates examined (simulated spectra, the
# most any query needed: rank 8: 91, 12: 65, 16: 49, 24: 25, 32: 11). Rank 12 with 64 was the
# fastest of these on the benchmark's batches of 256; a query that needs more takes the fallback.
RANK = 12
EXAMINED = 64
BLOCK = 64  # queries per block of the bound's running max over shifts
# float32 distances of |q|² + |c|² - 2 q·c carry errors of ~1e-6 of |q|² + |c|²: the bound
# is loosened by far more than that, so rounding can never exclude a candidate it should keep
SLACK = 1e-4


def shift_matrix(grid: np.ndarray, shifts: np.ndarray = SHIFTS_EV) -> np.ndarray:
    """``S [len(grid), n_shifts, len(grid)]`` with ``x @ S[:, s] == shifted(x, grid)[:, s]``
    (``shifted`` is a linear interpolation, end values held)."""
    eye = np.eye(grid.size)
    return shifted(eye, np.asarray(grid, dtype=float), shifts)


class WhitenedSearch:
    """Exact top candidates of ``-min over shifts of whitened distance / scale + bonus``.

    Built once per library: the fused shift-window-whitening matrix, the candidates, their
    PCA parts and norms.
    """

    def __init__(self, whitening: Whitening, spectra: np.ndarray, grid: np.ndarray,
                 shifts: np.ndarray = SHIFTS_EV, rank: int = RANK) -> None:
        grid = np.asarray(grid, dtype=float)
        self.shifts = np.asarray(shifts, dtype=float)
        s = shift_matrix(grid, self.shifts)[:, :, window(grid)]  # [g, S, w]
        fused = s @ whitening.transform.astype(np.float64)  # [g, S, k]
        self.n_shifts, self.k = fused.shape[1], fused.shape[2]
        self.fused = np.ascontiguousarray(fused.reshape(grid.size, -1), dtype=np.float32)
        c = whitening.candidates(spectra, grid)  # [N, k] float32, as Whitening.scores uses
        self.candidates = c
        self.c2 = np.einsum("nk,nk->n", c, c)
        c64 = c.astype(np.float64)
        self.mean = c64.mean(axis=0)
        centred = c64 - self.mean
        rank = min(rank, self.k, len(c))
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        self.basis = vt[:rank]  # [r, k]
        pc = centred @ self.basis.T
        e = np.sqrt(np.clip((centred**2).sum(axis=1) - (pc**2).sum(axis=1), 0.0, None))
        # [P c, |e_c|, 1, -|c - mean|²]: the candidate side of the augmented bound product
        self.bound_side = np.ascontiguousarray(np.concatenate(
            [pc, e[:, None], np.ones((len(c), 1)), -(centred**2).sum(axis=1)[:, None]],
            axis=1).T, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.candidates)

    def queries(self, x: np.ndarray) -> np.ndarray:
        """Whitened window of each query at each shift, ``[n, n_shifts, k]`` float32."""
        q = np.asarray(x, dtype=np.float32) @ self.fused
        return q.reshape(len(x), self.n_shifts, self.k)

    def distances(self, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Exact ``min over shifts`` whitened squared distance ``[n, m]`` of queries ``q``
        (:meth:`queries`) to their candidates ``cand [n, m]`` (the formula of
        ``Whitening.scores``)."""
        c = self.candidates[cand]  # [n, m, k]
        dots = np.matmul(q, c.transpose(0, 2, 1))  # [n, S, m]
        q2 = np.einsum("nsk,nsk->ns", q, q)
        d = q2[:, :, None] + self.c2[cand][:, None, :] - 2 * dots
        return d.min(axis=1)

    def upper_bounds(self, q: np.ndarray, bonus: np.ndarray, scale: float) -> np.ndarray:
        """``[n, N]`` float32: for every candidate, an upper bound of its total
        ``-min over shifts of d / scale + bonus`` (the PCA lower bound of the distance,
        loosened by ``SLACK``)."""
        qc = q.astype(np.float64) - self.mean  # [n, S, k]
        p = qc @ self.basis.T  # [n, S, r]
        q2 = (qc**2).sum(axis=2)
        a = np.sqrt(np.clip(q2 - (p**2).sum(axis=2), 0.0, None))
        # the slack is relative to the magnitudes the float32 exact distance works with
        size = np.einsum("nsk,nsk->ns", q, q).max(axis=1) + self.c2.max()
        # -LB_s / scale = [2 p_s, 2 a_s, -|q_s - mean|² + slack, 1] . [P c, e_c, 1,
        # -|c - mean|²] / scale: one augmented product per shift
        side = np.concatenate([2 * p, 2 * a[..., None], (SLACK * size[:, None] - q2)[..., None],
                               np.ones_like(a)[..., None]], axis=2) / scale
        side = np.ascontiguousarray(side.transpose(1, 0, 2), dtype=np.float32)  # [S, n, r+3]
        out = np.empty(bonus.shape, dtype=np.float32)
        tmp = np.empty((BLOCK, bonus.shape[1]), dtype=np.float32)
        for i in range(0, len(q), BLOCK):  # a block's running max stays in cache
            best, t = out[i:i + BLOCK], tmp[:min(BLOCK, len(q) - i)]
            np.matmul(side[0, i:i + BLOCK], self.bound_side, out=best)
            for j in range(1, len(side)):
                np.matmul(side[j, i:i + BLOCK], self.bound_side, out=t)
                np.maximum(best, t, out=best)
        out += bonus
        return out

    def top(self, x: np.ndarray, bonus: np.ndarray, scale: float, m: int,
            examined: int = EXAMINED) -> tuple[np.ndarray, np.ndarray]:
        """The ``m`` best candidates of each query ``x [n, len(grid)]`` by
        ``total = -min_s d_s / scale + bonus`` (``bonus [n, N]``, ``-inf`` excludes), and
        their totals, best first: ``([n, m] int, [n, m] float32)``."""
        n, size = len(x), len(self)
        m = min(m, size)
        q = self.queries(x)
        if size <= max(examined, m):  # a small library: every candidate exactly
            cand = np.broadcast_to(np.arange(size), (n, size))
            return self._best(q, cand, bonus, scale, m)
        bound = self.upper_bounds(q, bonus, scale)  # >= each exact total
        look = max(examined, m)
        part = np.argpartition(-bound, look, axis=1)  # [:look] the best bounds, [look] next
        cand = part[:, :look]
        best_idx, best = self._best(q, cand, bonus, scale, m)
        next_bound = np.take_along_axis(bound, part[:, look:look + 1], 1)[:, 0]
        for i in np.nonzero(next_bound > best[:, -1])[0]:
            # an unexamined candidate could still be among the best: examine all such
            rest = bound[i].copy()
            rest[cand[i]] = -np.inf
            pool = np.concatenate([cand[i], np.nonzero(rest > best[i, -1])[0]])
            idx, tot = self._best(q[i:i + 1], pool[None, :], bonus[i:i + 1], scale, m)
            best_idx[i], best[i] = idx[0], tot[0]
        return best_idx, best

    def _best(self, q: np.ndarray, cand: np.ndarray, bonus: np.ndarray, scale: float, m: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """The ``m`` best of candidates ``cand [n, c]`` by exact total, best first."""
        total = -self.distances(q, cand) / np.float32(scale) + np.take_along_axis(bonus, cand, 1)
        order = np.argsort(-total, axis=1, kind="stable")[:, :m]
        return np.take_along_axis(cand, order, 1), np.take_along_axis(total, order, 1)


class ProfileShifts:
    """Pearson profile similarity (``similarity.profile``) of queries at every shift with a
    few candidates each, batched: the shift, window, derivative and centring are linear, so a
    query's profiles at all shifts are one product with a matrix made once."""

    def __init__(self, profiles: np.ndarray, grid: np.ndarray,
                 shifts: np.ndarray = SHIFTS_EV) -> None:
        grid = np.asarray(grid, dtype=float)
        inside = window(grid)
        s = shift_matrix(grid, shifts)  # [g, S, g]
        d = np.gradient(s, grid, axis=-1) * DERIVATIVE_WEIGHT
        parts = [s[..., inside], d[..., inside]]
        parts = [p - p.mean(axis=-1, keepdims=True) for p in parts]
        linear = np.concatenate(parts, axis=-1)  # [g, S, 2w]
        self.n_shifts, self.width = linear.shape[1], linear.shape[2]
        self.linear = np.ascontiguousarray(linear.reshape(grid.size, -1), dtype=np.float32)
        self.profiles = np.asarray(profiles, dtype=np.float32)
        self.shifts = np.asarray(shifts)

    def best(self, x: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best similarity of queries ``x [n, len(grid)]`` with candidates ``top [n, m]`` over
        shifts, and the shift (eV) that gave it: ``[n, m]`` each."""
        q = (np.asarray(x, dtype=np.float32) @ self.linear).reshape(
            len(x), self.n_shifts, self.width)
        q /= np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-9)
        sims = np.matmul(q, self.profiles[top].transpose(0, 2, 1))  # [n, S, m]
        return sims.max(axis=1), self.shifts[sims.argmax(axis=1)]
