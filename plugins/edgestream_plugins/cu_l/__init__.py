"""Cu L2,3 valence and mixed-valence fractions from EELS or soft-X-ray XAS: random forests in ONNX.

The published method this follows (random forest on Cu L2,3 spectra, uncertainty as the
spread over trees, mixed valence as linear combinations) is applied to an edge-aligned
representation so that it works on EELS, whose energy scale is only known to 1-2 eV:

- ``represent``: the step-normalized spectrum on ``GRID`` (eV relative to the L3 onset that
  the pipeline found: EELS ``find_edge_onset``, XAS ``pre_edge`` e0) followed by its
  cumulative sum (the published feature, which weighs the white-line area), float32.
- ``valence.onnx``: every tree's probabilities of Cu(0)..Cu(III), ``[n, n_trees * 4]``; each
  forest's valence is the continuous median of their mean over trees (``class_median``: a
  clear state reads its integer, a mixture between its phases), its uncertainty the spread
  of the trees' own medians.
- ``fractions.onnx``: every tree's fractions of Cu(0), Cu(I), Cu(II), ``[n, n_trees * 3]``.
- ``ood.npz``: the PCA reference of the training inputs (:class:`OodReference`); a spectrum
  scoring above 1, or covering less than ``MIN_COVERAGE`` of the grid, is flagged ``ood``.

Training data, metrics and limits: ``card.json`` (written by ``python -m
edgestream_models.ledge``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.api import SpectrumBatch
from edgestream.plugin.base import OnnxModel, rounded_list

__all__ = ["FRACTION_CLASSES", "GRID", "MIN_COVERAGE", "VALENCE_CLASSES", "CuLValence",
           "class_median", "median_summary", "represent", "shared_axis", "tree_summary"]

GRID = np.round(np.arange(-5.0, 40.0 + 0.25, 0.5), 3)  # eV from the L3 onset: L3 and L2
FRACTION_CLASSES = ("Cu(0)", "Cu(I)", "Cu(II)")
VALENCE_CLASSES = 4  # Cu(0)..Cu(III): the valence forest's outputs per tree
MIN_COVERAGE = 0.8


def represent(energy: np.ndarray | list[np.ndarray], norm: np.ndarray | list[np.ndarray],
              onset: np.ndarray, grid: np.ndarray = GRID) -> tuple[np.ndarray, np.ndarray]:
    """Model input ``[n, 2 * len(grid)]`` (float32) and each row's coverage of the grid.

    Arguments:
        energy: eV (loss or photon energy), one ascending axis ``[m]`` for all rows or one
            per row.
        norm: step-normalized signal ``[n, m]`` (or a list of rows); NaN where not measured.
        onset: eV ``[n]``, the L3 onset (the pipeline's e0).
        grid: eV relative to ``onset``.

    The first half is the signal interpolated at ``onset + grid`` (end values held outside
    the measured range), the second its cumulative sum times the grid step over the grid's
    span (so both halves are of order 1).
    """
    onset = np.atleast_1d(np.asarray(onset, dtype=float))
    n = onset.size
    grid = np.asarray(grid, dtype=float)
    signal = np.full((n, grid.size), np.nan)
    coverage = np.zeros(n)
    shared = not isinstance(energy, list) and np.ndim(energy) == 1
    todo = np.ones(n, dtype=bool)
    if shared:  # spectrum-image rows: one axis, all rows at once where nothing is missing
        e = np.asarray(energy, dtype=float)
        y = np.asarray(norm, dtype=float)
        whole = np.isfinite(onset) & np.isfinite(y).all(axis=1)
        if e.size >= 2 and np.isfinite(e).all() and whole.any():
            at = onset[whole, None] + grid[None, :]
            signal[whole] = _interp_rows(e, y[whole], at)
            coverage[whole] = np.mean((at >= e[0]) & (at <= e[-1]), axis=1)
            todo &= ~whole
    for i in np.nonzero(todo)[0]:
        e = np.asarray(energy if shared else energy[i], dtype=float)
        y = np.asarray(norm[i], dtype=float)
        ok = np.isfinite(e) & np.isfinite(y)
        if np.count_nonzero(ok) < 2 or not np.isfinite(onset[i]):
            continue
        e, y = e[ok], y[ok]
        at = onset[i] + grid
        signal[i] = np.interp(at, e, y)
        coverage[i] = np.mean((at >= e[0]) & (at <= e[-1]))
    step = float(grid[1] - grid[0])
    cumulative = np.cumsum(signal, axis=1) * step / float(grid[-1] - grid[0])
    return np.concatenate([signal, cumulative], axis=1).astype(np.float32), coverage


def _interp_rows(e: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``np.interp(at[i], e, y[i])`` for every row at once (``e`` ascending, shared)."""
    at = np.clip(at, e[0], e[-1])  # np.interp holds the end values outside
    j = np.clip(np.searchsorted(e, at, side="right") - 1, 0, e.size - 2)
    w = (at - e[j]) / (e[j + 1] - e[j])
    lo = np.take_along_axis(y, j, axis=1)
    hi = np.take_along_axis(y, j + 1, axis=1)
    return lo + w * (hi - lo)


def shared_axis(energy: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """The one axis of every row when they share it (spectrum-image rows share one loss
    axis), else ``energy`` itself. One array comparison, not one per row."""
    first = energy[0] if len(energy) else None
    if first is None or all(e is first for e in energy):
        return energy if first is None else first
    if any(np.shape(e) != first.shape for e in energy):
        return energy
    return first if bool((np.stack(energy) == first).all()) else energy


def tree_summary(per_tree: np.ndarray, n_outputs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (std) over trees of ``[n, n_trees * n_outputs]`` tree outputs
    (tree-major), each ``[n, n_outputs]``."""
    trees = per_tree.reshape(len(per_tree), -1, n_outputs)
    return trees.mean(axis=1), trees.std(axis=1)


def class_median(p: np.ndarray) -> np.ndarray:
    """Continuous median of class weights ``p`` [..., K] over classes 0..K-1, each a unit-wide
    bin centred on its index: where the cumulative weight reaches half the total. A sure
    class reads its index, an even split of neighbours half-way, a 90/10 split 0.06 from
    the majority (the mean would say 0.1)."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, None)
    p = p / np.clip(p.sum(axis=-1, keepdims=True), 1e-12, None)
    above = np.cumsum(p, axis=-1)
    below = above - p
    return np.clip((0.5 - below) / np.maximum(p, 1e-9), 0.0, 1.0).sum(axis=-1) - 0.5


def median_summary(per_tree: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """From ``[n, n_trees * n_classes]`` tree outputs (tree-major): the forest's valence, the
    :func:`class_median` of the trees' mean weights, and its spread, the std over trees of each
    tree's own median: ``([n], [n])``. (The mean of the trees' medians would pull clear
    spectra towards the middle, as a regression forest does.)"""
    trees = per_tree.reshape(len(per_tree), -1, n_classes)
    return class_median(trees.mean(axis=1)), class_median(trees).std(axis=1)


class CuLValence(OnnxModel):
    """Cu valence and Cu(0)/Cu(I)/Cu(II) fractions from the Cu L2,3 edge (EELS, soft XAS)."""

    folder = Path(__file__).parent  # its plugin.toml: name, edges, modalities, opt_in...
    model_key = "valence"

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        self.loaded()
        energy = shared_axis(batch.energy)
        x, coverage = represent(energy, batch.measured, batch.e0)
        out: list[dict[str, Any]] = [
            {"value": None, "uncertainty": None, "fractions": None, "ood": True,
             "ood_score": None} for _ in range(len(batch))]
        idx = np.nonzero(np.isfinite(x).all(axis=1))[0]
        if not len(idx):
            return out
        x = x[idx]
        half = x.shape[1] // 2
        score = self.ood.score(x[:, :half])
        valence, v_spread = median_summary(self.run("valence", x), VALENCE_CLASSES)
        frac, f_spread = tree_summary(self.run("fractions", x), len(FRACTION_CLASSES))
        frac = np.clip(frac, 0.0, None)
        frac /= np.clip(frac.sum(axis=1, keepdims=True), 1e-9, None)
        lo, hi = self.manifest.outputs["value"].range
        max_spread = self.manifest["ood"]["max_spread"]
        ood = ((score > 1.0) | (coverage[idx] < MIN_COVERAGE) | (v_spread > max_spread)).tolist()
        # whole columns rounded at once; one dict per spectrum is the plugin contract
        columns = zip(idx.tolist(), rounded_list(np.clip(valence, lo, hi), 3),
                      rounded_list(v_spread, 3), rounded_list(frac, 3), rounded_list(f_spread, 3),
                      rounded_list(frac @ np.arange(3.0), 3), ood, rounded_list(score, 3),
                      strict=True)
        for i, value, spread, fr, fr_spread, mixture, is_ood, ood_score in columns:
            out[i] = {
                "value": value,
                "uncertainty": spread,
                "fractions": dict(zip(FRACTION_CLASSES, fr, strict=True)),
                "fraction_uncertainty": dict(zip(FRACTION_CLASSES, fr_spread, strict=True)),
                "mixture_valence": mixture,
                "ood": is_ood,
                "ood_score": ood_score,
            }
        return out
