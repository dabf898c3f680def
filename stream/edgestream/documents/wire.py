"""The Bluesky wire format on Kafka: msgpack ``[name, doc]`` with msgpack-numpy arrays."""

from __future__ import annotations

from typing import Any

import msgpack
import msgpack_numpy

from edgestream.errors import MalformedDocument, UnknownDocumentName

DOCUMENT_NAMES = frozenset(
    {
        "start",
        "descriptor",
        "event",
        "event_page",
        "stop",
        "resource",
        "datum",
        "datum_page",
        "stream_resource",
        "stream_datum",
    }
)

# Documents larger than this are refused before decoding: a single spectrum-image row of
# 4096 x 2048 float32 is 32 MiB, so 256 MiB leaves room while stopping absurd inputs.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


def encode(name: str, doc: dict[str, Any]) -> bytes:
    """Encode one document exactly as bluesky-kafka's Publisher does."""
    return msgpack.packb([name, doc], default=msgpack_numpy.encode)


def decode(value: bytes | None) -> tuple[str, dict[str, Any]]:
    """Decode Kafka message bytes into ``(name, doc)``; raise a typed error otherwise."""
    if value is None:
        raise MalformedDocument("empty message (tombstone)")
    if len(value) > MAX_DOCUMENT_BYTES:
        raise MalformedDocument("message too large", size=len(value))
    try:
        pair = msgpack.unpackb(value, object_hook=msgpack_numpy.decode, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise MalformedDocument(f"not msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise MalformedDocument("expected a 2-element [name, doc] list", got=type(pair).__name__)
    name, doc = pair
    if not isinstance(name, str) or name not in DOCUMENT_NAMES:
        raise UnknownDocumentName(f"unknown document name {name!r:.60}")
    if not isinstance(doc, dict):
        raise MalformedDocument(f"{name} document is not a mapping", got=type(doc).__name__)
    return name, doc
