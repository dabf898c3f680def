"""Plugin discovery and the ONNX Runtime session helper."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgestream.plugins import SpectrumBatch, discover, onnx_session, sha256_of


def test_builtin_plugin_found_through_entry_point():
    names = [m.name for m in discover()]
    assert "edge_features" in names
    assert discover(["nothing-by-this-name"]) == []


@pytest.fixture
def linear_onnx(tmp_path):
    """y = x @ W: a stand-in model with a dynamic batch axis."""
    w = np.linspace(0, 1, 8 * 2, dtype=np.float32).reshape(8, 2)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "linear.onnx"
    onnx.save(model, path)
    return path, w


def test_onnx_session_reports_provider_and_batches(linear_onnx):
    path, w = linear_onnx
    session, provider = onnx_session(path, expected_sha256=sha256_of(path))
    assert provider in ("CUDAExecutionProvider", "CPUExecutionProvider")
    x = np.random.default_rng(0).random((32, 8), dtype=np.float32)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_allclose(y, x @ w, rtol=1e-5)


def test_onnx_session_refuses_a_changed_file(linear_onnx):
    path, _ = linear_onnx
    with pytest.raises(ValueError, match="sha256"):
        onnx_session(path, expected_sha256="0" * 64)


def test_spectrum_batch_length():
    b = SpectrumBatch("Cu", "K", "xas_transmission", np.zeros(3), np.zeros((2, 3)),
                      np.zeros(2), np.ones(2), [], [])
    assert len(b) == 2


def test_opt_in_plugins_run_only_when_named():
    """The Cu K-edge models are installed but opt-in: not in the default set, loaded when
    named (the name in ``plugins`` is the entry-point name and the plugin's ``name``)."""
    default = {m.name for m in discover()}
    assert "edge_features" in default
    assert not default & {"cu_k_valence", "cu_k_motif", "cu_k_screening"}
    named = discover(["edge_features", "cu_k_valence", "cu_k_motif", "cu_k_screening"])
    assert [m.name for m in named if m.name.startswith("cu_k")] and all(
        m.opt_in for m in named if m.name.startswith("cu_k"))
    assert {m.name for m in named} == {"edge_features", "cu_k_valence", "cu_k_motif",
                                       "cu_k_screening"}
