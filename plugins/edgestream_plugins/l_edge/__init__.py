"""L2,3-edge valence of the battery metals Mn, Fe, Co and Ni (EELS, soft XAS): one plugin
family, one folder per element (``<el>_valence``), each with its own card.

The input is the Cu L2,3 plugin's (:func:`edgestream_plugins.cu_l.represent`): the
step-normalized spectrum on ``GRID`` and its cumulative sum, in eV from an anchor on the
spectrum itself (so an EELS energy scale known only to 1-2 eV does not matter): the
:func:`half_rise` of the first white line near the pipeline's e0. The pipeline's own e0 is
not stable enough for that here: in soft XAS it is the steepest point, which yield
saturation moves by 2-3 eV (it damps the white line more than its foot). L3 and L2 of all four
elements lie within the grid (their 2p spin-orbit splittings are 11-17 eV).

``valence.onnx`` gives every tree's weights of the element's formal oxidation states
(``[valence].classes`` in plugin.toml, e.g. Mn 2, 3, 4); the valence is the continuous median
of the trees' mean weights (a clear state reads its integer, a Mn3O4-like mixture between its
phases), the uncertainty the spread of each tree's own median, ``state`` the most probable
oxidation state and ``probabilities`` the mean weights. Models: random forests on edrixs
multiplet spectra with simulated EELS acquisition (``python -m edgestream_models.lmetals``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgestream.plugin.api import SpectrumBatch
from edgestream.plugin.base import OnnxModel, folder_family, rounded_list
from edgestream_plugins.cu_l import GRID, MIN_COVERAGE, class_median, represent, shared_axis

__all__ = ["ELEMENTS", "GRID", "HALF_RISE_WINDOW", "ROMAN", "TARGETS", "LEdgeValence",
           "half_rise", "meets_targets", "state_name"]

ELEMENTS = ("Mn", "Fe", "Co", "Ni")
ROMAN = {0: "0", 1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}
# The target on held-out simulated spectra under EELS noise; a card meeting it runs
# by default
TARGETS: dict[str, tuple[str, float]] = {"test_accuracy": (">=", 0.90)}
FOLDER = Path(__file__).parent
HALF_RISE_WINDOW = (-8.0, 8.0)  # eV about the pipeline's e0 where the anchor is looked for
HALF_RISE_SMOOTH_EV = 1.0


def _first_crossing(e: np.ndarray, y: np.ndarray, e0: np.ndarray) -> np.ndarray:
    """Per row of ``y`` (``[n, m]`` on the axis ``e``): the first energy within
    ``HALF_RISE_WINDOW`` of ``e0`` where ``y`` reaches 0.5 (linear between points); ``e0``
    where it does not."""
    lo, hi = HALF_RISE_WINDOW
    inside = (e[None, :] >= e0[:, None] + lo) & (e[None, :] <= e0[:, None] + hi)
    up = inside & (np.nan_to_num(y, nan=-np.inf) >= 0.5)
    found = up.any(axis=1)
    j = np.argmax(up, axis=1)
    i = np.clip(j - 1, 0, e.size - 1)
    rows = np.arange(len(y))
    y0, y1 = y[rows, i], y[rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.nan_to_num((0.5 - y0) / (y1 - y0), nan=1.0), 0.0, 1.0)
    at = np.where((j > 0) & inside[rows, i], e[i] + t * (e[j] - e[i]), e[j])
    return np.where(found, at, e0)


def _smooth(y: np.ndarray, half: int) -> np.ndarray:
    """Moving mean over ``2 half + 1`` points along the last axis (NaN kept out)."""
    if half < 1:
        return y
    ok = np.isfinite(y)
    z = np.concatenate([np.zeros((len(y), 1)), np.cumsum(np.where(ok, y, 0.0), axis=1)], axis=1)
    c = np.concatenate([np.zeros((len(y), 1)), np.cumsum(ok, axis=1)], axis=1)
    idx = np.arange(y.shape[1])
    lo, hi = np.clip(idx - half, 0, None), np.clip(idx + half + 1, None, y.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (z[:, hi] - z[:, lo]) / (c[:, hi] - c[:, lo])


def half_rise(energy: np.ndarray | list[np.ndarray], norm: np.ndarray | list[np.ndarray],
              e0: np.ndarray) -> np.ndarray:
    """The anchor of each spectrum (eV): the first energy within ``HALF_RISE_WINDOW`` of its
    ``e0`` where the step-normalized signal, smoothed over ``HALF_RISE_SMOOTH_EV``, reaches
    half the edge step: the foot of the first white line, where yield saturation, noise and
    the edge finder's choice move it least. ``e0`` where the signal never gets there.

    ``energy``: one ascending axis for every row (a spectrum-image row: all rows at once) or
    one per row; ``norm``: ``[n, m]`` or a list of rows."""
    e0 = np.atleast_1d(np.asarray(e0, dtype=float))
    if not isinstance(energy, list) and np.ndim(energy) == 1:
        e = np.asarray(energy, dtype=float)
        y = np.asarray(norm, dtype=float).reshape(len(e0), -1)
        step = float(np.median(np.diff(e))) if e.size > 1 else 1.0
        half = round(HALF_RISE_SMOOTH_EV / 2 / max(step, 1e-6))
        return _first_crossing(e, _smooth(y, half), e0)
    out = e0.copy()
    for k, (e, y) in enumerate(zip(energy, norm, strict=True)):
        e, y = np.asarray(e, dtype=float), np.asarray(y, dtype=float)
        if e.size < 2 or not np.isfinite(e0[k]):
            continue
        half = round(HALF_RISE_SMOOTH_EV / 2 / max(float(np.median(np.diff(e))), 1e-6))
        out[k] = _first_crossing(e, _smooth(y[None, :], half), e0[k:k + 1])[0]
    return out


def meets_targets(metrics: dict[str, Any]) -> bool:
    """Whether held-out ``metrics`` meet every one of ``TARGETS``."""
    def met(value: float, op: str, bound: float) -> bool:
        return value <= bound if op == "<=" else value >= bound

    return all(key in metrics and met(float(metrics[key]), op, bound)
               for key, (op, bound) in TARGETS.items())


def state_name(element: str, valence: int) -> str:
    """``Mn(III)`` and the like."""
    return f"{element}({ROMAN[int(valence)]})"


class LEdgeValence(OnnxModel):
    """Valence of one battery metal from its L2,3 edge; subclasses name their folder."""

    model_key: ClassVar[str] = "valence"

    def _classes(self) -> tuple[np.ndarray, list[str]]:
        """The formal oxidation states the forest weighs (consecutive integers) and their
        names."""
        classes = np.asarray(self.manifest["valence"]["classes"], dtype=float)
        element = self.manifest["elements"][0]
        return classes, [state_name(element, int(c)) for c in classes]

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        self.loaded()
        classes, names = self._classes()
        energy = shared_axis(batch.energy)
        anchor = half_rise(energy, batch.measured, batch.e0)
        x, coverage = represent(energy, batch.measured, anchor)
        out: list[dict[str, Any]] = [
            {"value": None, "uncertainty": None, "state": None, "probabilities": None,
             "ood": True, "ood_score": None} for _ in range(len(batch))]
        idx = np.nonzero(np.isfinite(x).all(axis=1))[0]
        if not len(idx):
            return out
        x = x[idx]
        score = self.ood.score(x[:, :GRID.size])
        trees = self.run("valence", x).reshape(len(x), -1, classes.size)
        weights = trees.mean(axis=1)
        weights = weights / np.clip(weights.sum(axis=1, keepdims=True), 1e-12, None)
        valence = classes[0] + class_median(weights)
        spread = class_median(trees).std(axis=1)
        state = np.asarray(names)[np.argmax(weights, axis=1)].tolist()
        lo, hi = self.manifest.outputs["value"].range
        max_spread = self.manifest["ood"]["max_spread"]
        ood = ((score > 1.0) | (coverage[idx] < MIN_COVERAGE) | (spread > max_spread)).tolist()
        columns = zip(idx.tolist(), rounded_list(np.clip(valence, lo, hi), 3),
                      rounded_list(spread, 3), state, rounded_list(weights, 3), ood,
                      rounded_list(score, 3), strict=True)
        for i, value, unc, st, w, is_ood, ood_score in columns:
            out[i] = {"value": value, "uncertainty": unc, "state": st,
                      "probabilities": dict(zip(names, w, strict=True)), "ood": is_ood,
                      "ood_score": ood_score}
        return out


# one plugin class per trained element, ``<El>LValence``
globals().update(folder_family(__name__, {
    f"{el}LValence": (LEdgeValence, FOLDER / f"{el.lower()}_valence") for el in ELEMENTS}))
