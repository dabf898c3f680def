"""FEFF spectra → measured-like model inputs: the augmentation behind every Cu K-edge model.

FEFF spectra are sharper than measured ones, noise-free, exactly normalized, on an absolute
energy scale that is right only after the per-code calibration, and they cover a limited
range (FEFF9 from just below the edge to +140 eV, FEFF10 to about +57 eV). Each draw here
applies, per spectrum and in this order (ranges in ``AugmentConfig``):

1. extension below the first computed point by an exponential edge tail (value kept);
2. extra Gaussian and Lorentzian broadening (core-hole, monochromator, sample effects);
3. an energy shift (calibration error of code and beamline);
4. a limited measured range (the grid beyond it repeats the end values, as ``represent``
   does for real spectra);
5. normalization errors: edge-step scale, post-edge slope, pre-edge offset;
6. ``represent`` (the runtime's own code), then white noise on the input grid.

The axes default to the Cu K ones (absolute energies, ``GRID`` of the Cu K plugins); the 3d
K-edge family passes its own (:class:`Axes`, energies relative to each element's tabulated
edge), and adds fluorescence self-absorption damping (``self_absorption``, off for Cu K).

``mix`` makes linear combinations of two spectra (a two-phase sample: XAS is linear in the
phase fractions), for targets that are linear in them, such as the average valence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream_plugins.cu_k import CU_K_EDGE_EV, GRID, represent

WORK_STEP = 0.25  # eV, the uniform working axis of the broadening
WORK_AXIS = np.round(np.arange(GRID[0] - 15.0, GRID[-1] + 15.0 + WORK_STEP / 2, WORK_STEP), 3)


@dataclass(frozen=True)
class Axes:
    """Where augmentation works and what it returns: ``work`` (uniform, ``WORK_STEP``), the
    model ``grid`` and the ``edge`` energy from which the post-edge slope error grows (eV)."""

    work: np.ndarray = field(default_factory=lambda: WORK_AXIS)
    grid: np.ndarray = field(default_factory=lambda: GRID)
    edge: float = CU_K_EDGE_EV


CU_K_AXES = Axes()


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the augmentation (eV unless stated); draws are independent per spectrum."""

    gauss_sigma: tuple[float, float] = (0.0, 2.0)  # uniform
    lorentz_hwhm: tuple[float, float] = (0.0, 1.0)  # uniform
    # Energy shift: normal (foil-referenced beamlines agree within ~0.5 eV; the FEFF9
    # calibration spread is 0.5 eV) and, for a fraction, uniform within ±4 eV (a wrong or
    # missing reference). Wider shifts blur the chemical shift that carries the valence.
    shift_sigma: float = 0.75
    shift_wide: float = 4.0
    wide_fraction: float = 0.15
    range_low: tuple[float, float] = (GRID[0] - 10.0, GRID[0] + 6.0)  # first measured point
    range_high: tuple[float, float] = (GRID[-1] - 25.0, GRID[-1] + 10.0)  # last measured
    limited_fraction: float = 0.3  # fraction of draws with a limited range at all
    scale_sigma: float = 0.05  # edge-step scale error, relative
    slope_sigma: float = 0.04  # post-edge slope error, normalized μ per 100 eV
    offset_sigma: float = 0.01  # pre-edge offset error, normalized μ
    noise: tuple[float, float] = (1e-4, 3e-2)  # log-uniform white-noise std, normalized μ
    # Fluorescence self-absorption: μ → μ / (1 + a (μ - 1)) above the edge flattens the white
    # line of a thick, concentrated sample (a uniform in the range, for that fraction)
    self_absorption: tuple[float, float] = (0.0, 0.0)
    self_absorption_fraction: float = 0.0


def to_work_axis(energy: np.ndarray, mu: np.ndarray, tail_ev: float = 3.0,
                 axis: np.ndarray = WORK_AXIS) -> np.ndarray:
    """FEFF spectra (calibrated ``energy`` [m] or [n, m] on ``axis``'s scale, ``mu`` [n, m],
    NaN = not computed) on ``axis``: below the first point an exponential tail, beyond the
    last its value."""
    out = np.empty((mu.shape[0], axis.size))
    energy = np.asarray(energy, dtype=float)
    for i, row in enumerate(np.asarray(mu, dtype=float)):
        ei = energy[i] if energy.ndim == 2 else energy
        ok = np.isfinite(row) & np.isfinite(ei)
        e, y = ei[ok], row[ok]
        out[i] = np.interp(axis, e, y)
        below = e[0] > axis
        out[i, below] = y[0] * np.exp((axis[below] - e[0]) / tail_ev)
    return out


def _kernel_broaden(y: np.ndarray, sigma: np.ndarray, hwhm: np.ndarray) -> np.ndarray:
    """Each row convolved with its own Gaussian (std ``sigma``) ⊗ Lorentzian (``hwhm``)."""
    pad = 160  # 40 eV on each side: the Lorentzian tails
    x = WORK_STEP * np.arange(-pad, pad + 1)
    g = np.exp(-0.5 * (x[None] / np.maximum(sigma, 1e-3)[:, None]) ** 2)
    lor = np.maximum(hwhm, 1e-3)[:, None] / (x[None] ** 2 + np.maximum(hwhm, 1e-3)[:, None] ** 2)
    n_fft = 1 << int(np.ceil(np.log2(y.shape[1] + 4 * pad + 1)))
    kern = np.fft.rfft(np.fft.ifftshift(_pad_centre(g / g.sum(1, keepdims=True), n_fft), -1))
    kern *= np.fft.rfft(np.fft.ifftshift(_pad_centre(lor / lor.sum(1, keepdims=True), n_fft),
                                         -1))
    padded = np.pad(y, ((0, 0), (2 * pad, 2 * pad)), mode="edge")
    spec = np.fft.rfft(padded, n_fft)
    return np.fft.irfft(spec * kern, n_fft)[:, 2 * pad:2 * pad + y.shape[1]]


def _pad_centre(k: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((k.shape[0], n))
    c, h = n // 2, k.shape[1] // 2
    out[:, c - h:c - h + k.shape[1]] = k
    return out


def _shift(y: np.ndarray, shift_ev: np.ndarray) -> np.ndarray:
    """Rows moved up in energy by ``shift_ev`` (y_new(E) = y(E - shift)), ends held."""
    pos = np.arange(y.shape[1])[None, :] - shift_ev[:, None] / WORK_STEP
    pos = np.clip(pos, 0, y.shape[1] - 1)
    j = np.minimum(pos.astype(int), y.shape[1] - 2)
    t = pos - j
    rows = np.arange(y.shape[0])[:, None]
    return y[rows, j] * (1 - t) + y[rows, j + 1] * t


def augment(work: np.ndarray, rng: np.random.Generator,
            cfg: AugmentConfig = AugmentConfig(), axes: Axes = CU_K_AXES,
            represent_as: Any = None) -> np.ndarray:
    """Measured-like model inputs ``[n, len(axes.grid)]`` (float32) from spectra on
    ``axes.work``; ``represent_as(axis, y)`` replaces the Cu K ``represent`` (the 3d family's
    shape path reads each spectrum about its own e0)."""
    n = work.shape[0]
    y = _kernel_broaden(work, rng.uniform(*cfg.gauss_sigma, n), rng.uniform(*cfg.lorentz_hwhm, n))
    wide = rng.random(n) < cfg.wide_fraction
    shift = np.where(wide, rng.uniform(-cfg.shift_wide, cfg.shift_wide, n),
                     rng.normal(0.0, cfg.shift_sigma, n))
    y = _shift(y, shift)
    limited = rng.random(n) < cfg.limited_fraction
    lo = np.where(limited, rng.uniform(*cfg.range_low, n), -np.inf)
    hi = np.where(limited, rng.uniform(*cfg.range_high, n), np.inf)
    axis = axes.work
    e = axis[None, :]
    i_lo = np.clip(np.searchsorted(axis, lo), 0, axis.size - 1)
    i_hi = np.clip(np.searchsorted(axis, hi, side="right") - 1, 0, axis.size - 1)
    rows = np.arange(n)
    y = np.where(e < lo[:, None], y[rows, i_lo][:, None], y)
    y = np.where(e > hi[:, None], y[rows, i_hi][:, None], y)
    if cfg.self_absorption_fraction > 0:
        a = np.where(rng.random(n) < cfg.self_absorption_fraction,
                     rng.uniform(*cfg.self_absorption, n), 0.0)[:, None]
        y = np.where(y > 1.0, y / (1.0 + a * (y - 1.0)), y)
    above = np.clip(e - axes.edge, 0.0, None) / 100.0
    y = (y * (1.0 + rng.normal(0.0, cfg.scale_sigma, n))[:, None]
         + rng.normal(0.0, cfg.slope_sigma, n)[:, None] * above
         + rng.normal(0.0, cfg.offset_sigma, n)[:, None])
    x = (represent(axis, y, axes.grid)[0] if represent_as is None
         else np.asarray(represent_as(axis, y), dtype=float))
    noise = np.exp(rng.uniform(*np.log(cfg.noise), n))
    return (x + noise[:, None] * rng.standard_normal(x.shape)).astype(np.float32)


def clean(work: np.ndarray, axes: Axes = CU_K_AXES) -> np.ndarray:
    """Model inputs without augmentation (FEFF as computed, calibrated)."""
    return represent(axes.work, work, axes.grid)[0]


def mix(work: np.ndarray, target: np.ndarray, rng: np.random.Generator, n: int,
        pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` two-phase mixtures of rows of ``work`` (drawn from ``pool`` indices, default all)
    and the matching mixtures of ``target`` rows (fractions uniform in [0, 1]; ``target`` may
    be 1-D, e.g. valences, or 2-D, e.g. one-hot classes → class fractions)."""
    pool = np.arange(len(work)) if pool is None else pool
    a, b = rng.choice(pool, n), rng.choice(pool, n)
    f = rng.random(n)
    ft = f.reshape((-1,) + (1,) * (np.ndim(target) - 1))
    return f[:, None] * work[a] + (1 - f[:, None]) * work[b], ft * target[a] + (1 - ft) * target[b]
