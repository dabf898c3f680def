"""Where does the quantity of interest change along x? Boundaries with a posterior each.

``locate`` is the estimator every strategy is judged with (grid, k-means and ours):

1. positions measured more than once are averaged (``Profile``);
2. the positions are split into K segments, each explained by one logistic step
   ``L + (R - L) / (1 + exp(-(x - c) / w))`` with its own levels: the split minimizing the
   total squared error over a coarse (c, w) grid (levels by least squares, so a wide
   transition that passes another phase's level is not mistaken for two boundaries);
3. each segment gets a posterior over (c, w) on a fine grid, levels profiled by least
   squares, flat in c and log w; the noise is the larger of the given σ and the scatter
   about the best fit (a wrong model is not trusted more than the data allow).

``BoundaryPosterior.acquisition`` is where a new point teaches most about ``c``: the spread
of the step models the posterior still allows (bisection for a sharp step, the steepest
part of a wide one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_WIDTHS = 20
COARSE_WIDTHS = 5
ANCHOR = 1.0  # weight of the level anchors at the segment ends, in points
PRIOR_DOF = 4.0  # how much the given noise floor counts against the scatter seen


@dataclass(frozen=True)
class Profile:
    """Measurements averaged per position: sorted ``x``, mean ``y``, count ``n``, σ per point."""

    x: np.ndarray
    y: np.ndarray
    n: np.ndarray
    sigma: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, sigma: float | np.ndarray,
              resolution: float = 1e-6) -> Profile:
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        s = np.broadcast_to(np.asarray(sigma, float), x.shape)[ok]
        x, y = x[ok], y[ok]
        keys = np.round(x / resolution).astype(np.int64)
        _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        ybar = np.bincount(inv, weights=y) / counts
        xbar = np.bincount(inv, weights=x) / counts
        var = np.bincount(inv, weights=s**2) / counts**2
        return cls(xbar, ybar, counts, np.sqrt(var))


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _fit(s: np.ndarray, y: np.ndarray, wt: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted least squares of ``y ≈ L + (R - L) s`` along the last axis of ``s``:
    chi², L, R (a constant where ``s`` does not vary).

    The first and last points also anchor the two levels (a pseudo-point each at s = 0
    and s = 1): a segment ends on the plateaus, so a step may not invent levels beyond them.
    """
    a0, a1 = ANCHOR * wt[0], ANCHOR * wt[-1]
    n_ = wt.sum() + a0 + a1
    s1 = (wt * s).sum(-1) + a1
    s2 = (wt * s * s).sum(-1) + a1
    yy = (wt * y * y).sum() + a0 * y[0] ** 2 + a1 * y[-1] ** 2
    ys = (wt * s * y).sum(-1) + a1 * y[-1]
    y1 = (wt * y).sum() + a0 * y[0] + a1 * y[-1]
    det = n_ * s2 - s1 * s1
    ok = det > 1e-9 * n_ * n_
    d = np.where(ok, (n_ * ys - s1 * y1) / np.where(ok, det, 1.0), 0.0)
    lev = np.where(ok, (y1 - d * s1) / n_, y1 / n_)
    chi2 = np.maximum(yy - lev * y1 - d * ys, 0.0)
    return chi2, lev, lev + d


@dataclass
class BoundaryPosterior:
    """Posterior of one boundary over ``centers`` × ``widths`` (mm), levels profiled."""

    centers: np.ndarray
    widths: np.ndarray
    post: np.ndarray  # [n_centers, n_widths], sums to 1
    left: np.ndarray  # level below the boundary, per (centre, width)
    right: np.ndarray
    significant: bool
    span: tuple[float, float]  # x range of the segment's data
    scale2: float = 1.0  # reduced chi² of the best fit (≥ 1): how much the noise was widened
    noise2: float = 1e-6  # variance of one measurement, in the quantity's units squared

    @property
    def best(self) -> tuple[float, float]:
        """The most probable (centre, width)."""
        c, w = np.unravel_index(np.argmax(self.post), self.post.shape)
        return float(self.centers[c]), float(self.widths[w])

    @property
    def marginal(self) -> np.ndarray:
        return self.post.sum(axis=1)

    @property
    def center(self) -> float:
        return float(self.marginal @ self.centers)

    @property
    def std(self) -> float:
        m = self.marginal
        return float(np.sqrt(max(0.0, m @ (self.centers - self.center) ** 2)))

    @property
    def left_level(self) -> float:
        return float((self.post * self.left).sum())

    @property
    def right_level(self) -> float:
        return float((self.post * self.right).sum())

    @property
    def bracket(self) -> tuple[float, float]:
        """The centres holding all but 0.5 % of the posterior on either side."""
        return self.interval(0.99)

    def interval(self, mass: float = 0.95) -> tuple[float, float]:
        cdf = np.cumsum(self.marginal)
        lo = min(int(np.searchsorted(cdf, (1 - mass) / 2)), len(cdf) - 1)
        hi = min(int(np.searchsorted(cdf, 1 - (1 - mass) / 2)), len(cdf) - 1)
        return float(self.centers[lo]), float(self.centers[hi])

    def p_within(self, tolerance: float) -> float:
        """Posterior probability that the true centre is within ``tolerance`` of ``center``
        (marginal over the width; 0 while the step is not seen)."""
        if not self.significant:
            return 0.0
        return float(self.marginal[np.abs(self.centers - self.center) <= tolerance].sum())

    def model(self, x: np.ndarray) -> np.ndarray:
        """Step models at ``x`` for every (centre, width): ``[n_centers, n_widths, len(x)]``."""
        z = (np.asarray(x, float)[None, None, :] - self.centers[:, None, None]) / self.widths[
            None, :, None]
        return self.left[..., None] + (self.right - self.left)[..., None] * _logistic(z)

    def acquisition(self, candidates: np.ndarray) -> np.ndarray:
        """Expected information about the centre from one measurement at each candidate
        (nats): ``H[y] - E_c H[y | c]`` with Gaussian approximations, the width a nuisance.
        Where different widths, not different centres, would change the value, a
        measurement teaches little about the centre and scores low."""
        keep = self.marginal > 1e-6 * self.marginal.max()
        post = self.post[keep]
        pc = post.sum(axis=1)
        m = BoundaryPosterior(self.centers[keep], self.widths, post, self.left[keep],
                              self.right[keep], self.significant, self.span).model(candidates)
        cond = (post / pc[:, None])[:, :, None]
        mean_c = (cond * m).sum(axis=1)
        var_c = (cond * (m - mean_c[:, None, :]) ** 2).sum(axis=1)
        pc = pc / pc.sum()
        mean = pc @ mean_c
        var = pc @ (var_c + (mean_c - mean) ** 2)
        return 0.5 * np.log(self.noise2 + var) - pc @ (0.5 * np.log(self.noise2 + var_c))


def _coarse_costs(p: Profile, wt: np.ndarray, w_lo: float, w_hi: float) -> tuple[np.ndarray, ...]:
    """Best one-step chi² of every prefix ``[0, j)`` and suffix ``[j, n)`` (coarse grid)."""
    mids = 0.5 * (p.x[1:] + p.x[:-1])
    centers = np.concatenate([mids, p.x])
    widths = np.exp(np.linspace(np.log(w_lo), np.log(w_hi), COARSE_WIDTHS))
    s = _logistic((p.x[None, None, :] - centers[:, None, None]) / widths[None, :, None])
    s = s.reshape(-1, len(p.x))

    def costs(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        c = lambda a: np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], 1)  # noqa: E731
        n_ = np.concatenate([[0.0], np.cumsum(w)])[None, :]
        s1, s2 = c(w * s), c(w * s * s)
        y1 = np.concatenate([[0.0], np.cumsum(w * y)])[None, :]
        yy = np.concatenate([[0.0], np.cumsum(w * y * y)])[None, :]
        ys = c(w * s * y)
        det = n_ * s2 - s1 * s1
        ok = det > 1e-9 * np.maximum(n_, 1e-12) ** 2
        d = np.where(ok, (n_ * ys - s1 * y1) / np.where(ok, det, 1.0), 0.0)
        lev = np.where(ok, (y1 - d * s1) / np.maximum(n_, 1e-12), y1 / np.maximum(n_, 1e-12))
        return np.maximum(yy - lev * y1 - d * ys, 0.0).min(axis=0)

    prefix = costs(s, p.y, wt)
    suffix = costs(s[:, ::-1], p.y[::-1], wt[::-1])[::-1]
    return prefix, suffix


def split(p: Profile, wt: np.ndarray, k: int, w_lo: float, w_hi: float) -> list[tuple[int, int]]:
    """K segments ``[i, j)`` of the sorted positions, one step each (greedy binary splits,
    exact for K = 2). Neighbouring segments share the position between them: it sits on
    the plateau both steps lead to. Every segment keeps at least two positions."""
    segs = [(0, len(p.x))]
    while len(segs) < k:
        best = None
        for idx, (i, j) in enumerate(segs):
            m = j - i
            if m < 3:
                continue
            sub = Profile(p.x[i:j], p.y[i:j], p.n[i:j], p.sigma[i:j])
            pre, suf = _coarse_costs(sub, wt[i:j], w_lo, w_hi)
            t = np.arange(1, m - 1)  # the shared position, local index
            total = pre[t + 1] + suf[t]
            cut = int(t[np.argmin(total)])
            gain = pre[-1] - float(total.min())
            if best is None or gain > best[0]:
                best = (gain, idx, i + cut)
        if best is None:
            break
        _, idx, cut = best
        i, j = segs.pop(idx)
        segs[idx:idx] = [(i, cut + 1), (cut, j)]
    return segs


def locate(
    x: np.ndarray,
    y: np.ndarray,
    n_boundaries: int,
    tolerance: float,
    sigma_floor: float,
    sigma: np.ndarray | float | None = None,
    z_significant: float = 3.0,
) -> list[BoundaryPosterior]:
    """Posteriors of the ``n_boundaries`` boundaries the data show, left to right.

    ``sigma`` (per measurement, e.g. a model's reported uncertainty) is floored at
    ``sigma_floor``. A step smaller than ``z_significant`` σ, or without a point on each
    side, comes back with ``significant=False``: bracketed, not found.
    """
    given = sigma_floor if sigma is None else np.maximum(sigma, sigma_floor)
    p = Profile.build(np.asarray(x, float), np.asarray(y, float), given)
    if len(p.x) < 2:
        return []
    wt = 1.0 / np.maximum(p.sigma, sigma_floor / np.sqrt(p.n)) ** 2
    gaps = np.diff(p.x)
    w_lo = max(1e-4, min(tolerance / 10.0, float(gaps.min()) / 8.0))  # sharp at any spacing
    w_hi = max(tolerance, (p.x[-1] - p.x[0]) / 10.0)
    widths = np.exp(np.linspace(np.log(w_lo), np.log(w_hi), N_WIDTHS))
    segs = split(p, wt, n_boundaries, w_lo, w_hi)
    out = _segment_posteriors(p, wt, segs, widths, tolerance, z_significant)
    # A shared position in a neighbour's tail would be taken for a plateau: move each one
    # to the position between the two centres farthest from both steps (in their own
    # widths), and fit again.
    moved = list(segs)
    for k in range(len(segs) - 1):
        (c0, w0), (c1, w1) = out[k].best, out[k + 1].best
        inside = np.flatnonzero((p.x > out[k].center) & (p.x < out[k + 1].center))
        if inside.size:
            depth = np.minimum((p.x[inside] - c0) / w0, (c1 - p.x[inside]) / w1)
            t = int(inside[np.argmax(depth)])
            if moved[k][0] + 1 <= t <= moved[k + 1][1] - 2:
                moved[k], moved[k + 1] = (moved[k][0], t + 1), (t, moved[k + 1][1])
    if moved != segs:
        out = _segment_posteriors(p, wt, moved, widths, tolerance, z_significant)
    return out


def _segment_posteriors(p: Profile, wt: np.ndarray, segs: list[tuple[int, int]],
                        widths: np.ndarray, tolerance: float, z_significant: float
                        ) -> list[BoundaryPosterior]:
    out = []
    for i, j in segs:
        xs, ys, ws = p.x[i:j], p.y[i:j], wt[i:j]
        fine = max(tolerance / 8.0, 1e-6)
        coarse = max(fine, (xs[-1] - xs[0]) / 80.0)
        b = _segment_posterior(xs, ys, ws, np.arange(xs[0], xs[-1] + coarse / 2, coarse),
                               widths)
        if coarse > fine:  # again, finely, where the coarse posterior left anything
            m = b.marginal
            live = b.centers[m > 1e-9 * m.max()]
            lo, hi = max(xs[0], live[0] - coarse), min(xs[-1], live[-1] + coarse)
            b = _segment_posterior(xs, ys, ws, np.arange(lo, hi + fine / 2, fine), widths)
        # Seen: the two levels differ beyond what the points on each side pin down.
        below = xs < b.center
        n_l, n_r = max(1, int(p.n[i:j][below].sum())), max(1, int(p.n[i:j][~below].sum()))
        noise = np.sqrt(b.scale2 / ws.mean() * (1 / n_l + 1 / n_r))
        b.significant = bool(abs(b.right_level - b.left_level) > z_significant * noise)
        out.append(b)
    return out


def _segment_posterior(xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, centers: np.ndarray,
                       widths: np.ndarray) -> BoundaryPosterior:
    s = _logistic((xs[None, None, :] - centers[:, None, None]) / widths[None, :, None])
    chi2, left, right = _fit(s, ys, ws)
    # Scatter beyond the assumed noise widens it all (shrunk towards 1 by PRIOR_DOF
    # pseudo-degrees of freedom, so two or three points cannot swing it).
    scale2 = max(1.0, (float(chi2.min()) + PRIOR_DOF) / (max(0, len(xs) - 4) + PRIOR_DOF))
    logp = -0.5 * chi2 / scale2
    post = np.exp(logp - logp.max())
    post /= post.sum()
    return BoundaryPosterior(centers, widths, post, left, right, False,
                             (float(xs[0]), float(xs[-1])), scale2,
                             scale2 * float(np.mean(1.0 / ws)))


def boundaries_within(found: list[BoundaryPosterior], truth: list[float] | tuple[float, ...],
                      tolerance: float) -> bool:
    """True when every true boundary was found (significant) within ``tolerance``."""
    centers = sorted(b.center for b in found if b.significant)
    if len(centers) != len(truth):
        return False
    return all(abs(c - t) <= tolerance for c, t in zip(centers, sorted(truth), strict=True))
