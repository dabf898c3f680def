"""The router stage: re-key Bluesky documents by run onto an internal topic of N partitions.

A facility producer may key every document of a session with one key (nslsii's session
publisher does): every run then lands in one partition and extra service replicas idle. The
router reads the documents topic, finds each document's run (start uid; descriptors,
events, event pages, resources, datums, stream resources/datums and stops through the small
state below) and sends the unchanged bytes to ``router.topic`` under the run's uid, so the
default partitioner spreads runs over the partitions while a run's documents keep their order
in one. A document whose run cannot be told (undecodable, or of a run never seen) goes on
under its original key: the service dead-letters it as it would have.

Delivery as in the service (``edgestream.doors.kafka.offsets``): the committed input offset never
passes the start of a run still open, so a restarted router relearns every open run.

- at-least-once: offsets are committed after the broker acknowledged every record before
  them. After a crash or a rewind everything from the committed offset is sent again, so an
  open run reappears from its start: the service restarts a run on a repeated start, and
  repeated annotations carry the same ids.
- exactly-once (Apache Kafka): records and input offsets of a poll batch go in one
  transaction; replayed messages below the committed ``done`` mark only rebuild state.
  Services behind it read with ``isolation_level: read_committed``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from edgestream.config.checks import MIN_MESSAGE_BYTES, topic_of
from edgestream.config.settings import Settings, SettingsError
from edgestream.doors.kafka.clients import ADMIN_KEYS, client_args, make_consumer, make_producer
from edgestream.doors.kafka.delivery import KafkaDoor, PublishFailed, beamline_of
from edgestream.doors.kafka.offsets import OffsetTracker
from edgestream.doors.kafka.runkeys import RunKeys, peek
from edgestream.errors import MalformedDocument, OutputTooLarge
from edgestream.publish.deadletter import dead_letter
from edgestream.publish.policy import SizeLimit

log = logging.getLogger(__name__)

SOURCE_HEADER = "edgestream.source"  # "topic/partition/offset" of the input message
# Records as large as a documents topic may carry (a spectrum-image row): the runs topics the
# router creates take them. A topic made with a lower max.message.bytes refuses some: the
# limit is halved until it takes what is sent, and larger documents are dead-lettered.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
CONFIG_REFUSED = {40, 44}  # InvalidConfig, PolicyViolation
BATCH_BYTES = 1 << 20


@dataclass
class RouterCounts:
    """What went where, since start (logged at close and every minute)."""

    routed: int = 0  # under their run's uid
    passed: int = 0  # under their original key: undecodable or of an unknown run
    dead_letters: int = 0  # refused by the broker as too large
    resent: int = 0  # sent again after a rewind or restart (at-least-once)
    expired_runs: int = 0

    def line(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.__dict__.items())


class Router(KafkaDoor):
    """One router in a consumer group of its own (``<kafka.group_id>-router``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        k = settings.kafka
        check_router(settings)
        self.exactly_once = k.delivery == "exactly_once"
        self.group_id = f"{k.group_id}-router"
        self.consumer = make_consumer(k, group_id=self.group_id)
        # largest record sent; halved while the broker refuses records as too large
        self.size = SizeLimit(MAX_REQUEST_BYTES, MIN_MESSAGE_BYTES, "records")
        self._start_delivery()
        self.producer = self._new_producer()
        self.keys = RunKeys(settings.router.max_open_runs, settings.run_timeout_s)
        self.tracker = OffsetTracker()
        self.counts = RouterCounts()
        self.topics_ready: set[str] = set()
        self._refused = False  # the broker refused a record as too large: new producer
        self._last_report = time.monotonic()

    @property
    def limit(self) -> int:
        """The largest record sent now."""
        return self.size.bytes

    def _new_producer(self) -> Any:
        k = self.settings.kafka
        # a record batch counts against the topic's limit as one message
        sizes = {"max_request_size": MAX_REQUEST_BYTES,
                 "batch_size": min(BATCH_BYTES, self.limit)}
        if not self.exactly_once:
            return make_producer(k, **sizes)
        tid = (f"{k.transactional_id}-router" if k.transactional_id else
               f"{self.group_id}-{socket.gethostname()}-{os.getpid()}")
        producer = make_producer(k, transactional_id=tid, transaction_timeout_ms=15000,
                                 **sizes)
        producer.init_transactions()
        return producer

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        k = self.settings.kafka
        if k.topics:
            try:  # now, so replicas can subscribe before the first run; else at first use
                self.ensure_topics(self.runs_topic(t) for t in k.topics)
            except (PublishFailed, KafkaError) as exc:
                log.warning("runs topic not created yet (%s); trying again at the first "
                            "document", exc)
        self._subscribe(k.topics, k.topic_pattern, stop)
        log.info("routing %s (group %s) to %s, %d partitions (%s)", k.topics or k.topic_pattern,
                 self.group_id, self.settings.router.topic, self.settings.router.partitions,
                 k.delivery)
        try:
            while not stop.is_set():
                try:
                    records = self.consumer.poll(k.poll_timeout_ms, k.max_poll_records)
                    self.process(records)
                    self.commit()
                except (PublishFailed, KafkaError) as exc:
                    log.warning("%s: %s; re-reading from the last commit", type(exc).__name__,
                                exc)
                    self.rewind()
                    stop.wait(0.5)
                self._report()
        finally:
            self.close()

    def process(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Route one poll batch and wait for the broker's acknowledgement of every record."""
        for tp in records:
            if not self.tracker.knows(tp):
                self.tracker.resume(tp, self.consumer.committed(tp, metadata=True))
        for tp, messages in records.items():
            for msg in messages:
                self._route(msg, tp)
        expired = self.keys.expire()
        if expired:
            self.counts.expired_runs += len(expired)
            log.info("forgot %d idle run(s) (run_timeout_s or router.max_open_runs)",
                     len(expired))
        self.tracker.prune(self.keys.runs)
        self._flush()

    def _route(self, msg: Any, tp: TopicPartition) -> None:
        try:
            name, links = peek(msg.value)
            run_uid = self.keys.route(name, links, tp)
        except MalformedDocument:
            run_uid = None
        self.tracker.processed(tp, msg.offset, run_uid)
        if self.exactly_once and self.tracker.replayed(tp, msg.offset):
            return  # committed with its records in one transaction: state only
        if self.tracker.replayed(tp, msg.offset):
            self.counts.resent += 1
        if len(msg.value or b"") > self.limit:
            self._dead_letter_too_large(msg, run_uid)
            return
        topic = self.runs_topic(msg.topic)
        self.ensure_topics([topic])
        key = run_uid.encode() if run_uid is not None else msg.key
        headers = [*(msg.headers or []), (SOURCE_HEADER, f"{msg.topic}/{msg.partition}/"
                                                         f"{msg.offset}".encode())]
        self._send(topic, key, msg.value, headers)
        if run_uid is None:
            self.counts.passed += 1
        else:
            self.counts.routed += 1

    def runs_topic(self, input_topic: str) -> str:
        return self.settings.router.topic.format(
            beamline=beamline_of(input_topic, self.settings.beamline))

    def _dead_letter_too_large(self, msg: Any, run_uid: str | None) -> None:
        topic = self.runs_topic(msg.topic)
        err = OutputTooLarge(
            f"document of {len(msg.value or b''):,} bytes is over what topic {topic} takes "
            f"(the broker refused records; now {self.limit:,} bytes): give {topic} the "
            f"max.message.bytes of {msg.topic}", topic=topic, size=len(msg.value or b""),
            limit=self.limit)
        body = dead_letter(err, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                           raw=msg.value, run_uid=run_uid)
        dl_topic = self.settings.kafka.dead_letter_topic.format(
            beamline=beamline_of(msg.topic, self.settings.beamline))
        log.warning("dead letter (output_too_large) from %s[%d]@%d: %s", msg.topic,
                    msg.partition, msg.offset, err.message)
        self._send(dl_topic, run_uid.encode() if run_uid else msg.key, body, [])
        self.counts.dead_letters += 1

    def _too_large(self, refused_bytes: int) -> None:
        # kafka-python's idempotent producer takes a refused record as fatal: every send
        # after it fails the same way, so the producer is replaced (rewind)
        self._refused = True
        self.size.follow_refusal()

    def _needs_new_producer(self) -> bool:
        refused, self._refused = self._refused, False
        return refused

    # -- topics -----------------------------------------------------------------------------
    def ensure_topics(self, names: Iterable[str]) -> None:
        """Create the runs topics with ``router.partitions`` partitions when missing; an
        existing one with fewer partitions is used as it is (said once)."""
        missing = [n for n in dict.fromkeys(names) if n not in self.topics_ready]
        if not missing:
            return
        r, k = self.settings.router, self.settings.kafka
        admin = KafkaAdminClient(**(client_args(k, ADMIN_KEYS) | {
            "bootstrap_servers": k.bootstrap_servers.split(","),
            "client_id": "edgestream-router-admin"}))
        try:
            spec = {n: {"num_partitions": r.partitions, "replication_factor": r.replication,
                        "configs": {"max.message.bytes": str(MAX_REQUEST_BYTES)}}
                    for n in missing}
            result = admin.create_topics(spec, timeout_ms=30000, raise_errors=False)
            refused = [t["name"] for t in result["topics"] if t["error_code"] in CONFIG_REFUSED]
            if refused:  # a cluster policy on topic configs: the broker's default size limit
                log.warning("%s: max.message.bytes refused; created with the broker's default "
                            "(larger documents are dead-lettered)", ", ".join(refused))
                retry = admin.create_topics({n: {k2: v for k2, v in spec[n].items()
                                                 if k2 != "configs"} for n in refused},
                                            timeout_ms=30000, raise_errors=False)
                result["topics"] = [t for t in result["topics"] if t["name"] not in refused]
                result["topics"] += retry["topics"]
            for t in result["topics"]:
                if t["error_code"] == 0:
                    log.info("created %s with %d partitions", t["name"], r.partitions)
                elif t["error_code"] != 36:  # TopicAlreadyExists
                    raise PublishFailed(f"cannot create {t['name']}: error {t['error_code']} "
                                        f"{t.get('error_message')}")
            admin.wait_for_topics(missing, timeout_ms=30000)
            for t in admin.describe_topics(missing):
                n = len(t.get("partitions") or [])
                if n < r.partitions:
                    log.warning("%s has %d partitions, router.partitions is %d: at most %d "
                                "replicas share the runs (add partitions when no run is open)",
                                t["name"], n, r.partitions, n)
        finally:
            admin.close()
        self.topics_ready.update(missing)

    # -- offsets and rebalance ------------------------------------------------------------------
    def rewind(self) -> None:
        """After a failure: abort what is open, drop the state, re-read from the commits."""
        self.keys.clear()
        self._rewind_delivery()

    def _forget(self, gone: list[TopicPartition]) -> None:
        """Forget the runs of partitions another router took: it relearns them from the
        commit."""
        for uid in self.keys.in_sources(gone):
            self.keys.forget(uid)

    def _report(self) -> None:
        if time.monotonic() - self._last_report > 60:
            self._last_report = time.monotonic()
            log.info("router: %s", self.counts.line())

    def _closed(self) -> None:
        log.info("router: %s", self.counts.line())


def check_router(settings: Settings) -> None:
    """Refuse router settings that could only fail later."""
    r = settings.router
    topic_of(r.topic, "router.topic")
    if r.partitions < 1 or r.replication < 1 or r.max_open_runs < 1:
        raise SettingsError("router.partitions, router.replication and router.max_open_runs "
                            "are at least 1")
    if settings.kafka.topics and any(settings.router.topic.format(
            beamline=beamline_of(t, settings.beamline)) == t for t in settings.kafka.topics):
        raise SettingsError("router.topic would be one of the router's input topics")
