"""The Kafka door: poll, assemble, annotate, publish, then commit what is safe."""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from edgestream.config.checks import topic_of
from edgestream.config.settings import KafkaSettings, Settings, SettingsError
from edgestream.documents.spectrum import RawSpectrum
from edgestream.documents.wire import decode
from edgestream.doors.kafka.clients import (
    PRODUCER_DEFAULTS,
    BrokerWatch,
    make_consumer,
    make_producer,
)
from edgestream.doors.kafka.delivery import (
    DOCUMENTS_SUFFIX,
    TOPIC_NAME,
    KafkaDoor,
    PublishFailed,
    beamline_of,
    poll_batch,
)
from edgestream.doors.kafka.offsets import OffsetTracker
from edgestream.errors import StreamError, internal_error
from edgestream.pipeline import Outcome, Pipeline
from edgestream.publish.policy import MIN_MESSAGE_BYTES, Batch, Message, PublishPolicy
from edgestream.publish.tiled import open_sink

__all__ = ["DOCUMENTS_SUFFIX", "MIN_MESSAGE_BYTES", "TOPIC_NAME", "AnnotationService",
           "PublishFailed", "beamline_of", "check_outputs", "run_uid_of"]

log = logging.getLogger(__name__)

# The poll that follows a batch in flight waits at most this long before the batch is settled
# (its offsets committed, its annotations counted) when no new records come
IN_FLIGHT_POLL_MS = 10


def check_outputs(k: KafkaSettings) -> None:
    """Refuse output settings that could only fail later, once per message: topic templates
    that make illegal Kafka topic names, a size limit no broker setup needs (as the settings
    are checked at load, ``edgestream.config.checks``; here for settings built in code)."""
    for key in ("annotations_topic", "dead_letter_topic", "derived_topic"):
        topic_of(getattr(k, key), f"kafka.{key}")
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


class AnnotationService(KafkaDoor):
    """One consumer in a group; run() until ``stop`` is set. Bad input never stops it.

    ``delivery="at_least_once"`` (default): outputs are acknowledged, then offsets committed;
    with ``kafka.overlap_publish`` the acknowledgement of one batch is awaited while the next
    is polled and processed (``step``).
    ``delivery="exactly_once"``: outputs and offsets go in one Kafka transaction per poll
    batch; downstream consumers read with ``isolation_level="read_committed"``. What is
    published for each batch (and what does not fit) is ``edgestream.publish.policy``'s.
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
        if settings.kafka.delivery not in ("at_least_once", "exactly_once"):
            raise SettingsError(f"kafka.delivery must be at_least_once or exactly_once, "
                                f"not {settings.kafka.delivery!r}")
        check_outputs(settings.kafka)
        self.exactly_once = settings.kafka.delivery == "exactly_once"
        # one transaction at a time: exactly-once waits for each batch before the next poll
        self.overlap = settings.kafka.overlap_publish and not self.exactly_once
        self.tracker = OffsetTracker()
        self.policy = PublishPolicy(settings, self.metrics, self._send_message,
                                    tiled=open_sink(settings.tiled, self.metrics),
                                    on_annotation=on_annotation)
        self.consumer = make_consumer(settings.kafka)
        self._start_delivery()
        self.producer = self._new_producer()

    @property
    def max_message_bytes(self) -> int:
        """The size limit now: kafka.max_message_bytes, or less once the broker refused."""
        return self.policy.limit.bytes

    @property
    def tiled(self) -> Any:
        """The Tiled sink (None unless tiled.uri is set)."""
        return self.policy.tiled

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
        # no wait for the topics' metadata: a beamline often creates its topic after the
        # service starts, and the pattern picks it up (metadata_max_age_ms)
        self._subscribe(k.topics, k.topic_pattern, stop, wait_s=0.0)
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
                    # a batch in flight is settled right after the next poll: a short one
                    timeout = k.poll_timeout_ms if self._in_flight is None else \
                        min(k.poll_timeout_ms, IN_FLIGHT_POLL_MS)
                    records = poll_batch(self.consumer, timeout, k.max_poll_records,
                                         k.max_batch_latency_ms)
                    if not records and self._in_flight is None:
                        watch.check()  # a broker gone shows as empty polls: say so once
                    self.step(records)
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

    def step(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Process one poll batch, publish it, and commit what its acknowledgement makes safe.

        At-least-once with ``kafka.overlap_publish``: the batch's sends are not waited for
        here; they are acknowledged while the next batch is polled and processed, then this
        batch's offsets (taken now) are committed, before the next batch's. A failed send
        commits nothing: both batches are read again from the last commit."""
        if not self.overlap:
            self.process(records)
            self.commit()
            return
        batch = self.process(records, wait=False)
        self.settle()  # the batch before: acknowledged meanwhile, mostly
        self.hand_off(lambda: self.policy.delivered(batch))
        if not records:  # nothing to overlap with: settle now, not after the next poll
            self.settle()

    def process(self, records: dict[TopicPartition, list[Any]], wait: bool = True) -> Batch:
        """Ingest, annotate and send one poll batch; ``wait``: also wait for the broker's
        acknowledgement and hand the batch to ``policy.delivered`` (else ``step`` does)."""
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
        batch = self.policy.publish(out, stopped + sorted(expired_runs))
        if wait:
            self._flush()
            self.policy.delivered(batch)
        self.tracker.prune(self.pipeline.router.runs)
        self.tracker.release(self.pipeline.filler.holding)
        self._record_lag()
        return batch

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
                self.policy.note_run(run_uid, beamline_of(msg.topic, self.settings.beamline))
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
    def _send_message(self, m: Message) -> None:
        self._send(m.topic, m.key.encode() if m.key else None, m.value)

    def _dead_letter(self, exc: StreamError, msg: Any, name: str | None, run_uid: str | None
                     ) -> None:
        self.policy.dead_letter(
            exc, beamline=beamline_of(msg.topic, self.settings.beamline), topic=msg.topic,
            partition=msg.partition, offset=msg.offset, raw=msg.value, name=name,
            run_uid=run_uid, key=msg.key.decode(errors="replace") if msg.key else None)

    def _too_large(self, refused_bytes: int) -> None:
        self.policy.refused(refused_bytes)

    def _needs_new_producer(self) -> bool:
        return bool(self.producer.config["batch_size"] > self.max_message_bytes)

    # -- offsets and rebalance ------------------------------------------------------------------
    def rewind(self) -> None:
        """After a failure: abort what is open, drop run state, re-read from the commits."""
        self.pipeline.router.runs.clear()
        self.pipeline.router.descriptor_run.clear()
        self.policy.reset()
        self._rewind_delivery()

    def _forget(self, gone: list[TopicPartition]) -> None:
        for uid in self.tracker.runs_in(gone):
            self.pipeline.router.forget(uid)

    def _closed(self) -> None:
        self.policy.close(timeout=30)
        for model in self.pipeline.models:
            model.unload()
