"""Export: torch ensembles → ONNX (parity-checked), OOD references, and plugin.toml files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgestream.plugin.api import sha256_of
from edgestream_plugins.cu_k import GRID, OodReference

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


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def write_toml(path: Path, data: dict[str, Any], header: str = "") -> None:
    """A minimal TOML writer: scalars and lists at top level, then (nested) tables."""
    lines = [f"# {line}" for line in header.splitlines()]

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    path.write_text("\n".join(lines) + "\n")


def write_manifest(folder: Path, spec: dict[str, Any], files: dict[str, str],
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``plugin.toml``: ``spec`` (name, version, description, outputs...), the input grid,
    and each file's path and sha256 (``files``: key → file name inside ``folder``)."""
    data = {k: v for k, v in spec.items() if not isinstance(v, dict)}
    data |= {"elements": ["Cu"], "edges": ["K"],
             "modalities": ["xas_transmission", "xas_fluorescence", "xas_mu"]}
    data["grid"] = {"start": float(GRID[0]), "stop": float(GRID[-1]),
                    "step": float(GRID[1] - GRID[0]), "unit": "eV",
                    "reference": "absolute photon energy, calibrated (Cu foil e0 = 8979.0 eV)",
                    "input": "flattened normalized mu (SpectrumBatch.norm at e0 + grid)"}
    data |= {k: v for k, v in spec.items() if isinstance(v, dict)}
    data["files"] = {k: {"path": name, "sha256": sha256_of(folder / name)}
                     for k, name in files.items()}
    if extra:
        data |= extra
    write_toml(folder / "plugin.toml", data,
               header="Written by `python -m edgestream_models.train_all`; do not edit by hand.")
    return data
