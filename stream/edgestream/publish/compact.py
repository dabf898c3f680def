"""Compact annotations: one msgpack message per event (a spectrum-image row) with per-pixel
columns instead of one JSON annotation per spectrum (schema: schemas/annotation-compact-v1.json,
docs/compact-annotations.md).

A *block* is a dict: shared values once (ids of the event, element, software, ...) and
per-spectrum values as *columns*. A column is one of (``"encoding"`` says which):

- ``array``: ``{"encoding": "array", "dtype": "<f4", "shape": [n, ...], "data": bytes}``,
  little-endian, row ``i`` is spectrum ``i``; NaN in a float column is null;
- ``const``: ``{"encoding": "const", "value": v}``, the same value for every spectrum;
- ``map``: ``{"encoding": "map", "fields": {key: column}}``, per-spectrum dicts;
- ``factor``: ``{"encoding": "factor", "values": [v, ...], "index": array}``, spectrum ``i``
  has ``values[index[i]]`` (strings, mixed types).

The block built by the pipeline is already in this form (its arrays as bytes), so packing is
one ``msgpack.packb``; ``records`` turns a block back into per-spectrum annotations that
look exactly like the JSON ones (same ``annotation_id``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

FORMAT = "edgestream.annotations.compact"
VERSION = "1.0"
ENC = "encoding"

Column = dict[str, Any]


# -- columns ----------------------------------------------------------------------------------
def array(values: np.ndarray) -> Column:
    """A per-spectrum array column (axis 0: spectra)."""
    a = np.ascontiguousarray(values)
    return {ENC: "array", "dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


def const(value: Any) -> Column:
    return {ENC: "const", "value": value}


def numeric(values: np.ndarray) -> Column:
    """``values`` as an array column, or ``const`` when every spectrum has the same value."""
    if len(values) and (values == values[0]).all():
        first = values[0]
        if first.ndim == 0:
            return const(first.item())
        return const(first.tolist())
    if len(values) and np.issubdtype(values.dtype, np.floating) and np.isnan(values).all():
        return const(None)
    return array(values)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def column(values: Sequence[Any], float_dtype: str = "<f8") -> Column:
    """Encode one value per spectrum (what a JSON annotation would hold) as a column:
    dicts field by field, numbers (None: NaN) and bools as arrays, anything else as a
    factor; all equal: ``const``."""
    n = len(values)
    if n == 0:
        return const(None)
    first = values[0]
    if isinstance(first, dict) and all(isinstance(v, dict) and v.keys() == first.keys()
                                       for v in values):
        return {ENC: "map", "fields": {k: column([v[k] for v in values], float_dtype)
                                       for k in first}}
    if all(isinstance(v, bool) for v in values):
        return numeric(np.array(values, dtype="|b1"))
    if all(v is None or _is_number(v) for v in values) and any(v is not None for v in values):
        if all(isinstance(v, int) for v in values):
            return numeric(np.array(values, dtype="<i8"))
        return numeric(np.array([np.nan if v is None else v for v in values], dtype=float_dtype))
    if (isinstance(first, list) and first and all(_is_number(x) for x in first)
            and all(isinstance(v, list) and len(v) == len(first)
                    and all(_is_number(x) for x in v) for v in values)):
        return numeric(np.array(values, dtype=float_dtype))
    return _factor(values)


def _factor(values: Sequence[Any]) -> Column:
    index: dict[Any, int] = {}
    distinct: list[Any] = []
    codes = np.empty(len(values), dtype="<u4")
    for i, v in enumerate(values):
        key = v if isinstance(v, str | int | float | bool | type(None)) else \
            json.dumps(v, sort_keys=True, default=str)
        key = (type(v).__name__, key)  # True and 1 are different values
        if key not in index:
            index[key] = len(distinct)
            distinct.append(v)
        codes[i] = index[key]
    if len(distinct) == 1:
        return const(distinct[0])
    return {ENC: "factor", "values": distinct,
            "index": array(codes.astype("<u2") if len(distinct) < 65536 else codes)}


def as_array(col: Column) -> np.ndarray:
    """The numpy array of an ``array`` column."""
    return np.frombuffer(col["data"], dtype=np.dtype(col["dtype"])).reshape(col["shape"])


def _clean(values: np.ndarray) -> list[Any]:
    """Python values of an array: NaN as None, float32 at its own precision."""
    if values.dtype.kind != "f":
        return values.tolist()
    if values.dtype.itemsize == 4:  # float32 read as 7 digits: 0.123, not 0.12300000339
        values = _seven_digits(values)
    missing = np.isnan(values)
    if not missing.any():
        return values.tolist()
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _seven_digits(x: np.ndarray) -> np.ndarray:
    """float32 values as the float64 of their 7 significant digits (the integer of digits
    over a power of ten: the double nearest the decimal, as ``float("0.123")``)."""
    x = x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(x)))
        exponent = np.where(np.isfinite(exponent), exponent, 0.0)
        scale = 10.0 ** (6 - exponent)
        return np.where(np.isfinite(x), np.round(x * scale) / scale, x)


def _fresh(v: Any) -> Any:
    """A copy of nested dicts and lists (their leaves are immutable)."""
    if isinstance(v, dict):
        return {k: _fresh(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_fresh(x) for x in v]
    return v


def values(col: Column, n: int) -> list[Any]:
    """The ``n`` per-spectrum Python values of a column."""
    enc = col[ENC]
    if enc == "const":
        value = col["value"]
        if isinstance(value, dict | list):  # each spectrum its own: records may be changed
            return [_fresh(value) for _ in range(n)]
        return [value] * n
    if enc == "array":
        return _clean(as_array(col))
    if enc == "map":
        fields = {k: values(c, n) for k, c in col["fields"].items()}
        return [{k: v[i] for k, v in fields.items()} for i in range(n)]
    if enc == "factor":
        distinct = col["values"]
        return [distinct[i] for i in as_array(col["index"]).tolist()]
    raise ValueError(f"unknown column encoding {enc!r}")


def sliced(col: Column, start: int, stop: int) -> Column:
    """Spectra ``start:stop`` of a column."""
    enc = col[ENC]
    if enc == "array":
        return array(as_array(col)[start:stop])
    if enc == "map":
        return {ENC: "map", "fields": {k: sliced(c, start, stop)
                                       for k, c in col["fields"].items()}}
    if enc == "factor":
        return {ENC: "factor", "values": col["values"],
                "index": sliced(col["index"], start, stop)}
    return col


# -- blocks -----------------------------------------------------------------------------------
def is_block(message: Any) -> bool:
    return isinstance(message, dict) and message.get("schema") == FORMAT


def block_id(ids: dict[str, Any], first_index: int) -> str:
    """Deterministic id of a block: a replayed event gives the same id."""
    from edgestream.publish.annotation import ANNOTATION_NAMESPACE

    key = (f"compact/{ids['run_uid']}/{ids['descriptor_uid']}/{ids['seq_range'][0]}-"
           f"{ids['seq_range'][1]}/{first_index}/{VERSION}")
    return str(uuid.uuid5(ANNOTATION_NAMESPACE, key))


def pack(block: dict[str, Any], spectra: bool = False) -> bytes:
    """The message bytes of a block; the normalized spectra only when ``spectra``."""
    if not spectra and "norm" in block["spectrum"]:
        block = block | {"spectrum": {k: v for k, v in block["spectrum"].items()
                                      if k != "norm"}}
    return msgpack.packb(block, use_bin_type=True)


def unpack(value: bytes) -> dict[str, Any]:
    """A block from message bytes; ValueError when it is not one (or of another version)."""
    try:
        block = msgpack.unpackb(value, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ValueError(f"not msgpack: {exc}") from exc
    if not is_block(block):
        raise ValueError("not a compact annotation block")
    if str(block.get("schema_version", "")).split(".")[0] != VERSION.split(".")[0]:
        raise ValueError(f"compact annotation version {block.get('schema_version')!r}, "
                         f"this reader knows {VERSION}")
    return block


def split(block: dict[str, Any], pieces: int) -> list[dict[str, Any]]:
    """``block`` as ``pieces`` blocks of consecutive spectra (for the message size limit)."""
    n = int(block["n"])
    bounds = np.linspace(0, n, max(1, min(pieces, n)) + 1).astype(int)
    out = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        part = _slice_block(block, a, b)
        part["block_id"] = block_id(block["ids"], int(values(part["index_in_event"], 1)[0]))
        out.append(part)
    return out


PER_SPECTRUM = ("index_in_event", "e0", "edge_step", "energy_calibration", "normalization",
                "edge_features")


def _slice_block(block: dict[str, Any], a: int, b: int) -> dict[str, Any]:
    part = dict(block)
    part["n"] = b - a
    for key in PER_SPECTRUM:
        part[key] = sliced(block[key], a, b)
    part["spectrum"] = {k: (v if k == "grid" else sliced(v, a, b))
                        for k, v in block["spectrum"].items()}
    part["predictions"] = [p | {"outputs": sliced(p["outputs"], a, b)}
                           for p in block["predictions"]]
    part["timing"] = block["timing"] | {"event_time": sliced(block["timing"]["event_time"],
                                                             a, b)}
    return part


def annotation_ids(block: dict[str, Any]) -> list[str]:
    """The ``annotation_id`` of each spectrum of a block (as its JSON annotation's)."""
    from edgestream.documents.spectrum import SpectrumIds
    from edgestream.publish.annotation import annotation_id

    ids = block["ids"]
    seq = (int(ids["seq_range"][0]), int(ids["seq_range"][1]))
    return [annotation_id(SpectrumIds(ids["run_uid"], ids["descriptor_uid"], ids["stream"],
                                      seq, int(i)))
            for i in values(block["index_in_event"], int(block["n"]))]


def _normalization(n: dict[str, Any]) -> dict[str, Any]:
    """The JSON form names a fallback only when one was taken."""
    return n if n.get("fallback") is not None else {k: v for k, v in n.items()
                                                    if k != "fallback"}


def records(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-spectrum annotations of a block, as the JSON form has them (``spectrum.norm``
    null when the block carries no spectra)."""
    n = int(block["n"])
    ids = block["ids"]
    seq = [int(x) for x in ids["seq_range"]]
    index = values(block["index_in_event"], n)
    cols = {k: values(block[k], n) for k in PER_SPECTRUM if k != "index_in_event"}
    spec = block["spectrum"]
    norm = values(spec["norm"], n) if "norm" in spec else [None] * n
    n_points = values(spec["n_points_measured"], n)
    energy_range = values(spec["energy_range"], n)
    event_time = values(block["timing"]["event_time"], n)
    preds = [(p, values(p["outputs"], n)) for p in block["predictions"]]
    shared = {k: block.get(k) for k in ("beamline", "sample", "element", "edge",
                                        "element_source", "modality")}
    out = []
    for i, aid in enumerate(annotation_ids(block)):
        out.append({
            "schema_version": "1.0",
            "annotation_id": aid,
            "kind": block["kind"],
            "ids": {"run_uid": ids["run_uid"], "descriptor_uid": ids["descriptor_uid"],
                    "stream": ids["stream"], "seq_range": list(seq),
                    "index_in_event": int(index[i])},
            **shared,
            "e0": cols["e0"][i],
            "edge_step": cols["edge_step"][i],
            "energy_calibration": cols["energy_calibration"][i],
            "channels_source": block.get("channels_source"),
            "channels": block.get("channels") or {},
            "edge_features": cols["edge_features"][i],
            "normalization": _normalization(cols["normalization"][i]),
            "spectrum": {"grid": spec["grid"], "norm": norm[i],
                         "n_points_measured": n_points[i], "energy_range": energy_range[i]},
            "predictions": [{k: p[k] for k in ("plugin", "version", "model_sha256", "provider")}
                            | {"outputs": outs[i]} for p, outs in preds],
            "timing": {"event_time": event_time[i],
                       "processing_s": block["timing"]["processing_s"],
                       "published_at": block["timing"]["published_at"]},
            "software": block["software"],
        })
    return out
