"""The shipped Cu K-edge .onnx files against torch's outputs saved at export (no torch needed).

``edgestream_models.export.export_onnx`` writes ``<model>.parity.npz`` (probe inputs and the
torch ensemble's outputs) beside every model it exports; ONNX Runtime must reproduce them
within the export tolerance (1e-5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PROBES = sorted(PLUGINS.glob("*/*.parity.npz"))


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.parent.name}/{p.name}" for p in PROBES])
def test_shipped_onnx_reproduces_torch(probe):
    model = probe.with_name(probe.name.replace(".parity.npz", ".onnx"))
    assert model.exists(), f"{probe} has no model beside it"
    with np.load(probe) as z:
        x, expected, name = z["x"], z["torch"], str(z["input_name"])
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {name: x})
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5


def test_every_shipped_model_has_a_probe():
    if not (PLUGINS / "valence" / "valence.parity.npz").exists():
        pytest.skip("models exported before parity probes were written")
    models = sorted(PLUGINS.glob("*/*.onnx"))
    missing = [m.name for m in models if not m.with_suffix(".parity.npz").exists()]
    assert not missing
