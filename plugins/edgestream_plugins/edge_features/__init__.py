"""Edge-position analysis as a plugin: the chemical shift of e0 from the elemental edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.normalize import main_edge
from edgestream.physics import edge_energy, edge_features
from edgestream.plugin.api import SpectrumBatch
from edgestream.plugin.base import ManifestModel, rounded_list


class EdgeFeatures(ManifestModel):
    """No model file: name, outputs and modalities come from its plugin.toml."""

    folder = Path(__file__).parent

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        reference = edge_energy(batch.element, main_edge(batch.edge))
        grid = batch.e0[:, None] + batch.grid[None, :]
        norm = np.nan_to_num(batch.norm, nan=0.0)
        feats = edge_features(grid, norm, batch.e0)
        feats = feats if isinstance(feats, dict) else vars(feats)
        e0 = np.asarray(batch.e0, dtype=float)
        columns = zip(rounded_list(e0 - reference), rounded_list(feats["white_line_energy"] - e0),
                      rounded_list(feats["white_line_height"]), strict=True)
        return [{"edge_shift_ev": shift, "white_line_offset_ev": offset, "white_line_height": h}
                for shift, offset, h in columns]
