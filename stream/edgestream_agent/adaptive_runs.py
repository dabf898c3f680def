"""What a bluesky-adaptive agent reads, written for edgestream (``adaptive.py``): runs
placed by their documents and carrying edgestream's annotations (``AnnotatedRuns``, the
``tiled_data_node``), the Kafka consumer that fills them (``AnnotationConsumer``, the
``kafka_consumer``), the agent's own run (``AgentDocuments``) and the adjudicator
publisher. None of it imports bluesky-adaptive.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgpack

from edgestream.documents.wire import encode
from edgestream_agent.base import MAX_WAITING_RUNS
from edgestream_agent.observation import RunIndex
from edgestream_agent.positions import PositionSpec
from edgestream_agent.runner import peek, poll_until, read_annotations

if TYPE_CHECKING:
    from edgestream_agent.adaptive import EdgestreamAgent

log = logging.getLogger(__name__)

# What a Kafka directive may call (bluesky-adaptive registers these with its agent server).
DIRECTIVES = ("add_suggestions_to_queue", "generate_suggestions_for_adjudicator",
              "generate_report", "ingest_uids", "update_priority",
              "enable_continuous_suggesting", "disable_continuous_suggesting",
              "enable_continuous_reporting", "disable_continuous_reporting",
              "enable_direct_to_queue", "disable_direct_to_queue")


class AnnotatedRun:
    """A run as the agent sees it: the documents that place it and edgestream's annotations
    of it. Enough of bluesky-adaptive's ``BlueskyRunLike`` for ``unpack_run``: ``start``,
    ``stop``, ``metadata``, ``documents()``."""

    def __init__(self, uid: str, docs: list[tuple[str, dict[str, Any]]],
                 annotations: list[dict[str, Any]]) -> None:
        self.uid = uid
        self.docs = docs
        self.annotations = annotations

    @property
    def start(self) -> dict[str, Any]:
        return next(d for n, d in self.docs if n == "start")

    @property
    def stop(self) -> dict[str, Any] | None:
        return next((d for n, d in self.docs if n == "stop"), None)

    @property
    def metadata(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop}

    def documents(self, fill: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.docs

    def only(self, annotation: dict[str, Any]) -> AnnotatedRun:
        """The same run with one annotation: what one ingest learns."""
        return AnnotatedRun(self.uid, self.docs, [annotation])


class AnnotatedRuns(Mapping[str, AnnotatedRun]):
    """Runs assembled from the documents and annotations topics: the agent's
    ``exp_catalog``. Keeps the documents that place each run (start, descriptors, the
    position stream's events, stop), bounded to ``max_runs``; annotations that come before
    their run's position wait, and are counted as skipped with a reason when it never
    comes."""

    def __init__(self, positions: PositionSpec | None = None, max_runs: int = 10_000) -> None:
        self.index = RunIndex(positions=positions or PositionSpec(), max_runs=max_runs)
        self.max_runs = max_runs
        self._docs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._annotations: dict[str, list[dict[str, Any]]] = {}
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        self.skipped: Counter[str] = Counter()
        self._lock = threading.RLock()

    @property
    def spec(self) -> PositionSpec:
        return self.index.spec

    def wants(self, descriptor_uid: Any) -> bool:
        return self.index.wants(descriptor_uid)

    def _skip(self, reason: str, n: int, detail: str) -> None:
        self.skipped[reason] += n
        log.warning("%d annotation(s) not used (%s): %s", n, reason, detail)

    def document(self, name: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one document; the waiting annotations it makes ready to ingest."""
        with self._lock:
            run_uid = doc.get("uid") if name == "start" else doc.get("run_start")
            if name in ("event", "event_page"):
                run_uid = self.index.tracker.run_of(doc.get("descriptor"))
            if isinstance(run_uid, str) and (name == "start" or run_uid in self._docs):
                self._docs.setdefault(run_uid, []).append((name, self._slim(name, doc)))
                while len(self._docs) > self.max_runs:
                    gone = next(iter(self._docs))
                    self._docs.pop(gone)
                    self._annotations.pop(gone, None)
            info = self.index.document(name, doc)
            if info is None:
                return []
            ready = self._waiting.pop(info.run_uid, [])
            if info.position is None:
                if ready:
                    self._skip("no_position", len(ready), f"run {info.run_uid}: "
                               f"{info.position_error}")
                return []
            self._annotations.setdefault(info.run_uid, []).extend(ready)
            return ready

    def _slim(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Events keep only the position keys: a primary stream's detector pages would
        otherwise be held for every run."""
        if name not in ("event", "event_page"):
            return doc
        keys = self.spec.keys
        return {**doc, "data": {k: v for k, v in (doc.get("data") or {}).items() if k in keys},
                "timestamps": {k: v for k, v in (doc.get("timestamps") or {}).items()
                               if k in keys}, "filled": {}}

    def annotation(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one annotation; itself when its run is placed, else nothing (it waits)."""
        ids = a.get("ids") if isinstance(a.get("ids"), dict) else {}
        run_uid = ids.get("run_uid")
        with self._lock:
            if not isinstance(run_uid, str):
                self._skip("no_run_uid", 1, f"annotation {a.get('annotation_id')}")
                return []
            info = self.index.get(run_uid)
            if info is None or not info.settled:
                if run_uid not in self._waiting and len(self._waiting) >= MAX_WAITING_RUNS:
                    self._skip("run_never_seen", 1, f"run {run_uid}")
                    return []
                self._waiting.setdefault(run_uid, []).append(a)
                return []
            if info.position is None:
                self._skip("no_position", 1, f"run {run_uid}: {info.position_error}")
                return []
            self._annotations.setdefault(run_uid, []).append(a)
            return [a]

    def __getitem__(self, uid: str) -> AnnotatedRun:
        with self._lock:
            return AnnotatedRun(uid, list(self._docs[uid]), list(self._annotations.get(uid, [])))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._docs))

    def __len__(self) -> int:
        return len(self._docs)


class AgentDocuments:
    """The agent's own run (``tiled_agent_node``): bluesky-adaptive writes its start,
    ``ingest``/``suggest``/``report`` events and stop here through ``v1.insert``. Kept in
    memory (the last ``maxlen``) and handed to ``on_document`` (e.g. a Kafka publisher)."""

    def __init__(self, on_document: Callable[[str, dict[str, Any]], None] | None = None,
                 maxlen: int = 10_000) -> None:
        self.documents: list[tuple[str, dict[str, Any]]] = []
        self.on_document = on_document
        self.maxlen = maxlen
        outer = self

        class _V1:
            def insert(self, name: str, doc: dict[str, Any]) -> None:
                outer.insert(name, doc)

        self.v1 = _V1()

    def insert(self, name: str, doc: dict[str, Any]) -> None:
        self.documents.append((name, doc))
        del self.documents[:-self.maxlen]
        if self.on_document is not None:
            self.on_document(name, doc)

    def events(self, stream: str) -> list[dict[str, Any]]:
        """The data of the events of one of the agent's streams, in order."""
        descs = {d["uid"] for n, d in self.documents if n == "descriptor" and d["name"] == stream}
        return [d["data"] for n, d in self.documents if n == "event" and d["descriptor"] in descs]

    def __getitem__(self, key: str) -> Any:  # bluesky-adaptive's TiledSmoke answers None too
        raise KeyError(key)


class AdjudicatorPublisher:
    """bluesky-adaptive's ``kafka_producer``: ``(name, doc)`` as one msgpack message on the
    adjudicator topic through a kafka-python producer (facility security and all)."""

    def __init__(self, producer: Any, topic: str, key: str, timeout: float = 10.0) -> None:
        self.producer = producer
        self.topic = topic
        self.key = key.encode()
        self.timeout = timeout

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.producer.send(self.topic, key=self.key, value=encode(name, doc)).get(
            timeout=self.timeout)

    def flush(self) -> None:
        self.producer.flush()


class AnnotationConsumer:
    """bluesky-adaptive's ``kafka_consumer`` for edgestream: reads the documents topic (to
    place runs) and the annotations topic (to ingest), and hands each annotation whose run
    is placed to ``agent.ingest_annotation``. ``feed_document``/``feed_annotation`` are the
    doors, from Kafka (``start``) or from any other source."""

    def __init__(self, runs: AnnotatedRuns, kafka: Any = None, documents_topic: str = "",
                 annotations_topic: str = "", group_id: str | None = None) -> None:
        self.runs = runs
        self.kafka = kafka
        self.documents_topic = documents_topic
        self.annotations_topic = annotations_topic
        self.group_id = group_id
        self.agent: EdgestreamAgent | None = None
        self.callbacks: list[Callable[[str, dict[str, Any]], Any]] = []
        self.counts = {"documents": 0, "annotations": 0, "ingested": 0, "directives": 0,
                       "bad": 0}
        self._stop = threading.Event()
        self.ready = threading.Event()  # partitions assigned
        self.caught_up = threading.Event()  # a poll came back empty: history replayed

    def set_agent(self, agent: EdgestreamAgent) -> None:
        self.agent = agent

    def subscribe(self, callback: Callable[[str, dict[str, Any]], Any]) -> None:
        """The base class subscribes its stop router; stop documents alone trigger nothing
        here (see the module docstring), the annotations do."""
        self.callbacks.append(callback)

    def feed_document(self, name: str, doc: dict[str, Any]) -> int:
        self.counts["documents"] += 1
        return self._ingest(self.runs.document(name, doc))

    def feed_annotation(self, a: dict[str, Any]) -> int:
        self.counts["annotations"] += 1
        return self._ingest(self.runs.annotation(a))

    def _ingest(self, ready: list[dict[str, Any]]) -> int:
        if self.agent is None:
            raise RuntimeError("AnnotationConsumer has no agent (set_agent)")
        for a in ready:
            self.agent.ingest_annotation(a["ids"]["run_uid"], a)
        self.counts["ingested"] += len(ready)
        return len(ready)

    def handle(self, topic: str, value: bytes | None) -> None:
        """One Kafka message of either topic."""
        if topic == self.documents_topic:
            got = peek(value, self.runs.wants)
            if got is not None:
                self.feed_document(*got)
            elif self.agent is not None:
                self._directive(value)
            return
        for a in read_annotations(value, self.counts):
            self.feed_annotation(a)

    def _directive(self, value: bytes | None) -> None:
        """bluesky-adaptive's ``AgentConsumer`` directives: a ``[instance_name, {"action",
        "args", "kwargs"}]`` message on the documents topic calls that agent method. Only
        the methods bluesky-adaptive registers for its own server are callable here."""
        assert self.agent is not None
        try:
            up = msgpack.Unpacker(strict_map_key=False)
            up.feed(value or b"")
            if up.read_array_header() != 2 or up.unpack() != self.agent.instance_name:
                return
            doc = up.unpack()
            action, args, kwargs = doc["action"], list(doc.get("args", [])), \
                dict(doc.get("kwargs", {}))
        except Exception:  # not a directive (or not one we can read): not ours to judge
            return
        if action not in DIRECTIVES:
            log.warning("directive %r for %s refused: allowed are %s", action,
                        self.agent.instance_name, ", ".join(DIRECTIVES))
            self.counts["bad"] += 1
            return
        try:
            getattr(self.agent, action)(*args, **kwargs)
            self.counts["directives"] += 1
        except Exception:
            log.exception("directive %s%s for %s failed", action, tuple(args),
                          self.agent.instance_name)
            self.counts["bad"] += 1

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Poll both topics until ``stop`` (the base class runs this in its thread)."""
        if self.kafka is None:
            self.caught_up.set()
            return
        from edgestream.doors.kafka.clients import make_consumer

        consumer = make_consumer(self.kafka, group_id=self.group_id,
                                 auto_offset_reset="earliest")
        consumer.subscribe([self.documents_topic, self.annotations_topic])
        try:
            poll_until(consumer, self.documents_topic, self.handle, self._stop, self.ready,
                       self.caught_up)
        finally:
            consumer.close()

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self._stop.set()
