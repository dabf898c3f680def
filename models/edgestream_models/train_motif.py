"""Motif: spectrum → local coordination class, an ensemble of MLP classifiers.

Classes are the labels' motifs (linear ... octahedral, other). Every class seen in training
is an output; the headline metric is the balanced accuracy over the classes with enough
data (``ENOUGH_TRAIN`` training sites and ``ENOUGH_TEST`` test sites). Draws are class-
balanced (sqrt-damped) and the loss is class-weighted cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgestream_models.augment import augment, clean
from edgestream_models.train import (
    MLP,
    CuKData,
    Ensemble,
    EnsembleMean,
    Pool,
    predict,
    train_ensemble,
)
from edgestream_plugins.motif import family_of

MOTIFS = ("linear", "trigonal", "tetrahedral", "square_planar", "square_pyramidal",
          "octahedral", "other")
ENOUGH_TRAIN = 50
ENOUGH_TEST = 10


@dataclass
class MotifResult:
    model: Ensemble
    classes: list[str]
    metrics: dict
    confusion: np.ndarray  # [true, predicted] over ``classes``, test split, clean inputs
    test_true: np.ndarray
    test_probs: np.ndarray


def balanced_accuracy(y: np.ndarray, p: np.ndarray, classes: np.ndarray) -> float:
    return float(np.mean([np.mean(p[y == c] == c) for c in classes]))


def train_motif(data: CuKData, pools: dict[str, Pool], *, members: int = 5, epochs: int = 60,
                per_epoch: int = 12000, seed: int = 0) -> MotifResult:
    tr_rows = data.rows("train")
    classes = [m for m in MOTIFS if np.sum(data.motif[tr_rows] == m) >= 10]
    index = {m: i for i, m in enumerate(classes)}
    label = np.array([index.get(m, -1) for m in data.motif])
    pool = pools["train"]
    ok = label[pool.row] >= 0
    x_tr, y_tr = pool.x[ok], label[pool.row[ok]]
    counts = np.bincount(y_tr, minlength=len(classes)).astype(float)
    p_draw = (1.0 / counts[y_tr]) ** 0.5
    p_draw /= p_draw.sum()
    drawn = np.bincount(y_tr, weights=p_draw, minlength=len(classes))
    class_w = torch.as_tensor((drawn.mean() / drawn) ** 0.5, dtype=torch.float32)
    vpool = pools["val"]
    vok = label[vpool.row] >= 0
    x_val, y_val = vpool.x[vok], label[vpool.row[vok]]
    val_classes = np.array([c for c in range(len(classes)) if np.sum(y_val == c) >= 3])

    def draw(r: np.random.Generator) -> tuple[np.ndarray, np.ndarray, None]:
        a = r.choice(len(x_tr), per_epoch, p=p_draw)
        return x_tr[a], y_tr[a].astype(np.int64), None

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(out, y, weight=class_w, reduction="none",
                                                 label_smoothing=0.02)

    def validate(net: torch.nn.Module) -> float:
        return 1.0 - balanced_accuracy(y_val, predict(net, x_val).argmax(1), val_classes)

    mean, std = x_tr.mean(0), x_tr.std(0)
    model = train_ensemble(lambda: MLP(mean, std, len(classes), hidden=(128, 64), dropout=0.1),
                           draw, loss_fn, validate, members=members, epochs=epochs, seed=seed,
                           head="softmax", desc="motif")

    te = np.nonzero((data.split == "test") & (label >= 0))[0]
    y_te = label[te]
    probs = predict(model, clean(data.work[te])).mean(1)
    pred = probs.argmax(1)
    rng = np.random.default_rng(seed + 7)
    pred_aug = predict(model, np.concatenate([augment(data.work[te], rng) for _ in range(3)]))
    pred_aug = pred_aug.mean(1).argmax(1)
    tr_counts = np.bincount(label[tr_rows][label[tr_rows] >= 0], minlength=len(classes))
    te_counts = np.bincount(y_te, minlength=len(classes))
    enough = np.array([c for c in range(len(classes))
                       if tr_counts[c] >= ENOUGH_TRAIN and te_counts[c] >= ENOUGH_TEST])
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (y_te, pred), 1)
    metrics = {
        "test_balanced_accuracy": balanced_accuracy(y_te, pred, enough),
        "test_balanced_accuracy_augmented": balanced_accuracy(np.tile(y_te, 3), pred_aug,
                                                              enough),
        "test_balanced_accuracy_all_classes": balanced_accuracy(
            y_te, pred, np.array([c for c in range(len(classes)) if te_counts[c] > 0])),
        "test_accuracy": float(np.mean(pred == y_te)),
        "classes_with_enough_data": [classes[c] for c in enough],
        "enough_data_rule": f">= {ENOUGH_TRAIN} train sites and >= {ENOUGH_TEST} test sites",
        "per_class_recall": {classes[c]: float(np.mean(pred[y_te == c] == c))
                             for c in range(len(classes)) if te_counts[c] > 0},
        "train_counts": {classes[c]: int(tr_counts[c]) for c in range(len(classes))},
        "test_counts": {classes[c]: int(te_counts[c]) for c in range(len(classes))},
        "val_balanced_accuracy": 1.0 - validate(EnsembleMean(model)),
    }
    # grouped: the plugin's motif families (the Jahn-Teller planar family merged)
    group = np.array([family_of(c) for c in classes])
    g_true, g_pred = group[y_te], group[pred]
    g_enough = np.unique(group[enough])
    metrics["test_balanced_accuracy_grouped"] = float(np.mean(
        [np.mean(g_pred[g_true == g] == g) for g in g_enough]))
    metrics["grouped_classes"] = sorted(set(group[enough]))
    metrics["baseline_extra_trees_balanced_accuracy"] = _extra_trees(data, label, te, enough)
    return MotifResult(model, classes, metrics, confusion, y_te, probs)


def _extra_trees(data: CuKData, label: np.ndarray, te: np.ndarray, enough: np.ndarray) -> float:
    """Reference: extra-trees classifier on clean (unaugmented) spectra, same split."""
    from sklearn.ensemble import ExtraTreesClassifier

    tr = np.nonzero((data.split == "train") & (label >= 0))[0]
    model = ExtraTreesClassifier(200, class_weight="balanced", n_jobs=1, random_state=0)
    model.fit(clean(data.work[tr]), label[tr])
    return balanced_accuracy(label[te], model.predict(clean(data.work[te])), enough)
