"""The shape of the Bluesky documents the assemblers read, checked before they read them.

What the event model requires and the assemblers rely on (uids that are strings, mappings
where mappings belong, event pages whose columns have one length) is checked here, so that a
user's malformed document is refused as ``malformed_document`` naming what is wrong, and an
error that escapes an assembler afterwards is ours: ``internal``. Only what is read is
checked (a start without ``time`` is read as well as one with it); values inside ``data`` are
the assemblers' to judge (``bad_spectrum``, ``missing_channel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

from edgestream.errors import MalformedDocument

# Start keys read as numbers (eV, eV/channel) when present: the EELS axis
START_NUMBERS = ("eels_offset", "eels_dispersion", "eels_zero_loss_ev")


def check_document(name: str, doc: Any) -> None:
    """Raise MalformedDocument when ``doc`` is not what a ``name`` document must be."""
    if not isinstance(doc, Mapping):
        raise MalformedDocument(f"{name} document is not a mapping", got=type(doc).__name__)
    check = CHECKS.get(name)
    if check is not None:
        check(doc)


def _refuse(name: str, key: str, expected: str, value: Any) -> MalformedDocument:
    return MalformedDocument(f"{name} document's {key} is not {expected}",
                             got=type(value).__name__)


def _string(name: str, doc: Mapping[str, Any], key: str) -> None:
    if key not in doc:
        raise MalformedDocument(f"{name} document lacks key {key!r}")
    if not isinstance(doc[key], str):
        raise _refuse(name, key, "a string", doc[key])


def _optional(name: str, doc: Mapping[str, Any], key: str, kind: Any, expected: str) -> None:
    """``key`` absent, null or of ``kind`` (a bool is never a number here)."""
    value = doc.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        raise _refuse(name, key, expected, value)


def _number(value: Any) -> bool:
    """A number, or text that reads as one (as ``float()`` takes it)."""
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _whole(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _start(doc: Mapping[str, Any]) -> None:
    _string("start", doc, "uid")
    _optional("start", doc, "hints", Mapping, "a mapping")
    for key in START_NUMBERS:
        if key in doc and not _number(doc[key]):
            raise _refuse("start", key, "a number", doc[key])


def _descriptor(doc: Mapping[str, Any]) -> None:
    _string("descriptor", doc, "uid")
    _string("descriptor", doc, "run_start")
    _optional("descriptor", doc, "name", str, "a string")
    for key in ("data_keys", "configuration", "object_keys", "hints"):
        _optional("descriptor", doc, key, Mapping, "a mapping")
    for key, spec in (doc.get("data_keys") or {}).items():
        where = f"data_keys[{key!r}]"
        if not isinstance(key, str):
            raise _refuse("descriptor", "data key", "a string", key)
        if not isinstance(spec, Mapping):
            raise _refuse("descriptor", where, "a mapping", spec)
        shape = spec.get("shape")
        if shape is not None and not (isinstance(shape, list | tuple)
                                      and all(map(_whole, shape))):
            raise _refuse("descriptor", f"{where}.shape", "a list of whole numbers", shape)
        _optional("descriptor", spec, "dims", list | tuple, "a list")
    for device, config in (doc.get("configuration") or {}).items():
        where = f"configuration[{device!r}]"
        if config is not None and not isinstance(config, Mapping):
            raise _refuse("descriptor", where, "a mapping", config)
        _optional("descriptor", config or {}, "data", Mapping, f"a mapping ({where}.data)")


def _event(doc: Mapping[str, Any]) -> None:
    _string("event", doc, "descriptor")
    for key in ("data", "timestamps", "filled"):
        _optional("event", doc, key, Mapping, "a mapping")
    _optional("event", doc, "seq_num", Integral, "a whole number")
    _optional("event", doc, "time", Real, "a number")


def _event_page(doc: Mapping[str, Any]) -> None:
    """The columns of a page: one entry per event in every one of them."""
    _string("event_page", doc, "descriptor")
    for key in ("uid", "time", "seq_num", "data", "timestamps"):
        if key not in doc:
            raise MalformedDocument(f"event_page document lacks key {key!r}")
    columns: dict[str, Any] = {k: doc[k] for k in ("uid", "time", "seq_num")}
    for key in ("data", "timestamps", "filled"):
        _optional("event_page", doc, key, Mapping, "a mapping")
        columns |= {f"{key}[{k!r}]": v for k, v in (doc.get(key) or {}).items()}
    lengths = set()
    for key, column in columns.items():
        if not isinstance(column, list | tuple | np.ndarray) or np.ndim(column) == 0:
            raise _refuse("event_page", key, "a list (one entry per event)", column)
        lengths.add(len(column))
    if len(lengths) > 1:
        raise MalformedDocument("event_page columns differ in length",
                                lengths=sorted(lengths))
    if not all(map(_whole, doc["seq_num"])):
        raise MalformedDocument("event_page document's seq_num is not a list of whole numbers")
    if not all(_number(t) for t in doc["time"]):
        raise MalformedDocument("event_page document's time is not a list of numbers")


def _stop(doc: Mapping[str, Any]) -> None:
    _string("stop", doc, "run_start")


CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "start": _start, "descriptor": _descriptor, "event": _event, "event_page": _event_page,
    "stop": _stop,
}
