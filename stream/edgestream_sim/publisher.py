"""A Bluesky callback that publishes every document to Kafka in the usual wire format.

Value: ``msgpack.packb([name, doc], default=msgpack_numpy.encode)``; key: the run's start
uid (UTF-8). Errors are logged and counted, never raised into the RunEngine.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import event_model
import numpy as np

from edgestream.documents.wire import decode, encode

log = logging.getLogger(__name__)

TOPIC_SUFFIX = "bluesky.runengine.documents"
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "max_block_ms": 10_000,  # never block the RunEngine for a minute when the broker is away
}


def topic_for(beamline: str) -> str:
    """``<beamline>.bluesky.runengine.documents``."""
    return f"{beamline}.{TOPIC_SUFFIX}"


# The wire format has one home; the publisher and the service share it.
encode_document = encode
decode_document = decode


class ProducerLike(Protocol):
    """The part of ``kafka.KafkaProducer`` the publisher uses (tests inject fakes)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass
class PublisherStats:
    """Documents handed to the producer (by name), acknowledged and failed messages."""

    sent: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    failed: int = 0
    bytes_sent: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "acked": self.acked,
            "failed": self.failed,
            "bytes_sent": self.bytes_sent,
            "last_error": self.last_error,
        }


def _nbytes(data: dict[str, Any]) -> int:
    return sum(v.nbytes if isinstance(v, np.ndarray) else 8 for v in data.values())


class EventPager:
    """Groups the events of array-valued streams into event_page documents."""

    def __init__(self, max_events: int = 50, max_bytes: int = 512 * 1024) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.array_descriptors: set[str] = set()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._bytes: dict[str, int] = {}

    def descriptor(self, doc: dict[str, Any]) -> None:
        if any(k.get("dtype") == "array" for k in doc.get("data_keys", {}).values()):
            self.array_descriptors.add(doc["uid"])

    def add(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Buffer ``event``; return the pages that became full (usually none)."""
        uid = event["descriptor"]
        self._pending.setdefault(uid, []).append(event)
        self._bytes[uid] = self._bytes.get(uid, 0) + _nbytes(event["data"])
        if len(self._pending[uid]) >= self.max_events or self._bytes[uid] >= self.max_bytes:
            return [self._pop(uid)]
        return []

    def drain(self) -> list[dict[str, Any]]:
        """Every buffered event as pages, one per descriptor."""
        return [self._pop(uid) for uid in list(self._pending)]

    def _pop(self, uid: str) -> dict[str, Any]:
        self._bytes.pop(uid, None)
        return dict(event_model.pack_event_page(*self._pending.pop(uid)))


class KafkaPublisher:
    """Bluesky callback: ``RE.subscribe(KafkaPublisher("host:9092", topic_for("bl")))``.

    ``producer_config`` holds kafka-python ``KafkaProducer`` keyword arguments (merged over
    ``acks='all'``, ``linger_ms=5``, ``max_block_ms=10000``). With ``event_pages=True``,
    events of descriptors that have array data keys are sent as ``event_page`` documents
    (up to ``max_page_events`` events or ``max_page_bytes`` of array data per page; pending
    pages go out before the next non-event document). ``producer`` injects a ready producer.
    """

    def __init__(
        self,
        bootstrap_servers: str | list[str] | None,
        topic: str,
        producer_config: dict[str, Any] | None = None,
        *,
        producer: ProducerLike | None = None,
        event_pages: bool = False,
        max_page_events: int = 50,
        max_page_bytes: int = 512 * 1024,
        flush_timeout_s: float = 10.0,
    ) -> None:
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self.stats = PublisherStats()
        self._lock = threading.Lock()
        self._pager = EventPager(max_page_events, max_page_bytes) if event_pages else None
        self._run_of_descriptor: dict[str, str] = {}
        self._last_start: str | None = None
        if producer is None:
            from kafka import KafkaProducer  # imported here: tests may run without it

            config = {**DEFAULT_PRODUCER_CONFIG, **(producer_config or {})}
            producer = KafkaProducer(bootstrap_servers=bootstrap_servers, **config)
        self.producer: ProducerLike = producer

    # ------------------------------------------------------------------ callback
    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        try:
            self._handle(name, doc)
        except Exception as exc:  # never raise into the RunEngine
            self._failed(f"{name}: {exc!r}")

    def _handle(self, name: str, doc: dict[str, Any]) -> None:
        if name == "event" and self._pager and doc["descriptor"] in self._pager.array_descriptors:
            for page in self._pager.add(doc):
                self._send("event_page", page)
            return
        if name != "event" and self._pager:
            for page in self._pager.drain():
                self._send("event_page", page)
        if name == "start":
            self._last_start = doc["uid"]
        elif name == "descriptor":
            self._run_of_descriptor[doc["uid"]] = doc["run_start"]
            if self._pager:
                self._pager.descriptor(doc)
        self._send(name, doc)
        if name == "stop":
            self.flush()

    def _key(self, name: str, doc: dict[str, Any]) -> str | None:
        if name == "start":
            return doc["uid"]
        if name in ("descriptor", "stop", "resource", "stream_resource") and "run_start" in doc:
            return doc["run_start"]
        if name in ("event", "event_page"):
            return self._run_of_descriptor.get(doc["descriptor"], self._last_start)
        return self._last_start

    def _send(self, name: str, doc: dict[str, Any]) -> None:
        try:
            value = encode_document(name, doc)
            key = self._key(name, doc)
            future = self.producer.send(self.topic, value=value, key=key.encode() if key else None)
        except Exception as exc:
            self._failed(f"send {name}: {exc!r}")
            return
        with self._lock:
            self.stats.sent[name] += 1
            self.stats.bytes_sent += len(value)
        if hasattr(future, "add_callback"):
            future.add_callback(self._acked)
            future.add_errback(lambda exc: self._failed(f"deliver {name}: {exc!r}"))

    def _acked(self, _metadata: Any) -> None:
        with self._lock:
            self.stats.acked += 1

    def _failed(self, message: str) -> None:
        log.error("KafkaPublisher(%s): %s", self.topic, message)
        with self._lock:
            self.stats.failed += 1
            self.stats.last_error = message

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout: float | None = None) -> None:
        """Send pending pages and wait for the producer's buffer (logs on timeout)."""
        try:
            if self._pager:
                for page in self._pager.drain():
                    self._send("event_page", page)
            self.producer.flush(timeout=self.flush_timeout_s if timeout is None else timeout)
        except Exception as exc:
            self._failed(f"flush: {exc!r}")

    def close(self, timeout: float | None = None) -> None:
        """Flush, then close the producer."""
        self.flush(timeout)
        try:
            self.producer.close(timeout=self.flush_timeout_s if timeout is None else timeout)
        except Exception as exc:
            self._failed(f"close: {exc!r}")
