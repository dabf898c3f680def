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
from edgestream.plugin.base import rounded_list
from edgestream_plugins.cu_k import CuKModel, regression_summary


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
        ood = (flag[idx] | (spread > self.manifest["ood"]["max_spread"])).tolist()
        # whole columns rounded at once; one dict per spectrum is the plugin contract
        columns = zip(idx.tolist(), rounded_list(np.clip(median, lo, hi), 3),
                      rounded_list(spread, 3), ood, rounded_list(score[idx], 3),
                      rounded_list(members, 3), strict=True)
        for i, value, uncertainty, is_ood, ood_score, per_member in columns:
            out[i] = {"value": value, "uncertainty": uncertainty, "ood": is_ood,
                      "ood_score": ood_score, "members": per_member}
        return out
