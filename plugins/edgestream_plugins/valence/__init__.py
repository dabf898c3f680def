"""Cu K-edge absorber valence from XANES: an ensemble of MLP classifiers run with ONNX Runtime.

Each member gives probabilities of Cu(0)..Cu(III) and reads them, inside the ONNX graph, as
their continuous median (a clear state reads its integer; a mixture between its phases,
leaning to the majority). Input: the shared Cu K representation
(``edgestream_plugins.cu_k.represent``). Output per spectrum (typed in plugin.toml):
``value`` (median over members: one member straying on an unfamiliar spectrum moves it
little, see ``regression_summary``), ``uncertainty`` (ensemble spread), ``members``, ``ood``
and ``ood_score``. ``ood`` is true when the input lies outside the training spectra
(score > 1), covers too little of the grid, or the members disagree more than
``ood.max_spread`` in plugin.toml. Trained and exported by
``python -m edgestream_models train``; metrics in card.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.api import SpectrumBatch
from edgestream_plugins.cu_k import CuKModel, regression_summary, rounded


class CuKValence(CuKModel):
    """Formal valence of the absorbing Cu (``plugin.toml``: outputs, ``ood.max_spread``)."""

    folder = Path(__file__).parent

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        x, idx, score, flag = self.inputs(batch)
        out = [self.unusable() for _ in range(len(batch))]
        if not len(idx):
            return out
        members = self.run("model", x)
        median, spread = regression_summary(members)
        lo, hi = self.manifest.outputs["value"].range
        disagree = spread > self.manifest["ood"]["max_spread"]
        for j, i in enumerate(idx):
            out[i] = {
                "value": rounded(np.clip(median[j], lo, hi), 3),
                "uncertainty": rounded(spread[j], 3),
                "ood": bool(flag[i] or disagree[j]),
                "ood_score": rounded(score[i], 3),
                "members": [rounded(v, 3) for v in members[j]],
            }
        return out
