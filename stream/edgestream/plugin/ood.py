"""Out-of-distribution score of model inputs: PCA Mahalanobis distance and residual (numpy).

Shared by every plugin that ships an ``ood.npz`` (``[files.ood]`` in its manifest); the
training fits and saves it with the same class."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SMOOTH = 5  # points (2 eV on the 0.5 eV grid)


def smooth(x: np.ndarray) -> np.ndarray:
    """Boxcar of ``SMOOTH`` points along the last axis, ends held (rows ``[n, m]``)."""
    x = np.asarray(x, dtype=np.float64)
    return x @ smoothing_matrix(x.shape[-1])


@lru_cache(maxsize=16)
def smoothing_matrix(m: int) -> np.ndarray:
    """``[m, m]``: ``x @ it`` is the boxcar of ``SMOOTH`` points of rows ``x``, the end values
    held (each output point averages ``SMOOTH`` inputs, indices clipped to the row). One
    product per batch: no padding and cumulative sums per call."""
    pad = SMOOTH // 2
    out = np.zeros((m, m))
    for j in range(m):
        for i in np.clip(np.arange(j - pad, j + pad + 1), 0, m - 1):
            out[i, j] += 1.0 / SMOOTH
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class OodReference:
    """PCA of the (augmented) training inputs and the thresholds that define "in distribution".

    ``score(x)`` is ``max(d / d_max, r / r_max)``, with ``d`` the RMS of the standardized
    scores on the first ``k`` principal components (a Mahalanobis distance per component)
    and ``r`` the RMS residual of the rank-``k`` reconstruction, in units of normalized μ.
    ``d_max``/``r_max`` are the ``quantile`` of both over held-out spectra: a score above 1
    means the spectrum lies further out than that fraction of the validation spectra. Inputs
    are first smoothed (``SMOOTH`` points, boxcar) so that white noise, which the models are
    trained to tolerate, weighs little against a wrong shape.
    """

    mean: np.ndarray  # [n_grid]
    components: np.ndarray  # [k, n_grid], orthonormal rows
    scale: np.ndarray  # [k] std of the scores
    d_max: float
    r_max: float
    quantile: float

    @classmethod
    def fit(cls, train: np.ndarray, held_out: np.ndarray, k: int = 16,
            quantile: float = 0.995) -> OodReference:
        train = smooth(train)
        mean = train.mean(axis=0)
        _, s, vt = np.linalg.svd(train - mean, full_matrices=False)
        scale = s[:k] / np.sqrt(len(train) - 1)
        ref = cls(mean, vt[:k], scale, 1.0, 1.0, quantile)
        d, r = ref.distances(held_out)
        return cls(mean, vt[:k], scale, float(np.quantile(d, quantile)),
                   float(np.quantile(r, quantile)), quantile)

    def distances(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = smooth(x) - self.mean
        z = centred @ self.components.T
        d = np.sqrt(np.mean((z / self.scale) ** 2, axis=1))
        r = np.sqrt(np.mean((centred - z @ self.components) ** 2, axis=1))
        return d, r

    def score(self, x: np.ndarray) -> np.ndarray:
        d, r = self.distances(x)
        return np.maximum(d / self.d_max, r / self.r_max)

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean.astype(np.float32),
                 components=self.components.astype(np.float32),
                 scale=self.scale.astype(np.float32),
                 limits=np.array([self.d_max, self.r_max, self.quantile]))

    @classmethod
    def load(cls, path: Path) -> OodReference:
        with np.load(path) as z:
            d_max, r_max, q = (float(v) for v in z["limits"])
            return cls(z["mean"].astype(np.float64), z["components"].astype(np.float64),
                       z["scale"].astype(np.float64), d_max, r_max, q)
