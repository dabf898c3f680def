"""The agent process: feed an agent from Kafka until stopped.

One consumer reads two topics: ``<beamline>.bluesky.runengine.documents`` and
``<beamline>.xas.annotations`` (JSON, or compact blocks of spectrum-image rows, read as
per-spectrum annotations). Of the documents only what places a run is decoded: start,
descriptor and stop documents, and the events of the stream the positions come from
(``positions.py``). An event's descriptor uid is read first, skipping its data unread, so
the detector arrays of other streams cost next to nothing. The group id is unique per
agent instance and nothing is committed: a restarted agent re-reads the topics and
rebuilds its state, as bluesky-adaptive agents re-tell past runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import msgpack
import msgpack_numpy

from edgestream.config.settings import KafkaSettings
from edgestream.doors.kafka.clients import make_consumer
from edgestream.publish.annotation import decode
from edgestream_agent.base import Agent

log = logging.getLogger(__name__)


SMALL = ("start", "descriptor", "stop")
EVENTS = ("event", "event_page")


def _decode(value: bytes) -> tuple[str, dict[str, Any]] | None:
    name, doc = msgpack.unpackb(value, object_hook=msgpack_numpy.decode, strict_map_key=False)
    return (name, doc) if isinstance(name, str) and isinstance(doc, dict) else None


def peek(value: bytes | None, wants: Callable[[Any], bool] = lambda d: False
         ) -> tuple[str, dict[str, Any]] | None:
    """``(name, doc)`` of a ``[name, doc]`` message if an agent needs it: start, descriptor
    and stop documents, and events or event pages whose descriptor ``wants`` accepts (read
    before the data, which is skipped unread); None for anything else."""
    if not value:
        return None
    try:
        up = msgpack.Unpacker(object_hook=msgpack_numpy.decode, strict_map_key=False)
        up.feed(value)
        if up.read_array_header() != 2:
            return None
        name = up.unpack()
        if name in SMALL:
            return _decode(value)
        if name not in EVENTS:
            return None
        for _ in range(up.read_map_header()):
            if up.unpack() == "descriptor":
                return _decode(value) if wants(up.unpack()) else None
            up.skip()
    except Exception:  # garbage on the topic is the service's business, not ours
        return None
    return None


def peek_start(value: bytes | None) -> dict[str, Any] | None:
    """The start document in a ``[name, doc]`` message, or None for any other document."""
    got = peek(value)
    return got[1] if got is not None and got[0] == "start" else None



def read_annotations(value: bytes | None, counts: dict[str, int]) -> list[dict[str, Any]]:
    """The per-spectrum annotations of an annotations-topic message, JSON or compact (a
    spectrum-image row: ``edgestream.publish.annotation.decode``); none for JSON that is not
    an annotation, and for a message that is neither (counted in ``counts["bad"]``)."""
    try:
        spectra = decode(value)
    except ValueError:
        counts["bad"] += 1
        return []
    return [a for a in spectra if "annotation_id" in a]


def poll_until(consumer: Any, documents_topic: str, handle: Callable[[str, bytes | None], None],
               stop: threading.Event, ready: threading.Event,
               caught_up: threading.Event) -> None:
    """Poll the documents and annotations topics until ``stop``, handing each message to
    ``handle``; ``ready`` once partitions are assigned, ``caught_up`` at the first empty poll
    after that (the history is replayed)."""
    while not stop.is_set():
        records = consumer.poll(200)
        if consumer.assignment():
            ready.set()
            if not records:
                caught_up.set()
        # Documents first: an annotation is placed by its run's documents.
        for tp, messages in sorted(records.items(), key=lambda kv: kv[0].topic !=
                                   documents_topic):
            for msg in messages:
                try:
                    handle(tp.topic, msg.value)
                except Exception:  # an agent bug must not end the process
                    log.exception("agent failed on %s@%d", tp.topic, msg.offset)


class AgentRunner:
    """Poll both topics and hand start documents and annotations to ``agent``."""

    def __init__(self, agent: Agent, kafka: KafkaSettings, beamline: str,
                 documents_topic: str = "{beamline}.bluesky.runengine.documents",
                 annotations_topic: str | None = None, **consumer_args: Any) -> None:
        self.agent = agent
        self.kafka = kafka
        self.documents_topic = documents_topic.format(beamline=beamline)
        self.annotations_topic = (annotations_topic or kafka.annotations_topic).format(
            beamline=beamline)
        self.consumer_args = {"group_id": f"{kafka.group_id}-{agent.instance_name}",
                              "auto_offset_reset": "earliest", **consumer_args}
        self.counts = {"starts": 0, "documents": 0, "annotations": 0, "suggestions": 0,
                       "bad": 0}
        self.ready = threading.Event()  # partitions assigned
        self.caught_up = threading.Event()  # a poll came back empty: history replayed

    def handle(self, topic: str, value: bytes | None) -> None:
        if topic == self.documents_topic:
            got = peek(value, self.agent.runs.wants)
            if got is not None:
                name, doc = got
                self.counts["starts" if name == "start" else "documents"] += 1
                self.counts["suggestions"] += len(self.agent.on_document(name, doc))
            return
        for a in read_annotations(value, self.counts):
            self.counts["annotations"] += 1
            self.counts["suggestions"] += len(self.agent.on_annotation(a))

    def run(self, stop: threading.Event) -> None:
        consumer = make_consumer(self.kafka, **self.consumer_args)
        consumer.subscribe([self.documents_topic, self.annotations_topic])
        log.info("agent %s reading %s and %s", self.agent.instance_name,
                 self.documents_topic, self.annotations_topic)
        try:
            poll_until(consumer, self.documents_topic, self.handle, stop, self.ready,
                       self.caught_up)
        finally:
            consumer.close()
            self.agent.close()
