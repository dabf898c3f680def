"""Forward model (M3GNet site features → spectrum) and the screening evaluation.

The forward model is OmniXAS-style: an MLP (BatchNorm, SiLU, Dropout) from the 64 raw gc_3
site features and the absorber's radial distribution (``site_geometry``; standardized inside
the network) to the calibrated FEFF spectrum on the Cu K grid. Its ensemble-mean
predictions, averaged over each material's Cu sites (weighted by multiplicity), are the
screening library's candidate spectra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgestream_models.augment import AugmentConfig, augment, clean
from edgestream_models.train import (
    MLP,
    CuKData,
    Ensemble,
    EnsembleMean,
    material_mean,
    predict,
    round_weights_to_half,
    train_ensemble,
)
from edgestream_plugins.cu_k import GRID
from edgestream_plugins.cu_k.similarity import Profiles, profile, similarity

# The screening target's query conditions: ±2 eV shift and noise, nothing else.
QUERY = AugmentConfig(gauss_sigma=(0.0, 0.0), lorentz_hwhm=(0.0, 0.0), shift_sigma=2.0,
                      shift_wide=2.0, wide_fraction=1.0, limited_fraction=0.0,
                      scale_sigma=0.0, slope_sigma=0.0, offset_sigma=0.0, noise=(1e-3, 1e-2))


@dataclass
class ForwardResult:
    model: Ensemble
    metrics: dict
    predicted: np.ndarray  # [n_rows, len(GRID)] ensemble mean for every data-set row
    spread: np.ndarray  # [n_rows] RMS member spread
    target: np.ndarray  # [n_rows, len(GRID)] clean FEFF inputs


def spearman_rows(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row pair over its masked points (no ties assumed)."""
    out = np.empty(len(a))
    for i in range(len(a)):
        ra = np.argsort(np.argsort(a[i, mask[i]]))
        rb = np.argsort(np.argsort(b[i, mask[i]]))
        out[i] = np.corrcoef(ra, rb)[0, 1]
    return out


# Two layers of 512: validation Spearman 0.939 vs 0.931 with 256 (2 members each); a third
# layer or a slope term in the loss did not help, 1024 wide would be a 46 MB file.
FORWARD_HIDDEN = (512, 512)


def train_forward(data: CuKData, *, members: int = 5, epochs: int = 400, seed: int = 0,
                  hidden: tuple[int, ...] = FORWARD_HIDDEN, dropout: float = 0.1,
                  feature_noise: float = 0.05) -> ForwardResult:
    target = clean(data.work)
    feats = data.structure_x
    tr, va, te = data.rows("train"), data.rows("val"), data.rows("test")
    mean, std = feats[tr].mean(0), feats[tr].std(0)
    x_tr, y_tr = feats[tr], target[tr]

    def draw(r: np.random.Generator) -> tuple[np.ndarray, np.ndarray, None]:
        noise = r.standard_normal(x_tr.shape).astype(np.float32) * std * feature_noise
        return x_tr + noise, y_tr, None

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out - y) ** 2).mean(dim=1)

    def validate(net: torch.nn.Module) -> float:
        return float(np.mean((predict(net, feats[va]) - target[va]) ** 2))

    model = train_ensemble(lambda: MLP(mean, std, len(GRID), hidden=hidden, dropout=dropout),
                           draw, loss_fn, validate, members=members, epochs=epochs, seed=seed,
                           desc="forward", lr=2e-3, batch=128)
    # float16 weights: the shipped file is half the size (8.4 -> 4.3 MB); rounding moves
    # predictions by ~3e-5, and every figure below is of the rounded model that ships
    round_weights_to_half(model)
    out = predict(model, feats)
    pred, spread = out.mean(1), np.sqrt((out.std(1) ** 2).mean(1))
    rho = spearman_rows(pred[te], target[te], data.valid[te])
    err = np.abs(pred[te] - target[te])[data.valid[te]]
    metrics = {"test_spearman_mean": float(rho.mean()), "test_spearman_median":
               float(np.median(rho)), "test_spearman_min": float(rho.min()),
               "test_mae": float(err.mean()), "test_sites": len(te),
               "val_mse": validate(EnsembleMean(model))}
    for src in np.unique(data.source[te]):
        sel = data.source[te] == src
        metrics[f"test_spearman_mean_{src}"] = float(rho[sel].mean())
    return ForwardResult(model, metrics, pred, spread, target)


def queries(data: CuKData, split: str, *, copies: int = 3, seed: int = 0,
            conditions: AugmentConfig = QUERY) -> tuple[np.ndarray, np.ndarray]:
    """Screening queries: each material's site-averaged FEFF spectrum (multiplicity
    weights) under ``conditions`` (default: the target's, ``QUERY``; ``AugmentConfig()``:
    measured-like), ``copies`` draws each: (material ids, inputs)."""
    rows = data.rows(split)
    names, spectra = material_mean(data.work[rows], data.material[rows], data.weight[rows])
    rng = np.random.default_rng(seed)
    x = np.concatenate([augment(spectra, rng, conditions) for _ in range(copies)])
    return np.tile(names, copies), x


def spectral_scores(x: np.ndarray, lib_profiles: np.ndarray) -> np.ndarray:
    candidates = Profiles(lib_profiles)  # the basis once, not once per chunk
    return np.concatenate([similarity(x[i:i + 256], candidates, GRID)[0]
                           for i in range(0, len(x), 256)])


def library_profiles(spectra: np.ndarray) -> np.ndarray:
    return profile(spectra.astype(np.float32), GRID).astype(np.float32)
