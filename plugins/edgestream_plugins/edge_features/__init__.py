"""Edge-position analysis as a plugin: the chemical shift of e0 from the elemental edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.normalize import main_edge
from edgestream.physics import edge_energy, edge_features
from edgestream.plugin.api import SpectrumBatch
from edgestream.plugin.base import ManifestModel, rounded


class EdgeFeatures(ManifestModel):
    """No model file: name, outputs and modalities come from its plugin.toml."""

    folder = Path(__file__).parent

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        reference = edge_energy(batch.element, main_edge(batch.edge))
        grid = batch.e0[:, None] + batch.grid[None, :]
        norm = np.nan_to_num(batch.norm, nan=0.0)
        feats = edge_features(grid, norm, batch.e0)
        feats = feats if isinstance(feats, dict) else vars(feats)
        return [
            {
                "edge_shift_ev": rounded(e0 - reference),
                "white_line_offset_ev": rounded(wl - e0),
                "white_line_height": rounded(h),
            }
            for e0, wl, h in zip(
                batch.e0, feats["white_line_energy"], feats["white_line_height"], strict=True
            )
        ]
