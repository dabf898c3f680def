"""Which offsets are safe to commit, and which replayed messages were already answered.

The committed offset of a partition never passes the first message of a run still open: a
consumer that restarts (or takes over the partition) replays every open run from its start
document, so no run is ever joined in the middle. The commit's metadata carries how far the
partition was processed (``{"done": offset}``); messages below that mark are replayed only to
rebuild run state, and their outputs, already published, are not published again.

A run whose documents the external-data filler holds back (its detector file not yet written)
has not answered them yet: the mark stays below the first held message of such a run, so a
restart that finds the file written publishes the run's spectra instead of taking them for
already answered.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Container
from typing import Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


def seek_to_committed(consumer: Any) -> None:
    """Put every assigned partition back at its committed offset (its beginning when none):
    after a failed publish or commit, the batch is read again from there."""
    try:
        for tp in consumer.assignment():
            committed = consumer.committed(tp)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
    except KafkaError as exc:  # broker still away: positions are reset on reassignment
        log.warning("could not seek to committed offsets yet: %s", exc)


def parse_done(metadata: str | None) -> int:
    """The processed-up-to mark stored in a commit's metadata; 0 when absent or foreign."""
    try:
        return int(json.loads(metadata or "{}").get("done", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


class OffsetTracker:
    def __init__(self) -> None:
        self.next_offset: dict[TopicPartition, int] = {}
        self.first_open: dict[TopicPartition, dict[str, int]] = defaultdict(dict)
        self.done: dict[TopicPartition, int] = {}  # from the last commit, per partition
        self.committed: dict[TopicPartition, tuple[int, int]] = {}
        # first offset of each run whose documents are held back, not yet answered
        self.first_held: dict[TopicPartition, dict[str, int]] = defaultdict(dict)

    def knows(self, tp: TopicPartition) -> bool:
        return tp in self.done

    def resume(self, tp: TopicPartition, committed: OffsetAndMetadata | None) -> None:
        """Learn a newly assigned partition's processed-up-to mark from its commit."""
        self.done[tp] = parse_done(committed.metadata) if committed is not None else 0

    def replayed(self, tp: TopicPartition, offset: int) -> bool:
        """True when this message's outputs were published before a restart or rebalance."""
        return offset < self.done.get(tp, 0)

    def processed(self, tp: TopicPartition, offset: int, run_uid: str | None) -> None:
        """Record a processed message and the run it belongs to (if any)."""
        self.next_offset[tp] = offset + 1
        if run_uid is not None:
            self.first_open[tp].setdefault(run_uid, offset)

    def held(self, tp: TopicPartition, offset: int, run_uid: str) -> None:
        """Record that this message of ``run_uid`` is held back, not answered."""
        self.first_held[tp].setdefault(run_uid, offset)

    def release(self, still_held: Callable[[str], bool]) -> None:
        """Forget held runs that have been let through (or given up) since."""
        for runs in self.first_held.values():
            for uid in [u for u in runs if not still_held(u)]:
                del runs[uid]

    def prune(self, open_runs: Container[str]) -> None:
        """Forget runs that are no longer open (stopped, expired, or failed)."""
        for runs in self.first_open.values():
            for uid in [u for u in runs if u not in open_runs]:
                del runs[uid]

    def safe(self) -> dict[TopicPartition, int]:
        """Offset to commit per partition: the earliest open run's start, else the next one."""
        out = {}
        for tp, nxt in self.next_offset.items():
            runs = self.first_open.get(tp)
            out[tp] = min(runs.values()) if runs else nxt
        return out

    def to_commit(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Safe offsets that moved since the last commit, with their processed-up-to marks."""
        out = {}
        for tp, offset in self.safe().items():
            held = self.first_held.get(tp)
            answered = min(self.next_offset[tp], *held.values()) if held \
                else self.next_offset[tp]
            done = max(answered, self.done.get(tp, 0))
            if self.committed.get(tp) != (offset, done):
                out[tp] = OffsetAndMetadata(offset, json.dumps({"done": done}), -1)
        return out

    def mark_committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        for tp, om in offsets.items():
            self.committed[tp] = (om.offset, parse_done(om.metadata))

    def revoke(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for table in (self.next_offset, self.first_open, self.done, self.committed,
                          self.first_held):
                table.pop(tp, None)

    def runs_in(self, partitions: list[TopicPartition]) -> set[str]:
        return {uid for tp in partitions for uid in self.first_open.get(tp, {})}
