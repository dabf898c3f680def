"""At-least-once with overlapped publishing: a batch's offsets are committed only after every
send of that batch is acknowledged, in batch order; a failed send commits nothing. And poll
batches sized by time as well as count."""

from __future__ import annotations

from collections import namedtuple

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from edgestream.doors.kafka.delivery import KafkaDoor, PublishFailed, poll_batch
from edgestream.doors.kafka.offsets import OffsetTracker, parse_done

TP0, TP1 = TopicPartition("a.bluesky.runengine.documents", 0), TopicPartition("x", 1)
Record = namedtuple("Record", "offset timestamp")


class Future:
    """A send's future that the test acknowledges (or fails) by hand."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.done = False

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error
        if not self.done:
            raise KafkaTimeoutError("not acknowledged")


class Producer:
    def __init__(self) -> None:
        self.futures: list[Future] = []
        self.flushes = 0

    def send(self, topic, key=None, value=None, headers=None) -> Future:
        self.futures.append(Future())
        return self.futures[-1]

    def flush(self) -> None:
        self.flushes += 1


class Consumer:
    def __init__(self, owned=(TP0, TP1)) -> None:
        self.owned = set(owned)
        self.commits: list[dict] = []

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    def commit(self, offsets) -> None:
        self.commits.append({tp: (om.offset, parse_done(om.metadata))
                             for tp, om in offsets.items()})


class Door(KafkaDoor):
    def __init__(self) -> None:
        self.exactly_once = False
        self.consumer, self.producer = Consumer(), Producer()
        self.tracker = OffsetTracker()
        self._start_delivery()

    def batch(self, tp: TopicPartition, offsets: range, sends: int) -> list[Future]:
        """Process messages at ``offsets`` of ``tp`` (no open run) and send ``sends``."""
        for o in offsets:
            self.tracker.processed(tp, o, None)
        for _ in range(sends):
            self._send("out", None, b"annotation")
        return self.producer.futures[-sends:] if sends else []


def test_offsets_wait_for_their_batch_and_go_in_order():
    door, acked = Door(), []
    first = door.batch(TP0, range(0, 10), 3)
    door.hand_off(lambda: acked.append(1))
    door.batch(TP0, range(10, 20), 2)  # the next batch, while the first is in flight
    assert door.consumer.commits == [] and acked == []

    for f in first:
        f.done = True
    door.settle()
    # the first batch's offsets, not the second's, though the tracker has moved on
    assert door.consumer.commits == [{TP0: (10, 10)}] and acked == [1]
    assert door.producer.flushes == 0, "no flush: it would force out the next batch too"

    door.hand_off(lambda: acked.append(2))
    with pytest.raises(PublishFailed):  # not acknowledged (in time): nothing committed
        door.settle()
    assert door.consumer.commits == [{TP0: (10, 10)}] and acked == [1]


def test_a_failed_send_commits_nothing_and_a_rewind_drops_the_batch_in_flight():
    door = Door()
    sent = door.batch(TP0, range(0, 5), 2)
    door.hand_off()
    sent[0].done, sent[1].error = True, KafkaTimeoutError("broker gone")
    with pytest.raises(PublishFailed):
        door.settle()
    assert door.consumer.commits == []

    door.batch(TP0, range(5, 8), 1)
    door.hand_off()
    door.consumer.owned = set()  # seek_to_committed walks the assignment
    door._rewind_delivery()
    assert door._in_flight is None and door._futures == []
    door.settle()  # nothing in flight: nothing to wait for, nothing committed
    assert door.consumer.commits == []


def test_partitions_gone_in_a_rebalance_are_not_committed_by_the_old_owner():
    door = Door()
    for f in door.batch(TP0, range(0, 4), 1) + door.batch(TP1, range(7, 9), 1):
        f.done = True
    door.hand_off()
    door.consumer.owned = {TP1}  # TP0 went to another member during the next poll
    door.settle()
    assert door.consumer.commits == [{TP1: (9, 9)}]


def test_hand_off_refuses_a_second_batch_in_flight():
    door = Door()
    door.hand_off()
    with pytest.raises(RuntimeError):
        door.hand_off()


class Polls:
    """A consumer whose polls return prepared batches; records the timeouts asked."""

    def __init__(self, batches: list[dict], clock: list[float]) -> None:
        self.batches, self.clock, self.asked = list(batches), clock, []

    def poll(self, timeout_ms, max_records):
        self.asked.append((timeout_ms, max_records))
        if self.batches:
            return self.batches.pop(0)
        self.clock[0] += timeout_ms / 1e3  # an empty poll waits its whole timeout
        return {}


def _records(tp, offsets, stamp_s):
    return {tp: [Record(o, int(stamp_s * 1e3)) for o in offsets]}


def test_poll_batch_tops_up_until_the_oldest_record_waited_long_enough():
    clock = [1000.0]
    polls = Polls([_records(TP0, [0, 1], 999.995), _records(TP0, [2], 1000.0),
                   _records(TP1, [5], 1000.0)], clock)
    got = poll_batch(polls, 200, 100, 20.0, clock=lambda: clock[0])
    assert [r.offset for r in got[TP0]] == [0, 1, 2] and [r.offset for r in got[TP1]] == [5]
    # the first record was stamped 5 ms ago: the top-ups wait at most the 15 ms left
    assert polls.asked[0] == (200, 100) and all(t <= 15 for t, _ in polls.asked[1:])
    assert polls.asked[1][1] == 98 and polls.asked[2][1] == 97
    assert clock[0] == pytest.approx(1000.015, abs=1.5e-3)


def test_poll_batch_stops_at_the_count_and_without_latency_after_one_poll():
    clock = [50.0]
    full = Polls([_records(TP0, [0, 1, 2], 50.0), _records(TP0, [3, 4], 50.0)], clock)
    got = poll_batch(full, 200, 5, 20.0, clock=lambda: clock[0])
    assert len(got[TP0]) == 5 and len(full.asked) == 2, "max_records reached: no more polls"

    one = Polls([_records(TP0, [0], 50.0), _records(TP0, [1], 50.0)], clock)
    assert len(poll_batch(one, 200, 5, 0, clock=lambda: clock[0])[TP0]) == 1
    late = Polls([_records(TP0, [0], 49.0), _records(TP0, [1], 50.0)], clock)
    assert len(poll_batch(late, 200, 5, 20.0, clock=lambda: clock[0])[TP0]) == 1, \
        "a record older than the latency bound is processed at once"
    assert poll_batch(Polls([], clock), 200, 5, 20.0, clock=lambda: clock[0]) == {}
