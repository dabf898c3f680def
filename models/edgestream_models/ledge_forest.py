"""The Cu L2,3 random forests: fitting, class weights, and ONNX export with every tree's
output (graph surgery on skl2onnx's TreeEnsembleRegressor), checked against sklearn."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_plugins.cu_l import VALENCE_CLASSES


def per_tree_onnx(forest: Any, n_features: int) -> bytes:
    """ONNX of a fitted sklearn forest regressor that outputs every tree's prediction,
    ``[n, n_trees * n_outputs]`` (tree-major), instead of their mean.

    skl2onnx writes one TreeEnsembleRegressor whose leaves add ``value / n_trees`` to target
    ``k``; pointing each tree's leaves at their own target ``tree * n_outputs + k`` with the
    full value gives the trees apart, from which the plugin takes mean and spread.
    """
    import onnx
    from skl2onnx import to_onnx

    model = to_onnx(forest, np.zeros((1, n_features), dtype=np.float32),
                    target_opset={"": 17, "ai.onnx.ml": 3})
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor")
    attrs = {a.name: a for a in node.attribute}
    n_trees = len(forest.estimators_)
    k = int(attrs["n_targets"].i)
    trees = list(attrs["target_treeids"].ints)
    targets = list(attrs["target_ids"].ints)
    attrs["target_ids"].ints[:] = [t * k + j for t, j in zip(trees, targets, strict=True)]
    attrs["target_weights"].floats[:] = [w * n_trees for w in attrs["target_weights"].floats]
    attrs["n_targets"].i = n_trees * k
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[1].dim_value = n_trees * k
    onnx.checker.check_model(model)
    return model.SerializeToString()


def per_tree_sklearn(forest: Any, x: np.ndarray) -> np.ndarray:
    """What :func:`per_tree_onnx` computes, with sklearn: ``[n, n_trees * n_outputs]``."""
    return np.concatenate([np.atleast_2d(t.predict(x).T).T.reshape(len(x), -1)
                           for t in forest.estimators_], axis=1).astype(np.float32)


def class_weights(valence: np.ndarray) -> np.ndarray:
    """Valences → weights over Cu(0)..Cu(III) (the valence forest's targets): an integer is
    one-hot, a fractional one splits linearly between its neighbours (1.33 → 2/3 Cu(I) and
    1/3 Cu(II)), so the weights' mean is the valence."""
    v = np.clip(np.asarray(valence, dtype=float), 0.0, VALENCE_CLASSES - 1.0)
    low = np.clip(np.floor(v), 0, VALENCE_CLASSES - 2).astype(int)
    upper = v - low
    out = np.zeros((len(v), VALENCE_CLASSES))
    rows = np.arange(len(v))
    out[rows, low] = 1.0 - upper
    out[rows, low + 1] = upper
    return out


# Leaves of at least 8 rows rather than 5: the shipped ONNX files are 5.7 / 4.7 MB instead of
# 8.8 / 7.3 (files in the repository stay under 8 MB) and the figures move within their noise
# (2026-12-07, same rows: test MAE 0.360 vs 0.362, fractions 0.173 vs 0.176).
MIN_SAMPLES_LEAF = 8


def fit_forest(x: np.ndarray, y: np.ndarray, n_trees: int, seed: int,
               min_samples_leaf: int = MIN_SAMPLES_LEAF) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=min_samples_leaf,
                                 max_features=0.3, n_jobs=-1, random_state=seed).fit(x, y)


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def throughput(folder: Path, x: np.ndarray,
               names: tuple[str, ...] = ("valence", "fractions")) -> dict[str, float]:
    """Spectra/s of the ONNX models ``names`` at batch 256 on the CPU (inputs ready)."""
    import onnxruntime as ort

    batch = np.resize(x, (256, x.shape[1])).astype(np.float32)
    out = {}
    for name in names:
        s = ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        feed = {s.get_inputs()[0].name: batch}
        s.run(None, feed)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 1.0:
            s.run(None, feed)
            n += 256
        out[f"{name}_spectra_per_s_batch256"] = round(n / (time.perf_counter() - t0))
    return out
