"""The annotation: what the service publishes for each spectrum, versioned by a JSON Schema."""

from __future__ import annotations

import json
import math
import platform
import uuid
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import numpy as np

import edgestream
from edgestream.config.settings import GridSettings
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.publish import compact

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "annotation-v1.json"
# Fixed namespace: the same spectrum always gets the same annotation id, on any machine,
# so downstream consumers can drop the duplicates that at-least-once delivery produces.
ANNOTATION_NAMESPACE = uuid.UUID("6f3b1c7e-2d4a-5e8f-9a0b-1c2d3e4f5a6b")


def annotation_id(ids: SpectrumIds) -> str:
    """Deterministic id of the annotation of one spectrum."""
    key = (
        f"{ids.run_uid}/{ids.descriptor_uid}/{ids.seq_range[0]}-{ids.seq_range[1]}"
        f"/{ids.index_in_event}/{SCHEMA_VERSION}"
    )
    return str(uuid.uuid5(ANNOTATION_NAMESPACE, key))


@cache
def schema() -> dict[str, Any]:
    text = files("edgestream.publish").joinpath("schemas", SCHEMA_FILE).read_text()
    return json.loads(text)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def validate(annotation: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when an annotation breaks the schema."""
    _validator().validate(annotation)


@cache
def software() -> dict[str, str]:
    import onnxruntime

    return {
        "name": "edgestream",
        "version": edgestream.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def finite_or_none(value: Any) -> float | None:
    """JSON has no NaN: missing quantities are null."""
    value = float(value)
    return value if math.isfinite(value) else None


def rounded(values: np.ndarray, digits: int = 5) -> list[float | None]:
    values = np.round(np.asarray(values, dtype=float), digits)
    out: list[float | None] = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():  # usually none
        out[i] = None
    return out


def to_json(annotation: dict[str, Any]) -> bytes:
    return json.dumps(annotation, separators=(",", ":"), allow_nan=False).encode()


def build(s: RawSpectrum, r: Any, predictions: list[dict[str, Any]], processing_s: float,
          grid: GridSettings) -> dict[str, Any]:
    """The annotation of spectrum ``s``, normalized as ``r`` (``normalize.Normalized``) on
    ``grid``, with the plugins' ``predictions``; ``published_at`` is the publisher's."""
    sample = s.metadata.get("sample") or s.metadata.get("sample_name")
    return {
        "schema_version": SCHEMA_VERSION,
        "annotation_id": annotation_id(s.ids),
        "kind": "partial" if s.partial else "final",
        "ids": {
            "run_uid": s.ids.run_uid,
            "descriptor_uid": s.ids.descriptor_uid,
            "stream": s.ids.stream_name,
            "seq_range": list(s.ids.seq_range),
            "index_in_event": s.ids.index_in_event,
        },
        "beamline": s.metadata.get("beamline_id"),
        "sample": None if sample is None else str(sample),
        "element": s.element,
        "edge": s.edge,
        "element_source": s.element_source or "edge_energy",
        "modality": s.modality,
        "e0": round(float(r.e0), 4),
        "edge_step": float(r.edge_step),
        "energy_calibration": s.metadata["_calibration"],
        "channels_source": s.channels["source"] if s.channels else None,
        "channels": s.channels["keys"] if s.channels else {},
        "edge_features": {k: finite_or_none(v) for k, v in r.features.items()},
        "normalization": {"method": r.method, "parameters": r.parameters}
        | ({"fallback": r.fallback} if r.fallback else {}),
        "spectrum": {
            "grid": {"start": grid.start, "stop": grid.stop, "step": grid.step,
                     "relative_to": "e0"},
            "norm": rounded(r.on_grid),
            "n_points_measured": int(s.energy.size),
            "energy_range": [float(s.energy[0]), float(s.energy[-1])],
        },
        "predictions": predictions,
        "timing": {
            "event_time": list(s.time_range),
            "processing_s": processing_s,
            "published_at": 0.0,  # set by the publisher when it sends
        },
        "software": software(),
    }


def build_block(spectra: list[RawSpectrum], results: list[Any],
                predictions: list[list[dict[str, Any]]], processing_s: float,
                grid: GridSettings) -> dict[str, Any]:
    """The compact annotation (``publish.compact``) of spectra of one event that share their
    run, element, edge and modality, normalized as ``results``: arrays stacked straight from
    the normalization and the plugins, no per-spectrum annotation in between. ValueError
    when the spectra's plugins differ (then they go as JSON annotations)."""
    s0, n = spectra[0], len(spectra)
    plugins = [[(p["plugin"], p["version"]) for p in preds] for preds in predictions]
    if any(p != plugins[0] for p in plugins):
        raise ValueError("spectra of one block ran different plugins")
    ids = {"run_uid": s0.ids.run_uid, "descriptor_uid": s0.ids.descriptor_uid,
           "stream": s0.ids.stream_name, "seq_range": list(s0.ids.seq_range)}
    index = np.fromiter((s.ids.index_in_event for s in spectra), dtype="<i4", count=n)
    sample = s0.metadata.get("sample") or s0.metadata.get("sample_name")
    first = predictions[0]
    return {
        "schema": compact.FORMAT,
        "schema_version": compact.VERSION,
        "block_id": compact.block_id(ids, int(index[0])),
        "kind": "partial" if s0.partial else "final",
        "n": n,
        "ids": ids,
        "index_in_event": compact.numeric(index),
        "beamline": s0.metadata.get("beamline_id"),
        "sample": None if sample is None else str(sample),
        "element": s0.element,
        "edge": s0.edge,
        "element_source": s0.element_source or "edge_energy",
        "modality": s0.modality,
        "channels_source": s0.channels["source"] if s0.channels else None,
        "channels": s0.channels["keys"] if s0.channels else {},
        "e0": compact.numeric(np.round(np.fromiter((r.e0 for r in results), float, n), 4)),
        "edge_step": compact.numeric(np.fromiter((r.edge_step for r in results), float, n)),
        "energy_calibration": compact.column([s.metadata["_calibration"] for s in spectra]),
        "edge_features": compact.column([r.features for r in results]),
        "normalization": compact.column([{"method": r.method, "parameters": r.parameters,
                                    "fallback": r.fallback} for r in results]),
        "spectrum": {
            "grid": {"start": grid.start, "stop": grid.stop, "step": grid.step,
                     "relative_to": "e0"},
            "norm": compact.array(np.stack([r.on_grid for r in results]).astype("<f4")),
            "n_points_measured": compact.numeric(np.fromiter((s.energy.size for s in spectra),
                                                       "<i4", n)),
            "energy_range": compact.numeric(np.array([(s.energy[0], s.energy[-1])
                                                for s in spectra], dtype="<f8")),
        },
        "predictions": [
            {k: p[k] for k in ("plugin", "version", "model_sha256", "provider")}
            | {"outputs": compact.column([preds[j]["outputs"] for preds in predictions], "<f4")}
            for j, p in enumerate(first)
        ],
        "timing": {
            "event_time": compact.numeric(np.array([s.time_range for s in spectra], dtype="<f8")),
            "processing_s": processing_s,
            "published_at": 0.0,  # set by the publisher when it sends
        },
        "software": software(),
    }


def records(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-spectrum annotations of one annotation message, whichever its form: a JSON
    annotation is itself, a compact block (``publish.compact``) its spectra's annotations.
    What every consumer calls, in the service and downstream."""
    return compact.records(message) if compact.is_block(message) else [message]


def decode(value: bytes | None) -> list[dict[str, Any]]:
    """The per-spectrum annotations of an annotations-topic message (JSON or compact
    msgpack). ValueError when it is neither (a JSON message that is not an annotation, a
    dead letter for instance, comes back as it is)."""
    if not value:
        raise ValueError("empty message")
    if value[:1] in (b"{", b"[", b" ", b"\n"):  # JSON; a msgpack block starts with a map byte
        try:
            message = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(message, dict):
            raise ValueError("JSON that is not an object")
        return [message]
    return compact.records(compact.unpack(value))


def is_compact(message: Any) -> bool:
    """A compact block (built here, or unpacked from a message)."""
    return compact.is_block(message)


def count(message: dict[str, Any]) -> int:
    """Spectra an annotation message carries."""
    return int(message["n"]) if is_compact(message) else 1
