"""Model inference alone, per plugin: ONNX sessions and the plugin's whole ``predict``.

For every plugin that lists ONNX files: each session (opened with
``edgestream.plugin.api.onnx_session``, the service's session options: one intra-op thread
unless ``$EDGESTREAM_ONNX_THREADS`` says otherwise) at batch
sizes 1, 32 and 256 on float32 inputs of the model's own input shape (values do not change
an MLP's cost); on the CPU execution provider, and on CUDA when onnxruntime offers it.
For every plugin (ONNX or not): ``predict`` on a ``SpectrumBatch`` of real normalized spectra
of the workload, batch sizes 1, 32 and 256 (OOD scores, representation, similarity search
included: what the pipeline pays per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.models import onnx_files
from bench.normalization import timed
from edgestream.config.settings import Settings
from edgestream.documents.spectrum import RawSpectrum
from edgestream.normalize import batch_of, normalize_spectra, spectrum_batch
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import SpectrumModel, onnx_session, onnx_threads

BATCHES = (1, 32, 256)
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def providers() -> dict[str, Any]:
    """What onnxruntime offers here, and whether CUDA can be benchmarked."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return {"onnxruntime": ort.__version__, "available": available,
            "device": ort.get_device(), "cuda": CUDA in available,
            "intra_op_threads": onnx_threads()}


def session_input(session: Any, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random float32 inputs of the session's shapes; dynamic dimensions set to ``batch``."""
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else batch for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def per_batch(t: dict[str, float], b: int) -> dict[str, float]:
    """Times of one batch of ``b`` spectra in ms, and spectra per CPU / wall second."""
    return {"ms_per_batch_cpu": 1e3 * t["cpu_s"], "ms_per_batch_wall": 1e3 * t["wall_s"],
            "spectra_per_cpu_s": b / t["cpu_s"] if t["cpu_s"] > 0 else None,
            "spectra_per_s": b / t["wall_s"]}


def onnx_timings(path: Any, provider: str) -> dict[str, Any]:
    """ms per batch and spectra/s of one ONNX file at each batch size on one provider."""
    session, used = onnx_session(path, (provider, CPU))
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"provider": used,
                           "inputs": {i.name: list(map(str, i.shape)) for i in
                                      session.get_inputs()}}
    for b in BATCHES:
        feeds = session_input(session, b, rng)
        out[str(b)] = per_batch(timed(lambda feeds=feeds: session.run(None, feeds), 0.3), b)
    return out


def predict_timings(model: SpectrumModel, spectra: list[RawSpectrum]) -> dict[str, Any]:
    """``model.predict`` per batch size on spectra it applies to (cycled to 256)."""
    usable = [s for s in spectra if model.applies_to(s.element or "", s.edge or "", s.modality)]
    if not usable:
        return {"note": "applies to none of the workload's spectra"}
    modality = usable[0].modality
    usable = [s for s in usable if s.modality == modality and s.energy.size ==
              usable[0].energy.size]
    group = [usable[i % len(usable)] for i in range(max(BATCHES))]
    grid = Pipeline(Settings()).grid
    results = normalize_spectra(group, grid)
    batch = batch_of(group, results, grid)  # type: ignore[arg-type]  # as Pipeline does
    out: dict[str, Any] = {"spectra": f"{modality}, {group[0].energy.size} points"}
    for b in BATCHES:
        sub = spectrum_batch(batch.element, batch.edge, batch.modality, grid, batch.norm[:b],
                             batch.e0[:b], batch.edge_step[:b], batch.energy[:b],
                             batch.measured[:b])
        out[str(b)] = per_batch(timed(lambda sub=sub: model.predict(sub), 0.3), b)
    return out


def inference(models: list[SpectrumModel], spectra: list[RawSpectrum],
              progress: Callable[[str], None] = print) -> dict[str, Any]:
    """ONNX sessions and predict() of every plugin."""
    info = providers()
    out: dict[str, Any] = {"providers": info, "plugins": {}}
    if not info["cuda"]:
        out["cuda_note"] = ("CUDA not measured: onnxruntime here offers "
                            f"{', '.join(info['available'])} (no GPU / no onnxruntime-gpu)")
    for model in models:
        progress(f"inference: {model.name}")
        model.load((CUDA, CPU) if info["cuda"] else (CPU,))
        entry: dict[str, Any] = {"version": model.version, "onnx": {}}
        for key, path in onnx_files(model).items():
            entry["onnx"][key] = {"file": path.name, "cpu": onnx_timings(path, CPU)}
            if info["cuda"]:
                entry["onnx"][key]["cuda"] = onnx_timings(path, CUDA)
        entry["predict"] = predict_timings(model, spectra)
        out["plugins"][model.name] = entry
    return out
