"""The Kafka door: poll, assemble, annotate, publish, then commit what is safe."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import (
    CommitFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    RebalanceInProgressError,
)

from edgestream.config.settings import KafkaSettings, Settings, SettingsError
from edgestream.documents.spectrum import RawSpectrum
from edgestream.documents.wire import decode, encode
from edgestream.doors.kafka.clients import (
    PRODUCER_DEFAULTS,
    BrokerWatch,
    make_consumer,
    make_producer,
)
from edgestream.doors.kafka.offsets import OffsetTracker, seek_to_committed
from edgestream.errors import OutputTooLarge, StreamError, internal_error
from edgestream.pipeline import Failure, Outcome, Pipeline
from edgestream.publish.annotation import to_json
from edgestream.publish.deadletter import dead_letter
from edgestream.publish.derived import DerivedRuns, split_event_page
from edgestream.publish.tiled import open_sink

log = logging.getLogger(__name__)

# A documents topic, or the runs topic of `edgestream route` (router.topic's default)
DOCUMENTS_SUFFIX = re.compile(r"\.(bluesky\.runengine\.documents|edgestream\.runs)$")
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
# Below this, a broker's refusal is not followed down: it is a broker set up wrongly.
MIN_MESSAGE_BYTES = 64 * 1024
# How long the sends of one poll batch may take after the flush before they count as failed
FLUSH_TIMEOUT_S = 60.0


class PublishFailed(RuntimeError):
    """The broker did not acknowledge an output message; nothing is committed."""


def beamline_of(topic: str, default: str) -> str:
    """``<beamline>.bluesky.runengine.documents`` -> ``<beamline>``."""
    return DOCUMENTS_SUFFIX.sub("", topic) if DOCUMENTS_SUFFIX.search(topic) else default


def check_outputs(k: KafkaSettings) -> None:
    """Refuse output settings that could only fail later, once per message: topic templates
    that make illegal Kafka topic names, a size limit no broker setup needs."""
    for key in ("annotations_topic", "dead_letter_topic", "derived_topic"):
        try:
            name = getattr(k, key).format(beamline="bl")
        except (KeyError, IndexError, ValueError) as exc:
            raise SettingsError(f"kafka.{key} {getattr(k, key)!r}: only {{beamline}} may be "
                                f"filled in ({exc})") from None
        if not TOPIC_NAME.fullmatch(name):
            raise SettingsError(f"kafka.{key} {getattr(k, key)!r}: a Kafka topic name has "
                                "1-249 of the characters a-z A-Z 0-9 . _ -")
    if k.max_message_bytes < MIN_MESSAGE_BYTES:
        raise SettingsError(f"kafka.max_message_bytes {k.max_message_bytes}: at least "
                            f"{MIN_MESSAGE_BYTES} (64 KiB)")


def run_uid_of(name: str, doc: dict[str, Any], descriptor_run: dict[str, str]) -> str | None:
    if name == "start":
        return doc.get("uid")
    if name in ("descriptor", "stop"):
        return doc.get("run_start")
    if name in ("event", "event_page"):
        return descriptor_run.get(doc.get("descriptor"))  # type: ignore[arg-type]
    return None


@dataclass
class _Pending:
    """Output of one poll batch, published together before the offsets move."""

    futures: list[tuple[Any, int]] = field(default_factory=list)  # (future, message bytes)
    annotations: int = 0


class AnnotationService(ConsumerRebalanceListener):
    """One consumer in a group; run() until ``stop`` is set. Bad input never stops it.

    ``delivery="at_least_once"`` (default): outputs are flushed, then offsets committed.
    ``delivery="exactly_once"``: outputs and offsets go in one Kafka transaction per poll
    batch; downstream consumers read with ``isolation_level="read_committed"``.
    """

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = pipeline.metrics
        self.on_annotation = on_annotation
        if settings.kafka.delivery not in ("at_least_once", "exactly_once"):
            raise SettingsError(f"kafka.delivery must be at_least_once or exactly_once, "
                                f"not {settings.kafka.delivery!r}")
        check_outputs(settings.kafka)
        self.exactly_once = settings.kafka.delivery == "exactly_once"
        self.tracker = OffsetTracker()
        self.derived = DerivedRuns()
        self.tiled = open_sink(settings.tiled, self.metrics)  # None unless tiled.uri is set
        self.run_beamline: dict[str, str] = {}
        self.consumer = make_consumer(settings.kafka)
        self.max_message_bytes = settings.kafka.max_message_bytes
        self.producer = self._new_producer()
        self._pending = _Pending()
        self._in_transaction = False
        self._revoked: list[TopicPartition] = []  # until the next assignment

    def _new_producer(self) -> Any:
        # A record batch counts against the broker's limit as one message
        configured = self.settings.kafka.client.get("batch_size", PRODUCER_DEFAULTS["batch_size"])
        batch = min(int(configured), self.max_message_bytes)
        if not self.exactly_once:
            return make_producer(self.settings.kafka, batch_size=batch)
        # A short timeout: a transaction orphaned by a crash must not hold back
        # read_committed readers for the broker's default minute.
        producer = make_producer(self.settings.kafka, transactional_id=self._transactional_id(),
                                 transaction_timeout_ms=15000, batch_size=batch)
        producer.init_transactions()
        return producer

    def _transactional_id(self) -> str:
        k = self.settings.kafka
        return k.transactional_id or f"{k.group_id}-{socket.gethostname()}-{os.getpid()}"

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        k = self.settings.kafka
        if k.topics:
            self.consumer.subscribe(topics=k.topics, listener=self)
        else:
            self.consumer.subscribe(pattern=k.topic_pattern, listener=self)
        log.info("consuming %s as group %s from %s (%s)", k.topics or k.topic_pattern,
                 k.group_id, k.bootstrap_servers, k.delivery)
        # Models, sessions and modules loaded at start-up live as long as the service: out of
        # the collector's sight, a full collection no longer walks them (48 ms pauses seen).
        gc.collect()
        gc.freeze()
        watch = BrokerWatch(k.bootstrap_servers)
        try:
            while not stop.is_set():
                try:
                    records = self.consumer.poll(k.poll_timeout_ms, k.max_poll_records)
                    if not records:
                        watch.check()  # a broker gone shows as empty polls: say so once
                    self.process(records)
                    self.commit()
                except (PublishFailed, KafkaError) as exc:
                    # Broker trouble: kafka-python reconnects by itself; nothing uncommitted
                    # is lost because we re-read from the last commit. While the broker is
                    # known to be away, BrokerWatch has said so once: no line per try.
                    level = logging.WARNING if watch.check(force=True) else logging.DEBUG
                    log.log(level, "%s: %s; re-reading from the last commit",
                            type(exc).__name__, exc)
                    self.metrics.errors.labels("kafka").inc()
                    self.rewind()
                    stop.wait(0.5)
                except Exception:  # a bug outside the per-message guards: log, count, go on
                    log.exception("unexpected error in the poll loop; continuing")
                    self.metrics.errors.labels("internal").inc()
        finally:
            watch.close()
            self.close()

    def process(self, records: dict[TopicPartition, list[Any]]) -> None:
        for tp in records:
            if not self.tracker.knows(tp):
                self.tracker.resume(tp, self.consumer.committed(tp, metadata=True))
        spectra: list[RawSpectrum] = []
        out = Outcome()
        stopped: list[str] = []
        for tp, messages in records.items():
            for msg in messages:
                spectra += self._ingest(msg, tp, out, stopped)
        annotated = self.pipeline.annotate(spectra)
        expired = self.pipeline.expire()
        out.annotations += annotated.annotations + expired.annotations
        out.failures += annotated.failures + expired.failures
        expired_runs = {a["ids"]["run_uid"] for a in expired.annotations}
        self._publish(out, stopped + sorted(expired_runs))
        self.tracker.prune(self.pipeline.router.runs)
        self.tracker.release(self.pipeline.filler.holding)
        self._record_lag()

    def _record_lag(self) -> None:
        """Consumer lag per partition, from the high watermark of the last fetch."""
        for tp, nxt in self.tracker.next_offset.items():
            high = self.consumer.highwater(tp)
            if high is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - nxt))

    def _ingest(self, msg: Any, tp: TopicPartition, out: Outcome, stopped: list[str]
                ) -> list[RawSpectrum]:
        replayed = self.tracker.replayed(tp, msg.offset)
        name, doc, run_uid = None, None, None
        try:
            name, doc = decode(msg.value)
            run_uid = run_uid_of(name, doc, self.pipeline.router.descriptor_run) \
                or run_uid_of(name, doc, self.pipeline.filler.descriptor_run)
            if name == "start" and isinstance(run_uid, str):
                self.run_beamline[run_uid] = beamline_of(msg.topic, self.settings.beamline)
            spectra = self.pipeline.ingest(name, doc)
            if name == "stop" and isinstance(run_uid, str) and not replayed:
                stopped.append(run_uid)
            # A replayed message only rebuilds run state: its outputs are out already.
            return [] if replayed else spectra
        except StreamError as exc:
            if not replayed:
                self._dead_letter(exc, msg, name, run_uid if isinstance(run_uid, str) else None)
            return []
        except Exception as exc:  # a bug must cost one message, not the service
            log.exception("internal error on %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            if not replayed:
                err = internal_error(exc)
                self._dead_letter(err, msg, name, run_uid if isinstance(run_uid, str) else None)
            return []
        finally:
            self.tracker.processed(tp, msg.offset, run_uid if isinstance(run_uid, str) else None)
            if isinstance(run_uid, str) and self.pipeline.filler.holding(run_uid):
                self.tracker.held(tp, msg.offset, run_uid)

    # -- output -----------------------------------------------------------------------------
    def _topic(self, template: str, run_uid: str | None) -> str:
        beamline = self.run_beamline.get(run_uid or "", self.settings.beamline)
        return template.format(beamline=beamline)

    def _send(self, topic: str, key: str | None, value: bytes) -> None:
        self._begin()
        try:
            fut = self.producer.send(topic, key=key.encode() if key else None, value=value)
        except KafkaError as exc:  # e.g. no metadata for a topic the broker will not create
            raise PublishFailed(f"cannot send to {topic}: {exc}") from exc
        self._pending.futures.append((fut, len(value)))

    def _send_output(self, topic: str, run_uid: str, value: bytes, what: str) -> bool:
        """An annotation or derived document, or its dead letter when it is over the limit
        (then False)."""
        if len(value) <= self.max_message_bytes:
            self._send(topic, run_uid, value)
            return True
        self.metrics.errors.labels(OutputTooLarge.reason).inc()
        self._failure(Failure(OutputTooLarge(
            f"{what} of {len(value):,} bytes is over kafka.max_message_bytes "
            f"({self.max_message_bytes:,})", topic=topic, size=len(value),
            limit=self.max_message_bytes), run_uid=run_uid, document_name=what))
        return False

    def _send_derived(self, run_uid: str, name: str, doc: dict[str, Any]) -> None:
        """A derived document; an event page over the size limit goes as several."""
        value = encode(name, doc)
        if (name == "event_page" and len(value) > self.max_message_bytes
                and len(doc["seq_num"]) > 1):
            # 10 % headroom: the events differ in size (predictions, NaN-padded spectra)
            pieces = math.ceil(len(value) / (0.9 * self.max_message_bytes))
            for page in split_event_page(doc, pieces):
                self._send_derived(run_uid, name, page)
            return
        self._send_output(self._topic(self.settings.kafka.derived_topic, run_uid), run_uid,
                          value, name)

    def _dead_letter(self, exc: StreamError, msg: Any, name: str | None, run_uid: str | None
                     ) -> None:
        self.metrics.errors.labels(exc.reason).inc()
        self.metrics.dead_letters.labels(exc.reason).inc()
        log.warning("dead letter (%s) from %s[%d]@%d: %s", exc.reason, msg.topic, msg.partition,
                    msg.offset, exc.message)
        body = dead_letter(exc, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                           raw=msg.value, document_name=name, run_uid=run_uid)
        beamline = beamline_of(msg.topic, self.settings.beamline)
        topic = self.settings.kafka.dead_letter_topic.format(beamline=beamline)
        self._send(topic, run_uid or (msg.key.decode(errors="replace") if msg.key else None), body)

    def _failure(self, f: Failure) -> None:
        self.metrics.dead_letters.labels(f.error.reason).inc()
        log.warning("dead letter (%s) for run %s: %s", f.error.reason, f.run_uid, f.error.message)
        body = dead_letter(f.error, document_name=f.document_name, run_uid=f.run_uid)
        self._send(self._topic(self.settings.kafka.dead_letter_topic, f.run_uid), f.run_uid, body)

    def _publish(self, out: Outcome, ended_runs: list[str]) -> None:
        k = self.settings.kafka
        for f in out.failures:
            self._failure(f)
        now = time.time()
        published = []
        for a in out.annotations:
            run_uid = a["ids"]["run_uid"]
            a["timing"]["published_at"] = now
            if self._send_output(self._topic(k.annotations_topic, run_uid), run_uid,
                                 to_json(a), "annotation"):
                published.append(a)
        derived: list[tuple[str, str, dict[str, Any]]] = []
        if k.publish_derived or self.tiled is not None:
            derived = self.derived.on_annotations(published)
            for run_uid in ended_runs:
                derived += [(run_uid, name, doc) for name, doc in self.derived.on_run_end(run_uid)]
        if k.publish_derived:
            for run_uid, name, doc in derived:
                self._send_derived(run_uid, name, doc)
        for run_uid in ended_runs:
            self.run_beamline.pop(run_uid, None)
        self._pending.annotations += len(published)
        self._flush()
        if self.tiled is not None:  # after the broker took them; a replay is deduplicated
            self.tiled.submit(derived)
        for a in published:
            self.metrics.annotations.labels(a["kind"]).inc()
            t_event = a["timing"]["event_time"][1]
            if t_event > 0:
                self.metrics.latency.observe(max(0.0, time.time() - t_event))
            if self.on_annotation is not None:
                self.on_annotation(a)

    def _flush(self) -> None:
        pending, self._pending = self._pending, _Pending()
        if not pending.futures:
            return
        try:
            self.producer.flush()
        except KafkaError as exc:
            # kafka-python 3.0 gives up waiting on a batch it split after a "too large"
            # refusal ("Future not done"); each record's own future follows the split
            log.debug("flush: %s; waiting on each send", exc)
        failed = []
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        for fut, size in pending.futures:
            try:
                fut.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                failed.append((exc, size))
        if not failed:
            return
        if any(isinstance(exc, MessageSizeTooLargeError) for exc, _ in failed):
            self._follow_broker_limit(max(size for _, size in failed))
        raise PublishFailed(f"{len(failed)} of {len(pending.futures)} sends failed: "
                            f"{failed[0][0]}")

    def _follow_broker_limit(self, refused_bytes: int) -> None:
        """The broker refused a record batch as too large: its limit (a topic's
        max.message.bytes) is below ours, and replaying with the same limit would fail the
        same way forever. Halve ours (messages and producer batches) until it takes them."""
        if self.max_message_bytes <= MIN_MESSAGE_BYTES:
            log.error("the broker refuses records of %s bytes and less: check the topics' "
                      "max.message.bytes", f"{refused_bytes:,}")
            return
        self.max_message_bytes = max(MIN_MESSAGE_BYTES, self.max_message_bytes // 2)
        log.warning("the broker refused a record batch as too large (largest record %s "
                    "bytes): outputs and batches now stay under %s bytes; set "
                    "kafka.max_message_bytes to the topics' max.message.bytes",
                    f"{refused_bytes:,}", f"{self.max_message_bytes:,}")

    # -- offsets ----------------------------------------------------------------------------
    def _begin(self) -> None:
        if self.exactly_once and not self._in_transaction:
            self.producer.begin_transaction()
            self._in_transaction = True

    def commit(self, partitions: list[TopicPartition] | None = None) -> None:
        """Commit safe offsets: in the open transaction (exactly-once) or after the flush."""
        offsets = self.tracker.to_commit()
        if partitions is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp in partitions}
        if self.exactly_once:
            if offsets:
                self._begin()
                self.producer.send_offsets_to_transaction(offsets, self.consumer.group_metadata())
            if self._in_transaction:
                self.producer.commit_transaction()
                self._in_transaction = False
                self.tracker.mark_committed(offsets)
                self.metrics.commits.labels("ok").inc()
            return
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
            self.tracker.mark_committed(offsets)
            self.metrics.commits.labels("ok").inc()
        except (RebalanceInProgressError, CommitFailedError) as exc:
            # Normal during a rebalance: the next owner replays from the last commit.
            self.metrics.commits.labels("retry").inc()
            log.info("commit deferred: %s", type(exc).__name__)

    def rewind(self) -> None:
        """After a failure: abort what is open, drop run state, re-read from the commits."""
        self._pending = _Pending()
        if self._in_transaction:
            try:
                self.producer.abort_transaction()
            except KafkaError as exc:  # a fenced or broken producer: start a fresh one
                log.warning("abort failed (%s); new transactional producer", exc)
                self.producer.close(timeout=5)
                self.producer = self._new_producer()
            self._in_transaction = False
        if self.producer.config["batch_size"] > self.max_message_bytes:  # the limit came down
            self.producer.close(timeout=5)
            self.producer = self._new_producer()
        self.pipeline.router.runs.clear()
        self.pipeline.router.descriptor_run.clear()
        self.derived = DerivedRuns()
        self.tracker = OffsetTracker()
        seek_to_committed(self.consumer)

    # -- rebalance --------------------------------------------------------------------------
    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Note the revoked partitions; their runs are dropped once the new assignment
        shows which ones really left (``on_partitions_assigned``).

        Runs on kafka-python's IO thread, where blocking calls (commit, flush) are refused.
        Nothing is lost by not committing here: every poll batch is published and committed
        before the next poll, and what a failed commit leaves is replayed, with the same ids.
        """
        self._revoked = list(revoked)
        if revoked:
            log.info("partitions revoked: %s",
                     sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Drop the state of runs on partitions that went to another member; their next
        owner replays them. kafka-python 3 keeps the position of a partition revoked and
        assigned again in one rebalance, so its runs keep their state too (dropped, the
        rest of an open run would meet no start: unknown_descriptor)."""
        kept = set(assigned)
        gone = [tp for tp in self._revoked if tp not in kept]
        for uid in self.tracker.runs_in(gone):
            self.pipeline.router.forget(uid)
        self.tracker.revoke(gone)
        self._revoked = []
        log.info("partitions assigned: %s",
                 sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    def close(self) -> None:
        try:
            self._flush()
            self.commit()
        except (PublishFailed, KafkaError) as exc:
            log.warning("final commit failed: %s", exc)
            if self._in_transaction:
                with contextlib.suppress(KafkaError):
                    self.producer.abort_transaction()
        self.consumer.close()
        self.producer.close(timeout=5)
        if self.tiled is not None:
            self.tiled.close(timeout=30)
        for model in self.pipeline.models:
            model.unload()
