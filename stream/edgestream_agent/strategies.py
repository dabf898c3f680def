"""Where to measure next: uniform grid, boundary finding (ours), uncertainty/novelty sampling.

A strategy sees the measurements of one sample (``Measurements``) and proposes positions
(``Proposal``: position, score, reason); ``done`` says whether it would stop. The k-means
baseline of bmm-agents lives in ``kmeans.py``.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream_agent.boundary import BoundaryPosterior, locate


@dataclass
class Measurements:
    """What a strategy may use, one row per measured spectrum of a sample."""

    x: np.ndarray  # positions, [n] (mm)
    y: np.ndarray  # quantity of interest, [n]
    sigma: np.ndarray | None = None  # reported uncertainty of y, [n]
    spectra: np.ndarray | None = None  # normalized spectra on one grid, [n, m]

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Proposal:
    position: float
    score: float
    reason: str


@dataclass
class Bounds:
    """The stage range a strategy may propose (mm)."""

    lo: float
    hi: float

    def clip(self, x: float) -> float:
        return float(min(self.hi, max(self.lo, x)))


@dataclass(eq=False)
class Strategy(ABC):
    """Propose the next positions; ``done`` is the strategy's own stop rule. ``n_seed``:
    evenly spaced positions measured first (a keyword in every strategy)."""

    name = "strategy"

    bounds: Bounds
    n_seed: int = field(default=6, kw_only=True)

    def seeds(self) -> list[float]:
        return list(np.linspace(self.bounds.lo, self.bounds.hi, self.n_seed))

    def suggest(self, m: Measurements, n: int = 1) -> list[Proposal]:
        """Seed positions first (a uniform coarse pass), then the strategy's own choice."""
        measured = set(np.round(m.x, 6).tolist())
        todo = [s for s in self.seeds() if round(s, 6) not in measured]
        if todo:
            return [Proposal(s, 1.0, "seed: uniform coarse pass") for s in todo[:n]]
        return self.propose(m, n)

    @abstractmethod
    def propose(self, m: Measurements, n: int) -> list[Proposal]: ...

    def done(self, m: Measurements) -> bool:
        return False

    def describe(self, m: Measurements) -> dict[str, Any]:
        """The strategy's view of the sample, for reports and the live page."""
        return {"name": self.name}


class GridStrategy(Strategy):
    """What beamlines run today: ``n_points`` evenly spaced, in order."""

    name = "grid"

    def __init__(self, bounds: Bounds, n_points: int) -> None:
        super().__init__(bounds, n_seed=n_points)

    def propose(self, m: Measurements, n: int) -> list[Proposal]:
        return []

    def done(self, m: Measurements) -> bool:
        return len(m) >= self.n_seed


@dataclass(eq=False)
class BoundaryStrategy(Strategy):
    """Ours: find ``n_boundaries`` changes of the quantity, each to ``tolerance`` (mm).

    After the seeds, each step measures where the posterior of the least certain boundary
    disagrees most (bisection for a sharp step, the steepest part of a wide one). Brackets
    of boundaries not yet seen are split at their middle. Stops when every boundary lies
    within ``tolerance`` with probability ``confidence``.
    """

    name = "boundary"

    n_boundaries: int
    tolerance: float
    sigma_floor: float
    confidence: float = 0.95
    max_scans: int = 200
    last: list[BoundaryPosterior] = field(default_factory=list, init=False, repr=False)
    _key: tuple[int, float, float] | None = field(default=None, init=False, repr=False)

    def posteriors(self, m: Measurements) -> list[BoundaryPosterior]:
        key = (len(m), float(np.sum(m.x)), float(np.nansum(m.y)))
        if key != self._key:
            self.last = locate(m.x, m.y, self.n_boundaries, self.tolerance,
                               self.sigma_floor, m.sigma)
            self._key = key
        return self.last

    def unresolved(self, posts: list[BoundaryPosterior]) -> list[BoundaryPosterior]:
        return [b for b in posts if b.p_within(self.tolerance) < self.confidence]

    def propose(self, m: Measurements, n: int) -> list[Proposal]:
        posts = self.posteriors(m)
        todo = sorted(self.unresolved(posts), key=lambda b: b.p_within(self.tolerance))
        out = [Proposal(x, 0.0, "the plateau between two boundaries has no point of its own "
                        "yet: the steps' levels need one") for x in self._plateaus(m, posts)]
        for b in todo[:max(0, n - len(out))]:
            if not b.significant:
                xs = np.unique(m.x[(m.x >= b.span[0]) & (m.x <= b.span[1])])
                g = int(np.argmax(np.diff(xs))) if len(xs) > 1 else 0
                mid = 0.5 * (xs[g] + xs[g + 1]) if len(xs) > 1 else 0.5 * sum(b.span)
                out.append(Proposal(self.bounds.clip(float(mid)), 1.0,
                                    "boundary not seen yet: widest gap where it must be"))
                continue
            plateau = self._plateau(m, b)
            if plateau is not None:
                out.append(Proposal(plateau, 0.0, f"boundary near {b.center:.2f} mm is wide: "
                                    "its plateau level pins the centre down"))
                continue
            cand = np.linspace(b.bracket[0], b.bracket[1], 121)
            score = b.acquisition(cand)
            i = int(np.argmax(score))
            out.append(Proposal(
                self.bounds.clip(float(cand[i])), float(score[i]),
                f"boundary near {b.center:.2f} mm, P(within ±{self.tolerance:g}) = "
                f"{b.p_within(self.tolerance):.2f}: most informative point"))
        if len(posts) < self.n_boundaries and len(out) < n:
            out += self._widest_gap(m, n - len(out))
        return out

    def _plateaus(self, m: Measurements, posts: list[BoundaryPosterior]) -> list[float]:
        """Middles of plateaus between found boundaries (beyond 3 widths of each) that no
        measurement has touched: a level read off a slope would bias both centres."""
        found = [b.best for b in posts if b.significant]
        out = []
        for (c0, w0), (c1, w1) in itertools.pairwise(found):
            lo, hi = c0 + 3 * w0, c1 - 3 * w1
            if hi > lo and not np.any((m.x >= lo) & (m.x <= hi)):
                out.append(self.bounds.clip(0.5 * (lo + hi)))
        return out

    def _plateau(self, m: Measurements, b: BoundaryPosterior) -> float | None:
        """Across a wide step the midpoint is only as good as the two levels: once six or
        more points sit on the slope and the plateaus (beyond 3 widths) hold under half as
        many, a point 4 widths out on the thinner side."""
        c, w = b.best
        if w <= self.tolerance / 2:
            return None
        x = m.x[(m.x >= b.span[0]) & (m.x <= b.span[1])]
        left, right = int(np.sum(x < c - 3 * w)), int(np.sum(x > c + 3 * w))
        slope = int(np.sum(np.abs(x - c) <= 3 * w))
        if slope < 6 or 2 * min(left, right) >= slope:
            return None
        target = c - 4 * w if left <= right else c + 4 * w
        return self.bounds.clip(float(np.clip(target, b.span[0], b.span[1])))

    def _widest_gap(self, m: Measurements, n: int) -> list[Proposal]:
        xs = np.unique(np.concatenate([m.x, [self.bounds.lo, self.bounds.hi]]))
        gaps = np.argsort(np.diff(xs))[::-1][:n]
        return [Proposal(float(0.5 * (xs[i] + xs[i + 1])), float(xs[i + 1] - xs[i]),
                         "fewer boundaries seen than expected: widest gap") for i in gaps]

    def describe(self, m: Measurements) -> dict[str, Any]:
        posts = self.posteriors(m) if len(m) >= 2 else []
        return {"name": self.name, "tolerance": self.tolerance, "boundaries": [
            {"center": b.center, "interval95": list(b.interval()), "found": b.significant,
             "p_within": b.p_within(self.tolerance), "levels": [b.left_level, b.right_level]}
            for b in posts]}

    def done(self, m: Measurements) -> bool:
        if len(m) >= self.max_scans:
            return True
        if len(m) < self.n_seed:
            return False
        posts = self.posteriors(m)
        return len(posts) == self.n_boundaries and not self.unresolved(posts)


@dataclass(eq=False)
class UncertaintyStrategy(Strategy):
    """Measure where the quantity is least known, its model most uncertain, or the spectra
    most novel.

    Score of a candidate = Gaussian-process posterior std of the quantity (squared-exponential
    kernel, ``length_scale`` mm) + ``w_model`` × the models' reported uncertainty nearby +
    ``w_novelty`` × the spectral novelty nearby (distance of each measured spectrum to its
    nearest other spectrum, relative to the typical distance).
    """

    name = "uncertainty"

    length_scale: float
    sigma_floor: float
    w_model: float = 1.0
    w_novelty: float = 0.5
    resolution: float = 0.1

    def scores(self, m: Measurements, cand: np.ndarray) -> np.ndarray:
        x, y = np.asarray(m.x, float), np.asarray(m.y, float)
        amp = max(float(np.std(y)), self.sigma_floor)
        noise = self.sigma_floor if m.sigma is None else np.maximum(m.sigma, self.sigma_floor)
        k = amp**2 * np.exp(-0.5 * ((x[:, None] - x[None, :]) / self.length_scale) ** 2)
        k[np.diag_indices_from(k)] += np.broadcast_to(noise, x.shape) ** 2
        ks = amp**2 * np.exp(-0.5 * ((cand[:, None] - x[None, :]) / self.length_scale) ** 2)
        solved = np.linalg.solve(k, ks.T)
        gp_std = np.sqrt(np.clip(amp**2 - np.einsum("ij,ji->i", ks, solved), 0.0, None))
        near = np.exp(-0.5 * ((cand[:, None] - x[None, :]) / self.length_scale) ** 2)
        near /= near.sum(axis=1, keepdims=True) + 1e-12
        score = gp_std / amp
        if m.sigma is not None:
            score = score + self.w_model * (near @ np.asarray(m.sigma, float)) / amp
        if m.spectra is not None and len(m.spectra) > 2:
            score = score + self.w_novelty * (near @ novelty(m.spectra))
        return score

    def candidates(self) -> np.ndarray:
        return np.arange(self.bounds.lo, self.bounds.hi + self.resolution / 2, self.resolution)

    def describe(self, m: Measurements) -> dict[str, Any]:
        cand = self.candidates()
        step = max(1, len(cand) // 120)
        return {"name": self.name, "x": cand[::step].tolist(),
                "score": self.scores(m, cand)[::step].tolist()}

    def propose(self, m: Measurements, n: int) -> list[Proposal]:
        cand = self.candidates()
        score = self.scores(m, cand)
        out: list[Proposal] = []
        for _ in range(n):
            i = int(np.argmax(score))
            out.append(Proposal(float(cand[i]), float(score[i]),
                                "highest uncertainty/novelty score"))
            score = score * (1 - np.exp(-0.5 * ((cand - cand[i]) / self.length_scale) ** 2))
        return out


def novelty(spectra: np.ndarray) -> np.ndarray:
    """Each spectrum's distance to its nearest other spectrum, over the median such distance."""
    s = np.nan_to_num(np.asarray(spectra, float))
    d = np.sqrt(((s[:, None, :] - s[None, :, :]) ** 2).mean(axis=2))
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    return nearest / max(float(np.median(nearest)), 1e-12)


@dataclass
class MeanConverged:
    """Stop/continue for a set of repeated scans: stop once the running mean of the
    quantity is known to ``tolerance`` (standard error) and its last ``window`` values moved
    less than ``tolerance``; never before ``min_scans`` nor after ``max_scans``."""

    tolerance: float
    min_scans: int = 3
    max_scans: int = 50
    window: int = 3
    history: list[float] = field(default_factory=list)

    def update(self, values: np.ndarray) -> bool:
        """Feed all values so far; True means stop."""
        v = np.asarray(values, float)
        if len(v) >= 1:
            self.history.append(float(v.mean()))
        if len(v) >= self.max_scans:
            return True
        if len(v) < self.min_scans:
            return False
        sem = float(v.std(ddof=1) / np.sqrt(len(v)))
        recent = self.history[-self.window:]
        return sem <= self.tolerance and max(recent) - min(recent) <= self.tolerance
