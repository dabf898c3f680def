"""Edge-position analysis as a plugin: the chemical shift of e0 from the elemental edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.normalize import main_edge
from edgestream.physics import edge_energy, edge_features
from edgestream.plugin.api import SpectrumBatch, SpectrumModel, read_plugin_toml

MANIFEST = read_plugin_toml(Path(__file__).parent)


def _num(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


class EdgeFeatures(SpectrumModel):
    name = MANIFEST["name"]
    version = MANIFEST["version"]
    modalities = frozenset(MANIFEST["modalities"])

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        reference = edge_energy(batch.element, main_edge(batch.edge))
        grid = batch.e0[:, None] + batch.grid[None, :]
        norm = np.nan_to_num(batch.norm, nan=0.0)
        feats = edge_features(grid, norm, batch.e0)
        feats = feats if isinstance(feats, dict) else vars(feats)
        return [
            {
                "edge_shift_ev": _num(e0 - reference),
                "white_line_offset_ev": _num(wl - e0),
                "white_line_height": _num(h),
            }
            for e0, wl, h in zip(
                batch.e0, feats["white_line_energy"], feats["white_line_height"], strict=True
            )
        ]
