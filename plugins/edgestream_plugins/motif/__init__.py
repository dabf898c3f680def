"""Cu K-edge local motif of the absorber from XANES: an ensemble of MLP classifiers (ONNX).

Classes (plugin.toml ``classes``): coordination geometries such as linear, tetrahedral,
square_planar, octahedral. Output per spectrum: ``value`` (most probable class),
``probability`` and ``probabilities`` (ensemble-mean class probabilities), ``uncertainty``
(spread over members of the chosen class's probability), ``entropy`` (nats), ``ood`` and
``ood_score`` (as the valence plugin; also true when the members disagree more than
``ood.max_spread``), and ``family`` with ``family_probability``: the most probable of the
coarser families (``FAMILIES``), which K-edge XANES tells apart more surely than the classes.
Trained and exported by ``python -m edgestream_models train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.api import SpectrumBatch
from edgestream.plugin.base import rounded_list
from edgestream_plugins.cu_k import GPU_FIRST, CuKModel, class_summary

# What K-edge XANES resolves least is whether a Jahn-Teller Cu(II) square plane has 0, 1 or 2
# long axial ligands, so those three classes form one family; every other class is its own.
FAMILIES = {"square_planar": "planar", "square_pyramidal": "planar", "octahedral": "planar"}


def family_of(motif: str) -> str:
    return FAMILIES.get(motif, motif)


class CuKMotif(CuKModel):
    folder = Path(__file__).parent

    def load(self, providers: tuple[str, ...] = GPU_FIRST) -> None:
        super().load(providers)
        classes = self.manifest["classes"]
        self.families = sorted({family_of(c) for c in classes})
        # [class, family] membership: class probabilities @ it = family probabilities
        self.family_matrix = np.array([[family_of(c) == f for f in self.families]
                                       for c in classes], dtype=float)

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        x, idx, score, flag = self.inputs(batch)
        out = [self.unusable() for _ in range(len(batch))]
        if not len(idx):
            return out
        classes, families = self.manifest["classes"], self.families
        s = class_summary(self.run("model", x))
        rows = np.arange(len(idx))
        family_probs = s["probs"] @ self.family_matrix
        best_family = family_probs.argmax(axis=1)
        ood = (flag[idx] | (s["spread"] > self.manifest["ood"]["max_spread"])).tolist()
        # whole columns rounded at once; one dict per spectrum is the plugin contract
        columns = zip(idx.tolist(), s["top"].tolist(), rounded_list(s["probs"][rows, s["top"]], 3),
                      rounded_list(s["probs"], 3), rounded_list(s["spread"], 3),
                      rounded_list(s["entropy"], 3), ood, rounded_list(score[idx], 3),
                      best_family.tolist(), rounded_list(family_probs[rows, best_family], 3),
                      strict=True)
        for i, top, p, probs, spread, entropy, is_ood, ood_score, fam, fam_p in columns:
            out[i] = {
                "value": classes[top],
                "probability": p,
                "probabilities": dict(zip(classes, probs, strict=True)),
                "uncertainty": spread,
                "entropy": entropy,
                "ood": is_ood,
                "ood_score": ood_score,
                "family": families[fam],
                "family_probability": fam_p,
            }
        return out
