"""Export: torch ensembles → ONNX (parity-checked), OOD references, and the Cu K plugins'
plugin.toml (typed outputs) through the one manifest writer of the plugin API."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgestream.plugin.manifest import OOD_OUTPUTS
from edgestream.plugin.manifest import write_manifest as write
from edgestream_plugins.cu_k import GRID, OodReference

if TYPE_CHECKING:
    import torch

OPSET = 17
PARITY_TOLERANCE = 1e-5


def export_onnx(model: torch.nn.Module, n_in: int, path: Path, probe: np.ndarray,
                input_name: str = "x", output_name: str = "y", *,
                half_weights: bool = False) -> float:
    """Write ``model`` (batch axis dynamic) to ``path``; return the max |torch - ONNX| on
    ``probe``. Raises if it exceeds ``PARITY_TOLERANCE``.

    ``half_weights``: store the weight matrices as float16 (cast to float32 in the graph),
    half the file; the model's weights must already be float16 values
    (``train.round_weights_to_half``), so the computation is unchanged."""
    import onnxruntime as ort
    import torch  # the training's environment only: the manifest writer below needs none

    model = model.eval()
    example = torch.zeros(2, n_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model, (example,), str(path), input_names=[input_name],
            output_names=[output_name], opset_version=OPSET, dynamo=False,
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
        )
    if half_weights:
        store_weights_as_half(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {input_name: probe.astype(np.float32)})
    with torch.no_grad():
        torch_out = model(torch.from_numpy(probe.astype(np.float32))).numpy()
    diff = float(np.max(np.abs(onnx_out - torch_out)))
    if diff > PARITY_TOLERANCE:
        raise RuntimeError(f"{path.name}: ONNX differs from torch by {diff:.2e}")
    # torch's answers on a few probe rows, beside the model: the test suite checks the shipped
    # .onnx against them without torch installed (tests/plugins/test_cu_k_onnx_parity.py)
    np.savez_compressed(parity_probe_path(path), x=probe[:PROBE_ROWS].astype(np.float32),
                        torch=torch_out[:PROBE_ROWS].astype(np.float32), input_name=input_name)
    return diff


PROBE_ROWS = 32
HALF_MIN_SIZE = 4096  # smaller initializers (biases, BatchNorm, scalers) stay float32


def store_weights_as_half(path: Path) -> None:
    """Rewrite the ONNX file at ``path`` with its large float32 initializers stored as
    float16 and cast back at the top of the graph. Raises if a value is not exactly a
    float16 value (the model was not rounded), since that would change its outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or w.size < HALF_MIN_SIZE:
            kept.append(init)
            continue
        half = w.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), w):
            raise ValueError(f"{path.name}: initializer {init.name} is not float16-exact; "
                             "round the model first (train.round_weights_to_half)")
        kept.append(numpy_helper.from_array(half, init.name + "_fp16"))
        casts.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name],
                                      to=TensorProto.FLOAT, name=f"cast_{init.name}"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def parity_probe_path(onnx_path: Path) -> Path:
    """``<model>.parity.npz`` beside ``<model>.onnx``."""
    return Path(onnx_path).with_suffix(".parity.npz")


def fit_ood(train_x: np.ndarray, val_x: np.ndarray, path: Path) -> OodReference:
    ref = OodReference.fit(train_x, val_x)
    ref.save(path)
    return ref


VALENCE_UNIT = "formal oxidation state"
# The outputs' types, units and ranges of each Cu K plugin (the training's spec gives their
# words); write_manifest puts both in plugin.toml, where the plugin and the tests read them.
OUTPUT_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "cu_k_valence": {
        "value": {"type": "float", "unit": VALENCE_UNIT},  # range: the spec's value_range
        "uncertainty": {"type": "float", "unit": VALENCE_UNIT, "range": [0.0, 2.0]},
        # each member's continuous median over Cu(0)..Cu(III), unit-wide bins: -0.5..3.5
        "members": {"type": "list", "items": "float", "unit": VALENCE_UNIT,
                    "range": [-0.5, 3.5]},
    },
    "cu_k_motif": {
        "value": {"type": "string", "choices": "classes"},
        "probability": {"type": "float", "range": [0.0, 1.0]},
        "probabilities": {"type": "map", "items": "float", "keys": "classes",
                          "range": [0.0, 1.0]},
        "uncertainty": {"type": "float", "range": [0.0, 0.5]},
        "entropy": {"type": "float", "unit": "nats", "range": [0.0, float("inf")]},
        "family": {"type": "string"},
        "family_probability": {"type": "float", "range": [0.0, 1.0]},
    },
    "cu_k_screening": {
        "value": {"type": "string"},
        "candidates": {"type": "records", "fields": {
            "material_id": "string", "formula": "string", "score": "float",
            "similarity": "float", "shift_ev": "float"}},
        "uncertainty": {"type": "float", "unit": "normalized mu", "range": [0.0, float("inf")]},
        "margin": {"type": "float", "range": [0.0, float("inf")]},
        "composition": {"type": "object", "required": False,
                        "description": "only when the run names its composition: its "
                                       "elements and how many candidates are made of them "
                                       "(matching), or why it could not be read (error)"},
    },
}


def typed_outputs(name: str, words: dict[str, str],
                  value_range: list[float] | None = None) -> dict[str, dict[str, Any]]:
    """``[outputs]`` of plugin ``name``: each output's type (``OUTPUT_TYPES``, plus the OOD
    pair) with its description from ``words``; ``value_range`` becomes ``value``'s range.
    Raises when an output has words but no type, or a type but no words."""
    types = OUTPUT_TYPES[name] | OOD_OUTPUTS
    untyped = set(words) - set(types)
    if untyped:
        raise ValueError(f"{name}: outputs {sorted(untyped)} have no type in OUTPUT_TYPES")
    out = {}
    for key, spec in types.items():
        if key not in words and "description" not in spec:
            raise ValueError(f"{name}: output {key} has no description")
        out[key] = spec | ({"description": words[key]} if key in words else {})
    if value_range is not None:
        out["value"] = out["value"] | {"range": [float(v) for v in value_range]}
    return out


def write_manifest(folder: Path, spec: dict[str, Any], files: dict[str, str],
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``plugin.toml`` of a Cu K plugin through the one manifest writer
    (:func:`edgestream.plugin.manifest.write_manifest`): ``spec`` (name, version,
    description, ``outputs`` as words, ``value_range``...), what it applies to, the input
    grid, and each file's path and sha256 (``files``: key → file name inside ``folder``)."""
    spec = dict(spec)
    value_range = spec.pop("value_range", None)
    outputs = typed_outputs(spec["name"], spec.pop("outputs", {}), value_range)
    data = {k: v for k, v in spec.items() if not isinstance(v, dict)}
    data |= {"elements": ["Cu"], "edges": ["K"],
             "modalities": ["xas_transmission", "xas_fluorescence", "xas_mu"]}
    data["grid"] = {"start": float(GRID[0]), "stop": float(GRID[-1]),
                    "step": float(GRID[1] - GRID[0]), "unit": "eV",
                    "reference": "absolute photon energy, calibrated (Cu foil e0 = 8979.0 eV)",
                    "input": "flattened normalized mu (SpectrumBatch.norm at e0 + grid)"}
    data["outputs"] = outputs
    data |= {k: v for k, v in spec.items() if isinstance(v, dict)}
    data |= extra or {}
    return dict(write(folder, data, files, writer="`python -m edgestream_models.train_all`"))
