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
from edgestream.documents.spectrum import SpectrumIds

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
