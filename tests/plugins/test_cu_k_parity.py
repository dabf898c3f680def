"""ONNX vs torch parity of the Cu K-edge ensembles (max abs diff <= 1e-5).

Needs the training extra (torch); skipped without it. Two checks: the export path on fresh
ensembles of every architecture, and the shipped .onnx files against the torch weights the
training run cached (skipped on machines that did not train).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from edgestream_models.export import PARITY_TOLERANCE, export_onnx  # noqa: E402
from edgestream_models.site_geometry import N_GEOMETRY  # noqa: E402
from edgestream_models.train import CACHE, MLP, Ensemble, round_weights_to_half  # noqa: E402
from edgestream_plugins.cu_k import GRID  # noqa: E402

PLUGINS = Path(__file__).resolve().parents[2] / "plugins" / "edgestream_plugins"
# family: (onnx file, input size, outputs per member, hidden layers, ensemble head)
ARCHITECTURES = {
    "valence": ("valence/valence.onnx", GRID.size, 4, (128, 64), "median"),
    "motif": ("motif/motif.onnx", GRID.size, 6, (128, 64), "softmax"),
    "forward": ("screening/forward.onnx", 64 + N_GEOMETRY, GRID.size, (512, 512), "identity"),
}


def fresh_ensemble(n_in: int, n_out: int, hidden: tuple[int, ...], head: str) -> Ensemble:
    rng = np.random.default_rng(0)
    members = [MLP(rng.normal(0, 1, n_in), rng.uniform(0.5, 2, n_in), n_out, hidden)
               for _ in range(5)]
    model = Ensemble(members, head)
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.mark.parametrize("family", list(ARCHITECTURES))
def test_export_path_parity(family, tmp_path):
    _, n_in, n_out, hidden, head = ARCHITECTURES[family]
    model = fresh_ensemble(n_in, n_out, hidden, head)
    probe = np.random.default_rng(1).normal(0, 1, (300, n_in)).astype(np.float32)
    diff = export_onnx(model, n_in, tmp_path / "m.onnx", probe)
    assert diff <= PARITY_TOLERANCE


def test_half_weight_export_halves_the_file_and_keeps_parity(tmp_path):
    _, n_in, n_out, hidden, head = ARCHITECTURES["forward"]
    model = fresh_ensemble(n_in, n_out, hidden, head)
    probe = np.random.default_rng(1).normal(0, 1, (300, n_in)).astype(np.float32)
    export_onnx(model, n_in, tmp_path / "full.onnx", probe)
    with pytest.raises(ValueError, match="not float16-exact"):
        export_onnx(model, n_in, tmp_path / "unrounded.onnx", probe, half_weights=True)
    round_weights_to_half(model)
    diff = export_onnx(model, n_in, tmp_path / "half.onnx", probe, half_weights=True)
    assert diff <= PARITY_TOLERANCE
    ratio = (tmp_path / "half.onnx").stat().st_size / (tmp_path / "full.onnx").stat().st_size
    assert 0.45 < ratio < 0.55


def ensemble_from_state(state: dict, head: str) -> Ensemble:
    """Rebuild an Ensemble of MLPs from its state dict (layer sizes from the weights)."""
    n_members = 1 + max(int(k.split(".")[1]) for k in state)
    members = []
    for m in range(n_members):
        prefix = f"members.{m}."
        weights = [state[k] for k in sorted(
            (k for k in state if k.startswith(prefix + "net.") and k.endswith(".weight")
             and state[k].ndim == 2), key=lambda k: int(k.split(".")[3]))]
        hidden = tuple(w.shape[0] for w in weights[:-1])
        mlp = MLP(np.zeros(weights[0].shape[1]), np.ones(weights[0].shape[1]),
                  weights[-1].shape[0], hidden)
        mlp.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                             if k.startswith(prefix)})
        members.append(mlp)
    return Ensemble(members, head).eval()


@pytest.mark.parametrize("family", list(ARCHITECTURES))
def test_shipped_onnx_matches_cached_torch_weights(family):
    path, n_in, _, _, head = ARCHITECTURES[family]
    weights = CACHE / "models" / f"cu_k_{family}.pt"
    if not weights.exists():
        pytest.skip(f"no cached torch weights ({weights}): train first")
    model = ensemble_from_state(torch.load(weights, map_location="cpu"), head)
    onnx_path = PLUGINS / path
    probe = np.random.default_rng(2).normal(0.5, 0.5, (256, n_in)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: probe})
    with torch.no_grad():
        torch_out = model(torch.from_numpy(probe)).numpy()
    assert np.max(np.abs(onnx_out - torch_out)) <= PARITY_TOLERANCE
