"""What the service and the router share: one consumer in a group, one producer, and the
delivery around them.

Every poll batch's sends are acknowledged before its offsets are committed (at-least-once),
or go with them in one Kafka transaction (exactly-once). At-least-once may overlap the wait
for one batch's acknowledgements with the poll and processing of the next (``hand_off`` /
``settle``): a batch's offsets, taken when it was processed, are committed only once every
send of that batch is acknowledged, and batches are committed in order. A failure aborts
what is open, and the door re-reads from the last commit (``rewind``). A rebalance drops the
state of the partitions that went to another member; their next owner replays them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import (
    CommitFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    RebalanceInProgressError,
)

from edgestream.config.checks import TOPIC_NAME
from edgestream.doors.kafka.offsets import OffsetTracker, seek_to_committed

__all__ = ["DOCUMENTS_SUFFIX", "TOPIC_NAME", "InFlight", "KafkaDoor", "PublishFailed",
           "beamline_of", "poll_batch"]

log = logging.getLogger(__name__)

# A documents topic, or the runs topic of `edgestream route` (router.topic's default)
DOCUMENTS_SUFFIX = re.compile(r"\.(bluesky\.runengine\.documents|edgestream\.runs)$")
# How long the sends of one poll batch may take after the flush before they count as failed
FLUSH_TIMEOUT_S = 60.0


class PublishFailed(RuntimeError):
    """The broker did not acknowledge a message; nothing is committed."""


def beamline_of(topic: str, default: str) -> str:
    """``<beamline>.bluesky.runengine.documents`` -> ``<beamline>``."""
    return DOCUMENTS_SUFFIX.sub("", topic) if DOCUMENTS_SUFFIX.search(topic) else default


Records = dict[TopicPartition, list[Any]]


def poll_batch(consumer: Any, timeout_ms: float, max_records: int, max_latency_ms: float,
               clock: Callable[[], float] = time.time) -> Records:
    """One batch, sized by count and by time: the first poll waits up to ``timeout_ms``; once
    records came, more are polled until ``max_records``, or until the oldest record has
    waited ``max_latency_ms`` since its producer stamped it (never longer than that from
    now: a skewed producer clock cannot hold a batch back). ``max_latency_ms`` 0: one poll.

    A busy stream fills larger batches (the fixed cost of each call is shared); a quiet one
    gives each record at most ``max_latency_ms`` of waiting for company.
    """
    records: Records = consumer.poll(timeout_ms, max_records)
    n = sum(len(m) for m in records.values())
    if not n or max_latency_ms <= 0:
        return records
    now = clock()
    stamps = [m[0].timestamp for m in records.values() if m and (m[0].timestamp or 0) > 0]
    oldest = min(stamps) / 1e3 if stamps else now
    deadline = min(oldest, now) + max_latency_ms / 1e3
    while n < max_records:
        left_ms = (deadline - clock()) * 1e3
        if left_ms < 1:
            break
        more: Records = consumer.poll(int(left_ms), max_records - n)
        for tp, messages in more.items():  # same partition: later offsets, order kept
            records.setdefault(tp, []).extend(messages)
            n += len(messages)
    return records


@dataclass
class InFlight:
    """One batch whose sends await the broker's acknowledgement: its futures, the offsets
    that become safe to commit once they are all acknowledged, and what the door does then."""

    futures: list[tuple[Any, int]]
    offsets: dict[TopicPartition, OffsetAndMetadata]
    on_acked: Callable[[], None] | None = None
    sent_at: float = field(default_factory=time.monotonic)


class KafkaDoor(ConsumerRebalanceListener):
    """A consumer, a producer and the delivery of what one poll batch sends.

    Subclasses set ``consumer``, ``producer`` (through ``_new_producer``), ``exactly_once``
    and ``tracker``, and say what a refusal as too large, a rebalance and a close mean to
    them (``_too_large``, ``_forget``, ``_needs_new_producer``, ``_closed``).
    """

    consumer: Any
    producer: Any
    exactly_once: bool
    tracker: OffsetTracker
    metrics: Any = None  # edgestream.metrics.Metrics of the service; None for the router

    def _start_delivery(self) -> None:
        self._futures: list[tuple[Any, int]] = []  # (future, message bytes)
        self._in_flight: InFlight | None = None  # at-least-once: the batch being acked
        self._in_transaction = False
        self._revoked: list[TopicPartition] = []  # until the next assignment

    # -- what subclasses say ----------------------------------------------------------------
    def _new_producer(self) -> Any:
        raise NotImplementedError

    def _too_large(self, refused_bytes: int) -> None:
        """The broker refused a record batch as too large (largest failed record given)."""

    def _needs_new_producer(self) -> bool:
        """After a rewind: whether the producer must be replaced (its limits changed)."""
        return False

    def _forget(self, gone: list[TopicPartition]) -> None:
        """Drop the runs of partitions that went to another member."""

    def _closed(self) -> None:
        """After the consumer and producer are closed."""

    # -- subscription -------------------------------------------------------------------------
    def _subscribe(self, topics: list[str], pattern: str, stop: Any,
                   wait_s: float = 30.0) -> None:
        """Subscribe to ``topics`` by name, else to ``pattern``.

        kafka-python 3.0.12 assigns nothing, for good, to a member whose group leader had no
        metadata for an explicitly named topic at the join (seen 1 in 3 on Apache Kafka with
        a new topic, and in the full test suite): subscribe by a pattern naming them, which
        re-checks them, after waiting up to ``wait_s`` for their metadata (the first
        assignment then comes at once; a topic created later is picked up all the same)."""
        if not topics:
            self.consumer.subscribe(pattern=pattern, listener=self)
            return
        if wait_s > 0:
            self._await_metadata(topics, stop, wait_s)
        self.consumer.subscribe(
            pattern="^(" + "|".join(re.escape(t) for t in topics) + ")$", listener=self)

    def _await_metadata(self, topics: list[str], stop: Any, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while missing and time.monotonic() < deadline and not stop.is_set():
            missing = [t for t in missing if not self.consumer.partitions_for_topic(t)]
            if missing:
                stop.wait(0.5)
        if missing:
            log.warning("no partitions known yet for %s: consuming starts when they appear",
                        ", ".join(missing))

    # -- sends --------------------------------------------------------------------------------
    def _begin(self) -> None:
        if self.exactly_once and not self._in_transaction:
            self.producer.begin_transaction()
            self._in_transaction = True

    def _send(self, topic: str, key: bytes | None, value: bytes | None,
              headers: list[tuple[str, bytes]] | None = None) -> None:
        self._begin()
        try:
            fut = self.producer.send(topic, key=key, value=value, headers=headers)
        except KafkaError as exc:  # e.g. no metadata for a topic the broker will not create
            raise PublishFailed(f"cannot send to {topic}: {exc}") from exc
        self._futures.append((fut, len(value or b"")))

    def _flush(self) -> None:
        """Wait for the broker's acknowledgement of every send; PublishFailed if one
        failed."""
        futures, self._futures = self._futures, []
        if not futures:
            return
        try:
            self.producer.flush()
        except KafkaError as exc:
            # kafka-python 3.0 gives up waiting on a batch it split after a "too large"
            # refusal ("Future not done"); each record's own future follows the split
            log.debug("flush: %s; waiting on each send", exc)
        self._await(futures)

    def _await(self, futures: list[tuple[Any, int]]) -> None:
        """Wait for each send's acknowledgement (sent already: linger_ms at most, no
        flush of later sends); PublishFailed if one failed."""
        failed: list[tuple[KafkaError, int]] = []
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        for fut, size in futures:
            try:
                fut.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                failed.append((exc, size))
        if not failed:
            return
        if any(isinstance(exc, MessageSizeTooLargeError) for exc, _ in failed):
            self._too_large(max(size for _, size in failed))
        raise PublishFailed(f"{len(failed)} of {len(futures)} sends failed: {failed[0][0]}")

    # -- offsets ------------------------------------------------------------------------------
    def _count_commit(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.commits.labels(status).inc()

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
                self._count_commit("ok")
            return
        self._commit_offsets(offsets)

    def hand_off(self, on_acked: Callable[[], None] | None = None) -> None:
        """At-least-once, overlapped: the batch just processed goes in flight with the offsets
        that its acknowledgement makes safe (taken now, before the next batch moves them);
        ``settle`` commits them. The batch before it must be settled first."""
        if self._in_flight is not None:
            raise RuntimeError("hand_off with a batch still in flight")
        futures, self._futures = self._futures, []
        self._in_flight = InFlight(futures, self.tracker.to_commit(), on_acked)

    def settle(self) -> None:
        """Wait for the batch in flight (if any), then commit its offsets and run its
        ``on_acked``. PublishFailed (nothing committed) if a send failed."""
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return
        # the sends went out when linger_ms passed; kafka-python waits for nothing else, so
        # no flush here (it would also force out the next batch's sends)
        self._await(flight.futures)
        if flight.on_acked is not None:
            flight.on_acked()
        self._commit_offsets(flight.offsets)

    def _commit_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        # taken before a rebalance: partitions gone since are their new owner's to commit
        owned = self.consumer.assignment()
        offsets = {tp: om for tp, om in offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
            self.tracker.mark_committed(offsets)
            self._count_commit("ok")
        except (RebalanceInProgressError, CommitFailedError) as exc:
            # Normal during a rebalance: the next owner replays from the last commit.
            self._count_commit("retry")
            log.info("commit deferred: %s", type(exc).__name__)

    def _rewind_delivery(self) -> None:
        """After a failure: abort what is open, replace a broken producer, and seek every
        partition back to its commit (the subclass drops its run state). A batch in flight
        is dropped uncommitted: it is read again with the rest."""
        self._futures = []
        self._in_flight = None
        broken = False
        if self._in_transaction:
            try:
                self.producer.abort_transaction()
            except KafkaError as exc:  # a fenced or broken producer: start a fresh one
                log.warning("abort failed (%s); new transactional producer", exc)
                broken = True
            self._in_transaction = False
        if broken or self._needs_new_producer():
            self.producer.close(timeout=5)
            self.producer = self._new_producer()
        self.tracker = OffsetTracker()
        seek_to_committed(self.consumer)

    # -- rebalance ----------------------------------------------------------------------------
    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Note the revoked partitions; their runs are dropped once the new assignment
        shows which ones really left (``on_partitions_assigned``).

        Runs on kafka-python's IO thread, where blocking calls (commit, flush) are refused.
        Nothing is lost by not committing here: what is not committed (a failed commit, or
        at-least-once's batch in flight during the poll) is replayed by the next owner, with
        the same ids.
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
        self._forget(gone)
        self.tracker.revoke(gone)
        self._revoked = []
        log.info("partitions assigned: %s",
                 sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    def close(self) -> None:
        """Publish and commit what is done, then close the clients."""
        try:
            self.settle()
            self._flush()
            self.commit()
        except (PublishFailed, KafkaError) as exc:
            log.warning("final commit failed: %s", exc)
            if self._in_transaction:
                with contextlib.suppress(KafkaError):
                    self.producer.abort_transaction()
        self.consumer.close()
        self.producer.close(timeout=5)
        self._closed()
