"""Model cards: card.json and card.png next to each plugin, written by the training run.

Also the two checks every card reports through the plugin itself (ONNX Runtime, the code the
service runs): predictions on the six measured Cu K standards, annotated exactly as the
stream does (``edgestream.doors.files.door.annotate_file``, each file shifted by its session's foil
reference as a beamline would), and the inference throughput at batch 256 on CPU.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.config.settings import Settings
from edgestream.normalize import annotation_grid, spectrum_batch
from edgestream.paths import require_checkout
from edgestream.physics import pre_edge, resample
from edgestream.plugin.api import SpectrumBatch, SpectrumModel

REPO = require_checkout("the model cards")

STANDARDS = REPO / "tests" / "data" / "measured-cu-k"
ANCHORS = {
    "valence": "random forest on Cu L-edge spectra: RMSE 0.21, R^2 0.89 (test)",
    "motif": "NN ensembles on C/N/O K-edges: balanced accuracy up to 0.99 (41 motifs)",
    "screening": "OmniXAS Ti-Cu K-edge forward models from M3GNet features; Cu L-edge "
                 "forward model vs 14 measured spectra: MAE 0.125, Spearman 0.891",
}


def standards_manifest() -> list[dict[str, Any]]:
    """The six measured standards (reference-channel foils left out)."""
    entries = json.loads((STANDARDS / "manifest.json").read_text())
    return [e for e in entries if not e["file"].startswith("ref_")]


def standards_predictions(plugin: SpectrumModel) -> list[dict[str, Any]]:
    """The plugin's outputs for each standard, through the stream's own file path."""
    from edgestream.doors.files.door import annotate_file

    def outputs(entry: dict[str, Any], composition: str | None) -> tuple[Any, list[str]]:
        result = annotate_file(STANDARDS / entry["file"], Settings(), [plugin], element="Cu",
                               edge="K", composition=composition,
                               energy_shift_ev=float(entry["shift_to_put_reference_at_8979_eV"]))
        found = [p["outputs"] for a in result.annotations for p in a["predictions"]
                 if p["plugin"] == plugin.name]
        return (found[-1] if found else None), [f.error.message for f in result.failures]

    out = []
    for entry in standards_manifest():
        given, failures = outputs(entry, None)
        row = {"file": entry["file"], "compound": entry["compound"],
               "formal_valence": entry["formal_valence"],
               "energy_shift_ev": float(entry["shift_to_put_reference_at_8979_eV"]),
               "outputs": given, "failures": failures}
        if getattr(plugin, "reads_composition", False):  # screening: also with the formula
            row["outputs_composition_given"] = outputs(entry, entry["formula"])[0]
        out.append(row)
    return out


ATHENA = REPO / "tests" / "data" / "athena" / "athena4.prj"
ATHENA_FOIL = "cufoil.001"  # the session's own foil scan sets its shift
# APS 13-BM-D 2008 groups of athena4.prj (tests/data/athena/README.md): formal valence and
# motif as the compounds are known. Covellite CuS: 4/3 by charge balance (Cu3(S2)S), its Cu
# Cu(I)-like by XPS/XAS; Cu2S chalcocite: mostly trigonal Cu.
ATHENA_STANDARDS = {
    "cu_cuprite.001": ("Cu2O", 1.0), "cu_tenorite.001": ("CuO", 2.0),
    "cu_azurite.001": ("Cu3(CO3)2(OH)2", 2.0), "cus_cu_xafs.001": ("CuS", 4 / 3),
    "cu2s_cu_xafs.001": ("Cu2S", 1.0), "cusulfate_cu_xafs.001": ("CuSO4", 2.0),
    "cucl2_5h2o_cu_xafs.001": ("CuCl2 hydrate", 2.0), "cufoil.001": ("Cu", 0.0),
}


def athena_predictions(plugin: SpectrumModel) -> list[dict[str, Any]]:
    """The plugin's outputs on measured oxides, sulfides and salts it was not trained on:
    the APS 2008 groups of ``athena4.prj``, calibrated on that session's foil scan."""
    from edgestream.doors.files.door import annotate_file, foil_scan_calibration

    shift = foil_scan_calibration(ATHENA_FOIL, [ATHENA]).shift_ev
    result = annotate_file(ATHENA, Settings(), [plugin], energy_shift_ev=shift)
    out = []
    for a in result.annotations:
        if a["sample"] not in ATHENA_STANDARDS:
            continue
        formula, valence = ATHENA_STANDARDS[a["sample"]]
        outputs = next((p["outputs"] for p in a["predictions"] if p["plugin"] == plugin.name),
                       None)
        out.append({"group": a["sample"], "compound": formula, "formal_valence": valence,
                    "energy_shift_ev": round(shift, 4), "outputs": outputs})
    return out


def standards_batch(n: int = 256, seed: int = 0) -> SpectrumBatch:
    """``n`` spectra as the pipeline hands them over: the standards (shifted, pre_edge
    normalized, flattened μ on e0 + the service grid), repeated with added noise."""
    from edgestream.doors.files.readers import read_spectrum_file

    grid = annotation_grid()
    rows, e0s, steps = [], [], []
    for entry in standards_manifest():
        data = read_spectrum_file(STANDARDS / entry["file"])
        mu = next(v for k, v in data.columns.items() if v is not data.energy)
        energy = data.energy + float(entry["shift_to_put_reference_at_8979_eV"])
        r = pre_edge(energy, mu)
        rows.append(resample(energy, r.flat, r.e0[:, None] + grid[None])[0])
        e0s.append(r.e0[0])
        steps.append(r.edge_step[0])
    rng = np.random.default_rng(seed)
    pick = np.arange(n) % len(rows)
    norm = np.stack(rows)[pick] + rng.normal(0, 0.005, (n, grid.size))
    return spectrum_batch("Cu", "K", "xas_transmission", grid, norm, np.array(e0s)[pick],
                          np.array(steps)[pick])


def throughput(plugin: SpectrumModel, batch_size: int = 256, repeats: int = 5) -> dict:
    """Spectra per second of ``plugin.predict`` (representation, OOD, ONNX, outputs)."""
    batch = standards_batch(batch_size)
    plugin.predict(batch)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plugin.predict(batch)
        times.append(time.perf_counter() - t0)
    best = float(np.median(times))
    return {"batch_size": batch_size, "spectra_per_s": round(batch_size / best, 1),
            "seconds_per_batch": round(best, 5), "provider": plugin.provider,
            "cpu": platform.processor() or platform.machine()}


def write_card(folder: Path, card: dict[str, Any]) -> None:
    card = {"anchor": ANCHORS.get(card.get("family", "")), **card}
    (folder / "card.json").write_text(json.dumps(card, indent=1, default=_jsonable) + "\n")


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x).__name__)


def _standards_axis(ax: Any, rows: list[dict], title: str) -> None:
    """Each standard's reading: a bar (numeric outputs, with the formal valence marked) or a
    line of text (class or candidates); "(OOD)" where the plugin flagged it."""
    labels = [r["file"].replace(".txt", "").replace("_", " ") for r in rows]
    outs = [r["outputs"] or {} for r in rows]
    y = np.arange(len(rows))
    numeric = all(isinstance(o.get("value"), (int, float)) for o in outs)
    if numeric:
        ax.barh(y, [o["value"] for o in outs], xerr=[o.get("uncertainty") or 0 for o in outs],
                color="tab:blue", alpha=0.7)
        ax.plot([r["formal_valence"] for r in rows], y, "k|", ms=18, mew=2,
                label="formal valence")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(-0.2, 3.5)
    else:
        ax.set_xticks([])
        ax.set_xlim(0, 1)
    for i, o in enumerate(outs):
        if numeric:
            text = f"{o['value']:.2f}"
        elif "candidates" in o:
            text = ", ".join(f"{c['formula']}" for c in o["candidates"][:3])
        else:
            text = f"{o.get('value')} (p={o.get('probability')})"
        text += " (OOD)" if o.get("ood") else ""
        known = rows[i].get("outputs_composition_given")
        if known and known.get("candidates"):
            text += "\nelements given: " + ", ".join(
                f"{c['formula']} {c['material_id']}" for c in known["candidates"][:3])
        ax.text(0.02, i, text, va="center", fontsize=7, transform=ax.get_yaxis_transform())
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_ylim(-0.8, len(rows) - 0.2)  # room for two-line texts below the title
    ax.set_title(title, fontsize=9)


def figure(folder: Path, family: str, panels: dict[str, Any]) -> None:
    """card.png: two or three panels per family (see the training code for the data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    if family == "valence":
        t, p, s, src = panels["true"], panels["pred"], panels["std"], panels["source"]
        for name in np.unique(src):
            sel = src == name
            jitter = np.random.default_rng(0).normal(0, 0.04, sel.sum())
            axes[0].errorbar(t[sel] + jitter, p[sel], yerr=s[sel], fmt="o", ms=2, alpha=0.5,
                             elinewidth=0.5, label=name)
        axes[0].plot([-0.5, 3.5], [-0.5, 3.5], "k--", lw=0.8)
        axes[0].set(xlabel="label valence", ylabel="predicted (ensemble mean ± spread)",
                    title=f"test split: MAE {panels['mae']:.3f}")
        axes[0].legend(fontsize=7)
        axes[1].hist(p - t, bins=60, color="gray")
        axes[1].set(xlabel="prediction - label", title="test errors")
    elif family == "motif":
        cm = panels["confusion"].astype(float)
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        axes[0].imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(cm):
            if v:
                axes[0].text(j, i, int(v), ha="center", va="center", fontsize=7)
        names = panels["classes"]
        axes[0].set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        axes[0].set_yticks(range(len(names)), names, fontsize=7)
        axes[0].set(xlabel="predicted", ylabel="label",
                    title=f"test confusion, bal. acc. {panels['bacc']:.3f}")
        for k, (name, spectrum) in enumerate(panels["class_means"].items()):
            axes[1].plot(panels["grid"], spectrum + 0.5 * k, lw=1)
            axes[1].text(panels["grid"][-1], spectrum[-1] + 0.5 * k, name, fontsize=7,
                         ha="right", va="bottom")
        axes[1].set(xlabel="energy (eV, calibrated)", ylabel="normalized μ (offset)",
                    title="mean training spectrum per motif (FEFF, calibrated)")
    else:
        grid = panels["grid"]
        for k, (t, p, name) in enumerate(panels["examples"]):
            axes[0].plot(grid, t + 0.6 * k, "k-", lw=1)
            axes[0].plot(grid, p + 0.6 * k, "r--", lw=1)
            axes[0].text(grid[-1], t[-1] + 0.6 * k, name, fontsize=6, ha="right", va="bottom")
        axes[0].set(xlabel="energy (eV, calibrated)", ylabel="normalized μ (offset)",
                    title="forward model: FEFF (black) vs predicted (red), test")
        for name, values in panels["topk"].items():
            axes[1].plot([1, 5, 10], values, "o-", label=name)
        axes[1].legend(fontsize=7)
        axes[1].set(xlabel="k", ylabel="true material within top k", ylim=(0, 1.02),
                    title="screening, test materials (±2 eV, noise)")
    _standards_axis(axes[2], panels["standards"], "measured standards (foil-calibrated)")
    fig.tight_layout()
    fig.savefig(folder / "card.png", dpi=90)
    plt.close(fig)
