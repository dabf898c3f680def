from kafka import OffsetAndMetadata, TopicPartition

from edgestream.doors.kafka.offsets import OffsetTracker, parse_done

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


def test_commit_metadata_marks_how_far_outputs_went():
    t = OffsetTracker()
    t.resume(TP0, None)
    for offset in range(10, 14):
        t.processed(TP0, offset, "open-run" if offset == 10 else None)
    offsets = t.to_commit()
    assert offsets[TP0].offset == 10 and parse_done(offsets[TP0].metadata) == 14
    t.mark_committed(offsets)
    assert t.to_commit() == {}, "nothing moved: nothing to commit"

    after_restart = OffsetTracker()
    after_restart.resume(TP0, OffsetAndMetadata(10, offsets[TP0].metadata, -1))
    assert after_restart.replayed(TP0, 12) and not after_restart.replayed(TP0, 14)


def test_foreign_metadata_is_ignored():
    assert parse_done("written by another tool") == 0
    assert parse_done(None) == 0 and parse_done('{"done": 7}') == 7


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


def test_the_mark_stays_below_documents_held_for_their_data():
    """A run whose detector file is not yet written is held by the filler: its stop (and
    what follows it) has not been answered, so a restart must publish its spectra, not take
    them for already published."""
    t = OffsetTracker()
    t.resume(TP0, None)
    t.processed(TP0, 10, "run-a")  # start
    t.processed(TP0, 11, "run-a")  # an event whose HDF5 frame is not written yet
    t.held(TP0, 11, "run-a")
    t.processed(TP0, 12, "run-a")  # stop, held behind the event
    t.held(TP0, 12, "run-a")
    t.processed(TP0, 13, "run-b")  # another run goes through meanwhile
    t.prune({"run-a"})
    t.release(lambda uid: uid == "run-a")
    offsets = t.to_commit()
    assert offsets[TP0].offset == 10 and parse_done(offsets[TP0].metadata) == 11
    t.mark_committed(offsets)

    restarted = OffsetTracker()
    restarted.resume(TP0, OffsetAndMetadata(10, offsets[TP0].metadata, -1))
    assert restarted.replayed(TP0, 10) and not restarted.replayed(TP0, 12)

    t.release(lambda uid: False)  # the file appeared: the run was let through and answered
    t.prune(set())
    assert parse_done(t.to_commit()[TP0].metadata) == 14
