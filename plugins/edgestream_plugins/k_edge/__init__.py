"""K-edge valence and coordination of the 3d elements Ti…Zn: one plugin family, one folder per
element and task (``<el>_valence``, ``<el>_coordination``), each with its own card.

Two paths, chosen per spectrum and named in the annotation (``path``):

- ``calibrated``: the run's energies are calibrated (a reference foil channel, a foil scan,
  a configured shift: the pipeline's ``energy_calibration.source`` is not ``none``). Input:
  flattened normalized μ on ``CAL_GRID``, eV from the element's *tabulated* K edge, so the
  chemical shift of the edge (about 1-3 eV per oxidation state) is in it.
- ``shape``: no calibration. A scan can then be off by several eV, so absolute positions
  mean little; input: μ on ``SHAPE_GRID``, eV from the spectrum's own e0 (pre-edge, white
  line and post-edge shape only). Its uncertainty is honestly wider: each path's forest
  carries the RMSE it had on held-out materials (``[uncertainty]`` in plugin.toml) and the
  reported uncertainty is that combined with the spread over trees.

Models: random forests (every tree's output, :mod:`edgestream_models.ledge_forest`'s per-tree
ONNX) trained on FEFF10 spectra with measured-like augmentation (``python -m
edgestream_models.k3d``); OOD by the PCA reference of each path's training inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgestream.physics import edge_energy
from edgestream.plugin.api import GPU_FIRST, SpectrumBatch
from edgestream.plugin.base import OnnxModel, folder_family, rounded
from edgestream.plugin.ood import OodReference
from edgestream_plugins.cu_k import represent, represent_batch

__all__ = ["CAL_GRID", "CN_CLASSES", "ELEMENTS", "GEOMETRIES", "MIN_COVERAGE", "PATHS",
           "SHAPE_GRID", "TARGETS", "KEdgeCoordination", "KEdgeValence", "calibrated",
           "inputs", "meets_targets"]

ELEMENTS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")
CAL_GRID = np.round(np.arange(-10.0, 50.0 + 0.25, 0.5), 3)  # eV from the tabulated K edge
SHAPE_GRID = np.round(np.arange(-15.0, 35.0 + 0.25, 0.5), 3)  # eV from the spectrum e0
PATHS = ("calibrated", "shape")
# Geometry families (edgestream_models.motifs.MOTIFS; metals are "other") and the
# coordination-number classes ("7+" for metals and high-CN sites)
GEOMETRIES = ("linear", "trigonal", "tetrahedral", "square_planar", "square_pyramidal",
              "octahedral", "other")
CN_CLASSES = ("2", "3", "4", "5", "6", "7+")
MIN_COVERAGE = 0.6
# The targets on held-out materials; a card meeting them runs by default
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "valence": {"test_mae": ("<=", 0.25)},
    "coordination": {"test_cn_accuracy": (">=", 0.90)},
}
FOLDER = Path(__file__).parent


def meets_targets(task: str, metrics: dict[str, Any]) -> bool:
    """Whether held-out ``metrics`` of a ``task`` model meet all of its ``TARGETS``."""
    def met(value: float, op: str, bound: float) -> bool:
        return value <= bound if op == "<=" else value >= bound

    return all(k in metrics and met(float(metrics[k]), op, bound)
               for k, (op, bound) in TARGETS[task].items())


def calibrated(batch: SpectrumBatch) -> np.ndarray:
    """Per spectrum: was its energy axis calibrated (foil, reference, configured shift)?"""
    meta = batch.metadata or [{}] * len(batch)
    return np.array([(m.get("_calibration") or {}).get("source", "none") != "none"
                     for m in meta], dtype=bool)


def inputs(batch: SpectrumBatch, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Model input ``[n, grid]`` and grid coverage ``[n]`` of ``batch`` for ``path``."""
    if path == "calibrated":
        return represent_batch(batch, edge_energy(batch.element, "K") + CAL_GRID)
    return represent(np.asarray(batch.grid, float), np.asarray(batch.norm, float), SHAPE_GRID)


class _KEdgeModel(OnnxModel):
    """One element's forests for both paths: ``[files.<path>]`` ONNX (every tree's outputs),
    ``[files.ood_<path>]`` the OOD references, ``[uncertainty]`` each path's held-out RMSE."""

    task: ClassVar[str]
    model_key: ClassVar[str] = "calibrated"

    def load(self, providers: tuple[str, ...] = GPU_FIRST) -> None:
        super().load(providers)
        self.oods = {p: OodReference.load(self.checked(f"ood_{p}")) for p in PATHS}

    def rows(self, batch: SpectrumBatch) -> dict[str, tuple[np.ndarray, np.ndarray,
                                                             np.ndarray, np.ndarray]]:
        """Per path: usable row indices, their inputs, OOD scores and flags."""
        self.loaded()
        cal = calibrated(batch)
        out = {}
        for path, chosen in (("calibrated", cal), ("shape", ~cal)):
            idx = np.nonzero(chosen)[0]
            if not idx.size:
                continue
            sub = _subset(batch, idx)
            x, coverage = inputs(sub, path)
            ok = np.isfinite(x).all(axis=1)
            score = np.full(len(x), np.inf)
            if ok.any():
                score[ok] = self.oods[path].score(x[ok])
            flag = (score > 1.0) | (coverage < MIN_COVERAGE)
            out[path] = (idx[ok], x[ok].astype(np.float32), score[ok], flag[ok])
        return out

    @staticmethod
    def unusable() -> dict[str, Any]:
        return {"path": None, "ood": True, "ood_score": None}


def _subset(batch: SpectrumBatch, idx: np.ndarray) -> SpectrumBatch:
    """The rows ``idx`` of a batch (fields per spectrum sliced, the grid shared)."""
    return SpectrumBatch(
        element=batch.element, edge=batch.edge, modality=batch.modality, grid=batch.grid,
        norm=np.asarray(batch.norm)[idx], e0=np.asarray(batch.e0)[idx],
        edge_step=np.asarray(batch.edge_step)[idx],
        energy=[batch.energy[i] for i in idx], measured=[batch.measured[i] for i in idx],
        metadata=None if batch.metadata is None else [batch.metadata[i] for i in idx])


class KEdgeValence(_KEdgeModel):
    """Formal valence of the absorber: mean over trees, uncertainty = spread over trees
    combined with the path's held-out RMSE; a mixture reads between its phases."""

    task = "valence"

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        out = [self.unusable() | {"value": None, "uncertainty": None}
               for _ in range(len(batch))]
        lo, hi = self.manifest.outputs["value"].range
        for path, (idx, x, score, flag) in self.rows(batch).items():
            if not idx.size:
                continue
            trees = self.run(path, x)
            mean, spread = trees.mean(axis=1), trees.std(axis=1)
            floor = float(self.manifest["uncertainty"][path])
            unc = np.sqrt(spread**2 + floor**2)
            for j, i in enumerate(idx):
                out[i] = {"value": rounded(np.clip(mean[j], lo, hi), 3),
                          "uncertainty": rounded(unc[j], 3), "path": path,
                          "ood": bool(flag[j]), "ood_score": rounded(score[j], 3)}
        return out


class KEdgeCoordination(_KEdgeModel):
    """Coordination number class and geometry family: each tree's class probabilities
    (``CN_CLASSES`` then ``GEOMETRIES``), averaged; the top class of each and its share."""

    task = "coordination"

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        out = [self.unusable() | {"cn": None, "cn_probability": None, "geometry": None,
                                  "geometry_probability": None} for _ in range(len(batch))]
        k = len(CN_CLASSES) + len(GEOMETRIES)
        for path, (idx, x, score, flag) in self.rows(batch).items():
            if not idx.size:
                continue
            trees = self.run(path, x).reshape(len(x), -1, k).mean(axis=1)
            cn, geo = trees[:, :len(CN_CLASSES)], trees[:, len(CN_CLASSES):]
            for j, i in enumerate(idx):
                c, g = int(cn[j].argmax()), int(geo[j].argmax())
                out[i] = {"cn": CN_CLASSES[c], "cn_probability": rounded(cn[j, c], 3),
                          "geometry": GEOMETRIES[g],
                          "geometry_probability": rounded(geo[j, g], 3), "path": path,
                          "ood": bool(flag[j]), "ood_score": rounded(score[j], 3)}
        return out


# one plugin class per trained element and task, ``<El>KValence`` / ``<El>KCoordination``
globals().update(folder_family(__name__, {
    f"{el}K{task.capitalize()}": (base, FOLDER / f"{el.lower()}_{task}")
    for el in ELEMENTS
    for task, base in (("valence", KEdgeValence), ("coordination", KEdgeCoordination))}))
