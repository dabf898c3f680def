"""Positions from the start document, the baseline stream (NSLS-II BMM) or the primary
stream, on documents a real RunEngine emits; the runner decodes only what places a run."""

from __future__ import annotations

import numpy as np
import pytest
from event_model import pack_event_page

from edgestream.documents.wire import encode
from edgestream_agent.base import StageAgent
from edgestream_agent.positions import (
    PositionSpec,
    PositionTracker,
    position_of_documents,
)
from edgestream_agent.runner import peek
from edgestream_agent.strategies import BoundaryStrategy, Bounds

from .bmm import BMMStage, run_uid

BMM = PositionSpec(keys=("xafs_x", "xafs_y"), source="baseline")


@pytest.fixture(scope="module")
def stage() -> BMMStage:
    return BMMStage()


def test_bmm_baseline_first_and_last_readings(stage) -> None:
    docs = stage.run(12.25, 97.5, move_during=14.0)
    start = docs[0][1]
    assert "xafs_x" not in start and "sample_position" not in start  # BMM's layout
    assert position_of_documents(docs, BMM).position == (12.25, 97.5)
    last = PositionSpec(keys=("xafs_x",), source="baseline", reading="last")
    assert position_of_documents(docs, last).position == (14.0,)
    # the start-document spec finds nothing there, and says where it looked
    where = position_of_documents(docs, PositionSpec(keys=("xafs_x",)))
    assert where.position is None and "start document" in where.error


def test_position_settles_at_the_first_baseline_event(stage) -> None:
    docs = stage.run(30.0)
    t = PositionTracker(BMM)
    settled = [(name, t.feed(name, doc)) for name, doc in docs]
    first_event = next(i for i, (n, d) in enumerate(docs) if n == "event")
    assert settled[first_event] == ("event", run_uid(docs))  # before the primary events
    assert [s for _, s in settled].count(run_uid(docs)) == 1
    assert t.get(run_uid(docs)).position == (30.0, 95.0)


def test_primary_stream_positions_event_and_event_page(stage) -> None:
    docs = stage.scan([1.0, 2.0, 3.5])
    spec = PositionSpec(keys=("xafs_x",), source="primary")
    assert position_of_documents(docs, spec).position == (1.0,)
    assert position_of_documents(docs, PositionSpec(("xafs_x",), "primary", "last")
                                 ).position == (3.5,)
    primary = next(d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "primary")
    events = [d for n, d in docs if n == "event" and d["descriptor"] == primary]
    paged = [(n, d) for n, d in docs if not (n == "event" and d["descriptor"] == primary)]
    paged.insert(-1, ("event_page", pack_event_page(*events)))
    assert position_of_documents(paged, spec).position == (1.0,)


def test_start_document_layouts() -> None:
    spec = PositionSpec(keys=("x",))
    assert position_of_documents([("start", {"uid": "a", "sample_position": {"x": 2}})],
                                 spec).position == (2.0,)
    assert position_of_documents([("start", {"uid": "b", "x": 4.5})], spec).position == (4.5,)
    bad = position_of_documents([("start", {"uid": "c", "x": "4.5"})], spec)
    assert bad.position is None and "no numeric x" in bad.error


def test_missing_keys_and_missing_streams_say_why(stage) -> None:
    docs = stage.run(5.0)
    wrong = position_of_documents(docs, PositionSpec(("xafs_z",), "baseline"))
    assert wrong.position is None
    assert "'baseline' stream has no xafs_z" in wrong.error and "xafs_linxs" in wrong.error
    none = position_of_documents(docs, PositionSpec(("xafs_x",), "monitor_stage"))
    assert none.position is None and "no 'monitor_stage' stream" in none.error
    running = position_of_documents(docs[:2], BMM)  # start and baseline descriptor only
    assert running.position is None and "not stopped" in running.error


def test_spec_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="keys"):
        PositionSpec(keys=())
    with pytest.raises(ValueError, match="reading"):
        PositionSpec(keys=("x",), source="baseline", reading="middle")  # type: ignore[arg-type]


def test_peek_decodes_only_what_places_a_run(stage) -> None:
    docs = stage.run(7.0)
    t = PositionTracker(BMM)
    kept = []
    for name, doc in docs:
        got = peek(encode(name, doc), t.wants)
        if got is not None:
            kept.append(got[0])
            t.feed(*got)
    # start, both descriptors, the two baseline events, stop; not the primary events
    assert kept == ["start", "descriptor", "event", "descriptor", "event", "stop"]
    assert [n for n, _ in docs].count("event") == 4
    assert t.get(run_uid(docs)).position == (7.0, 95.0)
    assert peek(b"\xc1 garbage", t.wants) is None
    assert peek(encode("resource", {"uid": "r"}), t.wants) is None


def test_stage_agent_on_bmm_runs_waits_for_the_baseline_and_counts_skips(
        stage, make_annotation) -> None:
    agent = StageAgent(strategy_factory=lambda: BoundaryStrategy(Bounds(0, 60), 1, 0.5, 0.05),
                       plan_name="agent_move_and_measure", positions=BMM, spectrum_edge=None)
    docs = stage.run(21.0)
    uid = run_uid(docs)
    agent.on_document(*docs[0])  # the start only: the position is still to come
    assert agent.on_annotation(make_annotation(uid, value=1.2, sample="PdCuCr")) == []
    assert not agent.samples
    out = []
    for name, doc in docs[1:]:
        out += agent.on_document(name, doc)
    st = agent.samples["PdCuCr film"]
    assert [o.position for o in st.observations] == [(21.0, 95.0)]
    assert out and out[0].plan_name == "agent_move_and_measure"  # seeds go out
    # a run whose baseline lacks the stage: its annotation is a counted skip, with a reason
    lost = [(n, d) for n, d in stage.run(3.0)]
    lost_uid = run_uid(lost)
    lost_agent_docs = [(n, {**d, "data_keys": {"det": {}}} if n == "descriptor" and
                        d.get("name") == "baseline" else d) for n, d in lost]
    for name, doc in lost_agent_docs:
        agent.on_document(name, doc)
    agent.on_annotation(make_annotation(lost_uid, value=0.1))
    assert agent.skipped == {"no_position": 1}
    assert agent.report()["skipped"] == {"no_position": 1}
    assert np.isclose(st.measurements().x, [21.0]).all()
