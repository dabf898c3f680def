"""How much of the motif model's error sits on sites whose geometry is near a class boundary?

    python -m edgestream_models.experiments.motif_boundaries      # ~1 min, shipped model

The motif classes are cut out of continuous geometry by fixed lines (``labels``: tau4 and
tau5 at 0.5, trans angles at 150°, the Jahn–Teller axial bond at 1.35 × the equatorial
mean). A distorted site a little on either side of a line has nearly the same XANES, so no
spectrum-only model can be sure of it. For every test site this script measures its
**margin**: the smallest distance of its geometry to a line it could cross, in units of that
line's scale (|tau - 0.5| / 0.5, |angle - 150°| / 30°, |axial ratio - 1.35| / 0.35 for the
nearest axial contact on either side of a square plane), and reports the shipped model's
accuracy (clean test inputs, as in the card) by margin. Written to
``${EDGESTREAM_CACHE:-~/.cache/edgestream}/reports/motif_boundaries.json``, pictured in
``docs/motif-boundaries.png`` (accuracy by margin, and the test sites' margins by class).

Measured 2026-12-07 on cu_k_motif 1.3.0: see the README (Cu K motif) for the figures.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from edgestream.paths import require_checkout
from edgestream.physics.edges import elements_in
from edgestream.plugin.manifest import read_manifest
from edgestream_models.motifs import AXIAL_RATIO_MAX, TRANS_ANGLE_MIN, nearest_axial

REPO = require_checkout("This experiment")
MOTIF = REPO / "plugins" / "edgestream_plugins" / "motif"
AXIAL_SEARCH = 1.8  # × the equatorial mean: farther axial contacts are far from the line
NEIGHBOUR_RADIUS = 5.0  # Å: 1.8 × the longest equatorial Cu-ligand bonds (~2.6 Å, Cu-Se/I)


def axial_ratios(structure, index: int, species: set[str]) -> list[float]:
    """Nearest axial contact over the mean equatorial bond, one per side of the square plane
    of the four nearest ligands (``species``; sides with no contact within ``AXIAL_SEARCH``
    left out)."""
    centre = structure[index].coords
    near = sorted((n for n in structure.get_neighbors(structure[index], NEIGHBOUR_RADIUS)
                   if n.specie.symbol in species), key=lambda n: n.nn_distance)
    eq = np.array([n.coords - centre for n in near[:4]])
    d_eq = float(np.linalg.norm(eq, axis=1).mean())
    best = nearest_axial(structure, index, eq, species, AXIAL_SEARCH * d_eq)
    return [float(np.linalg.norm(v)) / d_eq for v, _ in best.values()]


def margin(record: dict, structure, index: int) -> float:
    """Distance of one site's geometry to the nearest class line (module docstring)."""
    out = [1.0]
    cn, shape, motif = record["cn"], record["shape_index"], record["motif"]
    if shape is not None and cn in (4, 5):
        out.append(abs(shape - 0.5) / 0.5)
    elif shape is not None and cn in (2, 3, 6):
        out.append(abs(shape - TRANS_ANGLE_MIN) / (180.0 - TRANS_ANGLE_MIN))
    if motif in ("square_planar", "square_pyramidal", "octahedral"):
        out += [abs(r - AXIAL_RATIO_MAX) / (AXIAL_RATIO_MAX - 1.0)
                for r in axial_ratios(structure, index, elements_in(record["ligands"]))]
    return float(min(out))


def picture(report: dict, margins: np.ndarray, truth: np.ndarray, classes: list[str],
            path: Path) -> None:
    """Accuracy by margin band, and each class's test sites over margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    bands = report["by_margin"]
    a.bar(range(len(bands)), [v["accuracy"] for v in bands.values()], color="tab:blue")
    for i, v in enumerate(bands.values()):
        a.text(i, v["accuracy"] + 0.02, f"{v['accuracy']:.2f}\n{v['sites']} sites",
               ha="center", fontsize=8)
    a.set_xticks(range(len(bands)), list(bands))
    a.set(xlabel="margin: distance to the nearest class line (its scale = 1)",
          ylabel="accuracy (shipped model, clean test spectra)", ylim=(0, 1.15),
          title=f"cu_k_motif, {report['test_sites']} test sites")
    edges = np.linspace(0, 1, 11)
    bottom = np.zeros(len(edges) - 1)
    for c in classes:
        h, _ = np.histogram(np.clip(margins[truth == c], 0, 0.999), edges)
        b.bar(edges[:-1], h, width=0.1, align="edge", bottom=bottom, label=c)
        bottom += h
    b.set(xlabel="margin (1 = far from every line)", ylabel="test sites",
          title="where the test sites sit")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    import onnxruntime as ort
    from pymatgen.core import Structure

    from edgestream_models.augment import clean
    from edgestream_models.cache import cache_dir
    from edgestream_models.dataset import poscar
    from edgestream_models.motifs import coordination
    from edgestream_models.train import CACHE, DATASET, load_dataset
    from edgestream_models.train_motif import ENOUGH_TEST, ENOUGH_TRAIN, balanced_accuracy

    warnings.filterwarnings("ignore")
    data = load_dataset()
    raw = np.load(DATASET, allow_pickle=False)
    key_row = {k: i for i, k in enumerate(raw["key"].astype(str))}
    classes = read_manifest(MOTIF)["classes"]
    te = data.rows("test")
    te = te[np.isin(data.motif[te], classes)]
    session = ort.InferenceSession(str(MOTIF / "motif.onnx"),
                                   providers=["CPUExecutionProvider"])
    probs = session.run(None, {session.get_inputs()[0].name:
                               clean(data.work[te]).astype(np.float32)})[0].mean(1)
    pred = np.array(classes)[probs.argmax(1)]
    truth = data.motif[te]
    margins = np.empty(len(te))
    structures: dict[str, Structure] = {}
    for j, row in enumerate(te):
        raw_row = key_row[data.key[row]]
        text = poscar(raw, raw_row)
        s = structures.setdefault(text, Structure.from_str(text, fmt="poscar"))
        index = int(raw["site_index"][raw_row])
        margins[j] = margin(coordination(s, index), s, index)
    train = data.motif[data.rows("train")]
    enough = [c for c in classes
              if np.sum(train == c) >= ENOUGH_TRAIN and np.sum(truth == c) >= ENOUGH_TEST]
    report = {"model": "cu_k_motif (shipped)", "test_sites": len(te),
              "balanced_accuracy": balanced_accuracy(truth, pred, np.array(enough)),
              "accuracy": float(np.mean(pred == truth)), "by_margin": {}}
    for lo, hi in ((0.0, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, np.inf)):
        sel = (margins >= lo) & (margins < hi)
        report["by_margin"][f"{lo:g}-{hi:g}"] = {
            "sites": int(sel.sum()), "accuracy": float(np.mean(pred[sel] == truth[sel]))}
    for cut in (0.1, 0.2):
        sel = margins >= cut
        present = [c for c in enough if np.sum(truth[sel] == c) >= ENOUGH_TEST]
        report[f"margin_at_least_{cut:g}"] = {
            "sites": int(sel.sum()), "accuracy": float(np.mean(pred[sel] == truth[sel])),
            "balanced_accuracy": balanced_accuracy(truth[sel], pred[sel], np.array(present)),
            "per_class_recall": {c: float(np.mean(pred[sel][truth[sel] == c] == c))
                                 for c in present}}
    out = cache_dir("reports") / "motif_boundaries.json"
    out.write_text(json.dumps(report, indent=1))
    picture(report, margins, truth, enough, REPO / "docs" / "motif-boundaries.png")
    print(json.dumps(report, indent=1))
    print(f"written to {out} (cache {CACHE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
