"""Cu K-edge local motif of the absorber from XANES: an ensemble of MLP classifiers (ONNX).

Classes (plugin.toml ``classes``): coordination geometries such as linear, tetrahedral,
square_planar, octahedral. Output per spectrum: ``value`` (most probable class),
``probability`` and ``probabilities`` (ensemble-mean class probabilities), ``uncertainty``
(spread over members of the chosen class's probability), ``entropy`` (nats), ``ood`` and
``ood_score`` (as the valence plugin; also true when the members disagree more than
``ood.max_spread``). Trained and exported by ``python -m edgestream_models train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgestream.plugins import SpectrumBatch
from edgestream_plugins.cu_k import CuKModel, class_summary, rounded


class CuKMotif(CuKModel):
    folder = Path(__file__).parent

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        x, idx, score, flag = self.inputs(batch)
        out = [self.unusable() for _ in range(len(batch))]
        if not len(idx):
            return out
        classes = self.manifest["classes"]
        s = class_summary(self.run("model", x))
        disagree = s["spread"] > self.manifest["ood"]["max_spread"]
        for j, i in enumerate(idx):
            top = int(s["top"][j])
            out[i] = {
                "value": classes[top],
                "probability": rounded(s["probs"][j, top], 3),
                "probabilities": {c: rounded(p, 3) for c, p in zip(classes, s["probs"][j],
                                                                   strict=True)},
                "uncertainty": rounded(s["spread"][j], 3),
                "entropy": rounded(s["entropy"][j], 3),
                "ood": bool(flag[i] or disagree[j]),
                "ood_score": rounded(score[i], 3),
            }
        return out
