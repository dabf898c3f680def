"""Which offsets are safe to commit: never past the first message of a run still open.

A consumer that restarts (or takes over a partition) then replays every open run from its
start document, so no run is ever joined in the middle; finished runs that are replayed
produce annotations with the same deterministic ids, which consumers drop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container

from kafka import TopicPartition


class OffsetTracker:
    def __init__(self) -> None:
        self.next_offset: dict[TopicPartition, int] = {}
        self.first_open: dict[TopicPartition, dict[str, int]] = defaultdict(dict)

    def processed(self, tp: TopicPartition, offset: int, run_uid: str | None) -> None:
        """Record a processed message and the run it belongs to (if any)."""
        self.next_offset[tp] = offset + 1
        if run_uid is not None:
            self.first_open[tp].setdefault(run_uid, offset)

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

    def revoke(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.next_offset.pop(tp, None)
            self.first_open.pop(tp, None)

    def runs_in(self, partitions: list[TopicPartition]) -> set[str]:
        return {uid for tp in partitions for uid in self.first_open.get(tp, {})}
