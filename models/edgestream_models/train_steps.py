"""The per-family steps of ``python -m edgestream_models.train_all`` for the valence and motif
models: train the ensemble, export it to ONNX (parity-checked), write the plugin's files
(model, ood.npz, plugin.toml) and its card; and the helpers every family's step shares."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from edgestream_models import cards
from edgestream_models.augment import clean
from edgestream_models.export import export_onnx, write_manifest
from edgestream_models.train import CACHE, PLUGINS, CuKData, predict
from edgestream_models.train_motif import train_motif
from edgestream_models.train_valence import train_valence
from edgestream_plugins.cu_k import GRID, OodReference, meets_targets

VERSION = "1.3.0"
MODALITY_NOTE = "Cu K-edge XANES (transmission, fluorescence or mu)"
OUTPUTS_COMMON = {"ood": "true when outside the training distribution (see card.json)",
                  "ood_score": "max of PCA Mahalanobis and residual distances / their 99.5% "
                               "validation quantiles; > 1 is out of distribution"}


def save_ood(folder: Path, ref: OodReference) -> None:
    """The out-of-distribution reference every Cu K plugin ships (``ood.npz``)."""
    ref.save(folder / "ood.npz")


def load_plugin(cls_path: str) -> object:
    """The freshly written plugin, re-imported and loaded on the CPU (for its card)."""
    import importlib

    module, name = cls_path.split(":")
    plugin = getattr(importlib.reload(importlib.import_module(module)), name)()
    plugin.load(("CPUExecutionProvider",))
    return plugin


def finish_card(folder: Path, plugin: object, card: dict, panels: dict, family: str
                ) -> dict:
    """Predictions on the measured standards and CPU throughput into the card; card.json
    and card.png written."""
    card["standards"] = cards.standards_predictions(plugin)
    card["standards_not_trained_on"] = cards.athena_predictions(plugin)
    card["throughput_cpu"] = cards.throughput(plugin)
    panels["standards"] = card["standards"]
    cards.write_card(folder, card)
    cards.figure(folder, family, panels)
    return card


def counts(values: np.ndarray) -> dict[str, int]:
    """``{value: how many}`` of an array, as JSON-ready strings and ints."""
    names, n = np.unique(np.asarray(values).astype(str), return_counts=True)
    return {str(k): int(v) for k, v in zip(names, n, strict=True)}


def run_valence(data: CuKData, pools: dict, ref: OodReference, args: argparse.Namespace,
                base: dict) -> dict:
    """Train, export and publish the valence ensemble (plugins/valence); its card."""
    folder = PLUGINS / "valence"
    res = train_valence(data, pools, members=args.members, epochs=args.epochs, seed=args.seed)
    val_std = predict(res.model, pools["val"].x).std(1)
    max_spread = float(np.quantile(val_std, 0.995))
    diff = export_onnx(res.model, len(GRID), folder / "valence.onnx", pools["val"].x[:512])
    save_ood(folder, ref)
    lo, hi = float(np.nanmin(data.valence)), float(np.nanmax(data.valence))
    write_manifest(folder, {
        "name": "cu_k_valence", "version": VERSION, "classes": [],
        "description": f"Absorber valence from {MODALITY_NOTE}: ensemble of MLP classifiers "
                       "over Cu(0)..Cu(III), each read as the continuous median",
        "value_range": [lo, hi], "members": args.members,
        "opt_in": not meets_targets("cu_k_valence", res.metrics),
        "outputs": {"value": "formal valence of the absorbing Cu (ensemble median)",
                    "uncertainty": "ensemble spread (std over members)",
                    "members": "each member's prediction", **OUTPUTS_COMMON},
        "ood": {"max_spread": max_spread},
    }, {"model": "valence.onnx", "ood": "ood.npz"})
    torch.save(res.model.state_dict(), CACHE / "models" / "cu_k_valence.pt")
    card = {"family": "valence", "name": "cu_k_valence", "version": VERSION, **base,
            "labels": {"method_counts": counts(data.valence_method),
                       "train_valence_counts": counts(np.round(
                           data.valence[(data.split == "train") & np.isfinite(data.valence)]
                       ).astype(int))},
            "metrics": res.metrics, "onnx_parity_max_abs_diff": diff,
            "ood": {"max_spread": max_spread}}
    panels = {"true": res.test_true, "pred": res.test_pred, "std": res.test_std,
              "source": res.test_source, "mae": res.metrics["test_mae"]}
    return finish_card(folder, load_plugin("edgestream_plugins.valence:CuKValence"), card, panels,
                   "valence")


def run_motif(data: CuKData, pools: dict, ref: OodReference, args: argparse.Namespace,
              base: dict) -> dict:
    """Train, export and publish the motif ensemble (plugins/motif); its card."""
    folder = PLUGINS / "motif"
    res = train_motif(data, pools, members=args.members, epochs=args.epochs, seed=args.seed)
    out = predict(res.model, pools["val"].x)
    spread = out[np.arange(len(out)), :, out.mean(1).argmax(1)].std(1)
    max_spread = float(np.quantile(spread, 0.995))
    diff = export_onnx(res.model, len(GRID), folder / "motif.onnx", pools["val"].x[:512])
    save_ood(folder, ref)
    write_manifest(folder, {
        "name": "cu_k_motif", "version": VERSION, "classes": res.classes,
        "description": f"Local motif of the absorber from {MODALITY_NOTE}: MLP ensemble",
        "members": args.members, "opt_in": not meets_targets("cu_k_motif", res.metrics),
        "outputs": {"value": "most probable motif class", "probability": "its probability",
                    "probabilities": "ensemble-mean probability of every class",
                    "uncertainty": "spread over members of the chosen class's probability",
                    "entropy": "predictive entropy (nats)",
                    "family": "most probable motif family (edgestream_plugins.motif.FAMILIES: "
                              "square planar, square pyramidal and octahedral are one, "
                              "'planar', the Jahn-Teller family)",
                    "family_probability": "summed probability of the family's classes",
                    **OUTPUTS_COMMON},
        "ood": {"max_spread": max_spread},
    }, {"model": "motif.onnx", "ood": "ood.npz"})
    torch.save(res.model.state_dict(), CACHE / "models" / "cu_k_motif.pt")
    card = {"family": "motif", "name": "cu_k_motif", "version": VERSION, **base,
            "classes": res.classes, "labels": {"motif_counts": counts(data.motif)},
            "metrics": res.metrics, "confusion_matrix": {"classes": res.classes,
                                                         "rows_true_cols_predicted":
                                                         res.confusion.tolist()},
            "onnx_parity_max_abs_diff": diff, "ood": {"max_spread": max_spread}}
    tr = data.rows("train")
    x_tr = clean(data.work[tr])
    panels = {"confusion": res.confusion, "classes": res.classes, "grid": GRID,
              "bacc": res.metrics["test_balanced_accuracy"],
              "class_means": {c: x_tr[data.motif[tr] == c].mean(0) for c in res.classes}}
    return finish_card(folder, load_plugin("edgestream_plugins.motif:CuKMotif"), card, panels,
                   "motif")

