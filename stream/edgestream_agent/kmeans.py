"""The baseline beamlines run today: the k-means agent of bmm-agents (NSLS-II BMM).

``ActiveKmeansAgent._sample_uncertainty_proxy`` (bmm_agents/sklearn.py) clusters the
measured spectra with k-means, takes each spectrum's distance to its nearest cluster centre
as an uncertainty proxy, fits it over position with a degree-5 polynomial, evaluates the fit
on a grid of ``min_step`` and draws the next position at random with probability
proportional to the (non-negative) fit. Suggestions already in its discretized knowledge
cache are discarded. Reimplemented here with numpy (k-means++ and Lloyd iterations, as
scikit-learn's ``KMeans`` with one initialization) for a like-for-like comparison.
"""

from __future__ import annotations

import numpy as np

from edgestream_agent.strategies import Bounds, Measurements, Proposal, Strategy


def kmeans(data: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 300,
           tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres ``[k, m]`` and each row's distances to them ``[n, k]``."""
    x = np.asarray(data, float)
    k = min(k, len(x))
    centers = x[[rng.integers(len(x))]]
    for _ in range(1, k):  # k-means++: next centre with probability ∝ squared distance
        d2 = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        centers = np.vstack([centers, x[rng.choice(len(x), p=p)]])
    scale = tol * float(np.mean(np.var(x, axis=0))) * x.shape[1]
    for _ in range(max_iter):
        labels = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        new = np.stack([x[labels == j].mean(axis=0) if np.any(labels == j) else centers[j]
                        for j in range(k)])
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= scale:
            break
    dist = np.sqrt(((x[:, None, :] - centers[None]) ** 2).sum(axis=2))
    return centers, dist


class KMeansStrategy(Strategy):
    """bmm-agents' ``ActiveKmeansAgent`` on a 1-D stage (see the module docstring)."""

    name = "kmeans"

    def __init__(self, bounds: Bounds, k_clusters: int, rng: np.random.Generator,
                 min_step: float = 0.1, degree: int = 5, n_seed: int = 6,
                 max_redraws: int = 100) -> None:
        super().__init__(bounds, n_seed=max(n_seed, degree + 1))
        self.k = k_clusters
        self.rng = rng
        self.min_step = min_step
        self.degree = degree
        self.max_redraws = max_redraws
        self.knowledge: set[int] = set()

    def _key(self, x: float) -> int:
        return round(x / self.min_step)

    def landscape(self, m: Measurements) -> tuple[np.ndarray, np.ndarray]:
        """The candidate positions and the fitted uncertainty proxy over them."""
        if m.spectra is None:
            raise ValueError("the k-means baseline clusters spectra: none given")
        order = np.argsort(m.x, kind="stable")
        x, obs = np.asarray(m.x, float)[order], np.nan_to_num(m.spectra[order])
        _, dist = kmeans(obs, self.k, self.rng)
        golf = dist.min(axis=1)  # "golf score": distance to the nearest centre
        cand = np.arange(self.bounds.lo, self.bounds.hi, self.min_step)
        coef = np.polynomial.polynomial.polyfit(x, golf, deg=min(self.degree, len(x) - 1))
        return cand, np.polynomial.polynomial.polyval(cand, coef)

    def propose(self, m: Measurements, n: int) -> list[Proposal]:
        for x in m.x:
            self.knowledge.add(self._key(float(x)))
        cand, fit = self.landscape(m)
        p = np.clip(fit, 0.0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(len(cand), 1 / len(cand))
        out: list[Proposal] = []
        for _ in range(self.max_redraws):  # bmm drops redundant picks; we redraw instead
            i = int(self.rng.choice(len(cand), p=p))
            key = self._key(float(cand[i]))
            if key in self.knowledge:
                continue
            self.knowledge.add(key)
            out.append(Proposal(float(cand[i]), float(fit[i]),
                                "k-means distance-to-centre proxy (bmm-agents)"))
            if len(out) == n:
                break
        return out
