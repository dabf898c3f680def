"""Plugin discovery and the ONNX Runtime session helper."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgestream.normalize import spectrum_batch
from edgestream.plugin.api import discover, onnx_session, sha256_of


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
    b = spectrum_batch("Cu", "K", "xas_transmission", np.zeros(3), np.zeros((2, 3)),
                       np.zeros(2))
    assert len(b) == 2


CU_K_FOLDERS = {"cu_k_valence": "valence", "cu_k_motif": "motif",
                "cu_k_screening": "screening"}


@pytest.mark.parametrize("name", sorted(CU_K_FOLDERS))
def test_a_cu_k_model_runs_by_default_exactly_when_its_card_meets_its_targets(name):
    """``opt_in`` (plugin.toml, written by the training) follows the card's test metrics: a
    model below its targets is installed but runs only when named in ``plugins``."""
    import json
    from pathlib import Path

    import edgestream_plugins
    from edgestream.plugin.api import read_plugin_toml
    from edgestream_plugins.cu_k import meets_targets

    folder = Path(edgestream_plugins.__file__).parent / CU_K_FOLDERS[name]
    meets = meets_targets(name, json.loads((folder / "card.json").read_text())["metrics"])
    assert read_plugin_toml(folder)["opt_in"] is (not meets)
    assert (name in {m.name for m in discover()}) is meets
    assert [m.name for m in discover([name])] == [name]


def test_meets_targets_reads_each_bound_its_way():
    from edgestream_plugins.cu_k import meets_targets

    assert meets_targets("cu_k_valence", {"test_mae": 0.15})
    assert not meets_targets("cu_k_valence", {"test_mae": 0.151})
    ok = {"test_spearman_mean": 0.96, "test500_top1": 0.80, "test500_top5": 0.95}
    assert meets_targets("cu_k_screening", ok)
    assert not meets_targets("cu_k_screening", ok | {"test500_top5": 0.94})


def test_opt_in_plugins_run_only_when_named():
    """Motif and screening (below their targets) are installed but opt-in: not in the default
    set, loaded when named (the name in ``plugins`` is the entry-point name and the plugin's
    ``name``); the valence model (its MAE met) runs by default."""
    default = {m.name for m in discover()}
    assert {"edge_features", "cu_k_valence"} <= default
    assert not default & {"cu_k_motif", "cu_k_screening"}
    named = discover(["edge_features", "cu_k_valence", "cu_k_motif", "cu_k_screening"])
    assert all(m.opt_in for m in named if m.name in ("cu_k_motif", "cu_k_screening"))
    assert {m.name for m in named} == {"edge_features", "cu_k_valence", "cu_k_motif",
                                       "cu_k_screening"}
