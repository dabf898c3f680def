"""An edgestream plugin from outside the project: edge position and white line, numpy only.

The class says only where its manifest is (``folder``) and how it reads a batch; the
manifest (``plugin.toml``) says its name, what it applies to and its typed outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin import ManifestModel, SpectrumBatch
from edgestream.plugin.base import rounded

WINDOW_EV = (-5.0, 30.0)  # around e0: where the white line is looked for
WHITE_LINE_MIN = 1.05     # normalized mu: a peak below this is no white line


class WhiteLine(ManifestModel):
    folder = Path(__file__).parent

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        grid = np.asarray(batch.grid, dtype=float)  # eV relative to each row's e0
        inside = (grid >= WINDOW_EV[0]) & (grid <= WINDOW_EV[1])
        step = float(grid[1] - grid[0])
        out = []
        for norm, e0 in zip(np.asarray(batch.norm, dtype=float), batch.e0, strict=True):
            ok = np.isfinite(norm) & inside
            if np.count_nonzero(ok) < 2 or not np.isfinite(e0):
                out.append(dict.fromkeys(self.manifest.outputs))  # nothing to read: nulls
                continue
            y = np.where(ok, norm, np.nan)
            half = np.nonzero(ok & (norm >= 0.5))[0]
            above = ok & (grid >= 0)
            peak = int(np.nanargmax(np.where(above, y, -np.inf))) if above.any() else None
            out.append({
                "edge_ev": rounded(e0 + grid[half[0]], 3) if len(half) else None,
                "white_line_ev": rounded(e0 + grid[peak], 3) if peak is not None else None,
                "white_line_area": rounded(np.nansum(np.clip(y - 1.0, 0.0, None)) * step),
                "has_white_line": bool(peak is not None and y[peak] > WHITE_LINE_MIN),
            })
        return out
