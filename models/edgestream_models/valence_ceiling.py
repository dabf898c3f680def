"""How much absorber valence do the FEFF9 OmniXAS Cu K-edge spectra carry? A measurement.

    python -m edgestream_models.valence_ceiling          # ~1 min on 2 cores

Tree ensembles (sklearn) read the valence straight from the data set's noise-free FEFF9
spectra, with none of the service's calibration, augmentation or representation, on the
OmniXAS material split (train + sites in no split → test), against the BVA/oxidation-state
labels of :mod:`edgestream_models.labels` (valence-only records suffice). Whatever these
reach bounds what any spectrum-only model can be expected to reach on this split; the
constant (the training median) is the floor. Inputs tried: the absolute-energy grid as
shipped, and the spectrum aligned on its steepest rise (the edge position) with that
position appended. Also reported: the spread of edge positions within each valence class
against the distance between class means (FEFF9's absolute energies scatter by several eV
per material, more than the chemical shift between valences).

Measured twice: on every labelled site, and on the confident labels only (BVA agrees with
the composition's oxidation-state guess, ``labels.valence_confident``).

Writes ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/reports/valence_ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models.cache import cache_dir
from edgestream_models.omnixas import OMNIXAS_ROOT

ALIGNED = np.arange(-10.0, 60.0, 0.5)  # eV around the steepest rise


def load(root: Path = OMNIXAS_ROOT) -> dict[str, np.ndarray]:
    """Spectra on the shipped grid, labels, their confidence (``labels.valence_confident``)
    and split of every labelled OmniXAS site."""
    from edgestream_models.labels import valence_confident, valence_labels_path

    d = np.load(root / "spectra.npz")
    splits = json.loads((root / "splits.json").read_text())
    part_of = {k: p for p, keys in splits.items() for k in keys}
    labels: dict[str, float] = {}
    confident: dict[str, bool] = {}
    path = valence_labels_path()
    if not path.exists():
        raise SystemExit("no labels: run `python -m edgestream_models.labels --valence-only`")
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        for i, lab in rec["sites"].items():
            if lab.get("valence") is not None:
                key = f"{rec['id']}_{int(i):03d}"
                labels[key] = float(lab["valence"])
                confident[key] = valence_confident(lab["valence"], lab.get("valence_method", ""),
                                                    rec.get("formula", ""))
    keys = [f"{m}_{s:03d}" for m, s in zip(d["material_id"], d["site_index"], strict=True)]
    y = np.array([labels.get(k, np.nan) for k in keys])
    part = np.array([part_of.get(k, "none") for k in keys])
    ok = np.isfinite(y)
    return {"grid": d["grid"].astype(float), "mu": d["mu_on_grid"][ok].astype(float),
            "valence": y[ok], "part": part[ok],
            "confident": np.array([confident.get(k, False) for k in keys])[ok]}


def edge_position(grid: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Energy of the steepest rise in the first 50 eV of each row."""
    first = grid < grid[0] + 50.0
    return grid[np.argmax(np.gradient(mu[:, first], grid[first], axis=1), axis=1)]


def measure(data: dict[str, np.ndarray], n_trees: int = 200, seed: int = 0) -> dict[str, Any]:
    """Test MAE/R² of tree ensembles per input, the constant's, and the edge scatter."""
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix

    grid, mu, y = data["grid"], data["mu"], data["valence"]
    train = np.isin(data["part"], ("train", "none"))
    test = data["part"] == "test"
    e0 = edge_position(grid, mu)
    aligned = np.stack([np.interp(e + ALIGNED, grid, row) for e, row in zip(e0, mu,
                                                                             strict=True)])
    inputs = {"absolute_grid": mu, "edge_aligned_plus_edge_position": np.c_[aligned, e0]}
    yt = y[test]
    constant = float(np.median(y[train]))

    def scores(p: np.ndarray) -> dict[str, float]:
        ss = np.sum((yt - yt.mean()) ** 2)
        return {"test_mae": round(float(np.mean(np.abs(p - yt))), 4),
                "test_r2": round(float(1 - np.sum((yt - p) ** 2) / ss), 4)}

    out: dict[str, Any] = {
        "train_sites": int(train.sum()), "test_sites": int(test.sum()),
        "constant": {"value": constant, **scores(np.full(test.sum(), constant))}}
    classes = np.clip(np.round(y), 1, 3).astype(int)
    for name, x in inputs.items():
        t = time.perf_counter()
        reg = ExtraTreesRegressor(n_trees, max_features=0.3, n_jobs=-1, random_state=seed)
        reg.fit(x[train], y[train])
        clf = ExtraTreesClassifier(n_trees, max_features=0.3, n_jobs=-1, random_state=seed,
                                   class_weight="balanced").fit(x[train], classes[train])
        pc = clf.predict(x[test])
        out[name] = {
            "regression": scores(reg.predict(x[test])),
            "classification": {**scores(pc.astype(float)),
                               "balanced_accuracy": round(float(balanced_accuracy_score(
                                   classes[test], pc)), 4),
                               "confusion_cu1_cu2_cu3": confusion_matrix(
                                   classes[test], pc, labels=[1, 2, 3]).tolist()},
            "seconds": round(time.perf_counter() - t, 1)}
    out["edge_position_ev"] = {
        f"Cu({v})": {"n": int(np.sum(np.isclose(y, v))),
                     "mean": round(float(e0[np.isclose(y, v)].mean()), 2),
                     "std": round(float(e0[np.isclose(y, v)].std()), 2)}
        for v in (1, 2, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgestream_models.valence_ceiling",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--trees", type=int, default=200)
    args = ap.parse_args(argv)
    data = load()
    sure = data["confident"]
    result = {"all_labels": measure(data, args.trees),
              "confident_labels": measure({k: v[sure] if k != "grid" else v
                                           for k, v in data.items()}, args.trees)}
    path = cache_dir("reports") / "valence_ceiling.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
