"""Export: torch ensembles → ONNX (parity-checked), OOD references, and plugin.toml files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgestream.plugins import sha256_of
from edgestream_plugins.cu_k import GRID, OodReference

OPSET = 17
PARITY_TOLERANCE = 1e-5


def export_onnx(model: torch.nn.Module, n_in: int, path: Path, probe: np.ndarray,
                input_name: str = "x", output_name: str = "y") -> float:
    """Write ``model`` (batch axis dynamic) to ``path``; return the max |torch - ONNX| on
    ``probe``. Raises if it exceeds ``PARITY_TOLERANCE``."""
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
