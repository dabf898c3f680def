from kafka import TopicPartition

from edgestream.kafka.offsets import OffsetTracker

TP0, TP1 = TopicPartition("b.bluesky.runengine.documents", 0), TopicPartition("t", 1)


def test_commit_never_passes_an_open_run():
    t = OffsetTracker()
    t.processed(TP0, 10, "run-a")  # start of a
    t.processed(TP0, 11, "run-a")
    t.processed(TP0, 12, "run-b")  # start of b
    t.processed(TP0, 13, "run-a")  # stop of a
    t.prune({"run-b"})
    assert t.safe() == {TP0: 12}
    t.processed(TP0, 14, "run-b")
    t.prune(set())
    assert t.safe() == {TP0: 15}


def test_undecodable_messages_still_advance():
    t = OffsetTracker()
    t.processed(TP1, 3, None)
    assert t.safe() == {TP1: 4}


def test_revoke_forgets_partitions_and_reports_their_runs():
    t = OffsetTracker()
    t.processed(TP0, 1, "a")
    t.processed(TP1, 1, "b")
    assert t.runs_in([TP0]) == {"a"}
    t.revoke([TP0])
    assert t.safe() == {TP1: 1}
