"""The agent on its own, offline: annotations in, suggestions out through a deque
(bluesky-adaptive's offline transport), per-sample state, stop rule."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream_agent.base import StageAgent
from edgestream_agent.gradient import GradientSample
from edgestream_agent.observation import QuantitySpec
from edgestream_agent.strategies import BoundaryStrategy, Bounds, GridStrategy
from edgestream_agent.transports import DryRun

pytestmark = pytest.mark.timeout(120)


class Broken:
    def send(self, suggestions):
        raise RuntimeError("queue down")

    def close(self):
        pass


def agent(strategy=None, **kw) -> tuple[StageAgent, DryRun]:
    dry = DryRun()
    a = StageAgent(strategy_factory=strategy or (lambda: GridStrategy(Bounds(0, 10), 3)),
                   plan_name="scan_at", plan_kwargs={"dwell": 1.0}, transports=[Broken(), dry],
                   instance_name="test-agent", **kw)
    return a, dry


def test_suggestions_carry_the_queueserver_metadata(make_annotation, make_start) -> None:
    a, dry = agent()
    first = a.suggest("s1")
    assert [s.position for s in first] == [(0.0,), (5.0,), (10.0,)]  # all seeds at once
    s = first[0]
    item = s.plan_item()
    assert item["item_type"] == "plan" and item["name"] == "scan_at"
    assert item["args"] == [0.0]
    md = item["kwargs"]["md"]
    assert md["agent_name"] == "test-agent"
    assert md["agent_class"] == "edgestream_agent.base.StageAgent"
    assert md["agent_suggestion_uid"] == s.uid
    assert item["kwargs"]["sample_name"] == "s1" and item["kwargs"]["dwell"] == 1.0
    assert list(dry.sent) == first  # the broken transport did not stop the deque


def test_every_suggestion_names_the_annotations_behind_it(make_annotation, make_start) -> None:
    a, _ = agent(lambda: BoundaryStrategy(Bounds(0, 60), 1, 0.5, 0.05, n_seed=3))
    seeds = a.suggest("s1")
    ids = []
    for s, v in zip(seeds, (0.0, 0.0, 1.0), strict=True):
        uid = f"run-{s.uid[:4]}"
        a.on_document("start", make_start(uid, s.position[0], suggestion=s.uid))
        ann = make_annotation(uid, value=v)
        ids.append(ann["annotation_id"])
        out = a.on_annotation(ann)
    assert out, "a fourth point once the seeds are in"
    assert set(out[0].annotation_ids) == set(ids)
    assert out[0].plan_kwargs["md"]["agent_annotation_ids"] == list(out[0].annotation_ids)
    assert 30.0 < out[0].position[0] < 60.0  # between the last two seeds
    assert not a.samples["s1"].pending.keys() - {out[0].uid}


def test_annotations_before_their_start_wait_for_it(make_annotation, make_start) -> None:
    a, _ = agent(ask_on_ingest=False)
    ann = make_annotation("early", value=1.0)
    assert a.on_annotation(ann) == []
    assert "s1" not in a.samples
    a.on_document("start", make_start("early", 2.0))
    assert len(a.samples["s1"].observations) == 1


def test_duplicates_and_other_sources_are_ignored(make_annotation, make_start) -> None:
    a, _ = agent(ask_on_ingest=False)
    a.on_document("start", make_start("r1", 1.0))
    a.on_document("start", make_start("r2", 2.0))
    ann = make_annotation("r1", value=1.0)
    a.on_annotation(ann)
    a.on_annotation(ann)  # redelivered by Kafka
    a.on_annotation(make_annotation("r2", value=None))  # only the fallback: another unit
    st = a.samples["s1"]
    assert len(st.observations) == 1 and st.source == "valence.value" and st.ignored == 1


def test_samples_are_kept_apart(make_annotation, make_start) -> None:
    a, _ = agent(ask_on_ingest=False)
    a.on_document("start", make_start("r1", 1.0, sample="A"))
    a.on_document("start", make_start("r2", 1.0, sample="B"))
    a.on_annotation(make_annotation("r1", value=0.0, sample="A"))
    a.on_annotation(make_annotation("r2", value=2.0, sample="B"))
    rep = a.report()["samples"]
    assert rep["A"]["map"] == [{"x": 1.0, "y": 0.0}] and rep["B"]["map"] == [{"x": 1.0,
                                                                               "y": 2.0}]


def test_the_agent_stops_when_its_rule_is_met(make_annotation, make_start) -> None:
    """Closed loop on a simulated sample: every suggestion is 'measured' at once."""
    sample = GradientSample((21.0, 43.0), (0.2, 0.2))
    reports = []
    a, dry = agent(lambda: BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05),
                   quantity=QuantitySpec(), on_report=reports.append)
    todo = list(a.suggest("g"))
    rng = np.random.default_rng(0)
    n = 0
    while todo and n < 60:
        s = todo.pop(0)
        n += 1
        uid = f"run-{n}"
        a.on_document("start", make_start(uid, s.position[0], sample="g", suggestion=s.uid))
        v = float(sample.valence(s.position[0])[0]) + rng.normal(0, 0.05)
        todo += a.on_annotation(make_annotation(uid, value=v, sample="g"))
    st = a.samples["g"]
    assert st.stopped and "stop rule met" in st.stopped
    assert n < 25
    found = [b["center"] for b in reports[-1]["samples"]["g"]["strategy"]["boundaries"]]
    assert found == pytest.approx([21.0, 43.0], abs=0.5)
    assert a.suggest("g") == []  # stopped stays stopped
    assert len(dry.sent) == n


def test_pending_suggestions_expire(make_start) -> None:
    a, _ = agent(pending_timeout_s=0.0)
    a.suggest("s1")
    assert len(a.samples["s1"].pending) == 3
    again = a.suggest("s1")  # the first three never came back: forgotten, asked again
    assert len(again) == 3


def test_the_edge_comes_from_the_configuration() -> None:
    """The spectra kept with each observation are on a grid around the configured edge: Cu
    K unless the agent's configuration says otherwise; an unknown one is refused at once."""
    from edgestream.config.settings import Settings
    from edgestream.physics import edge_energy
    from edgestream_agent.app import AgentConfig, build_agent

    for cfg, element, edge in ((AgentConfig(dry_run=True), "Cu", "K"),
                               (AgentConfig(element="Fe", edge="K", dry_run=True), "Fe", "K")):
        grid = build_agent(cfg, Settings()).grid
        assert grid[0] < edge_energy(element, edge) < grid[-1]
        assert grid[-1] - grid[0] < 100
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        AgentConfig(element="Xx")
    with pytest.raises(ValueError, match="no tabulated 'Q' edge"):
        AgentConfig(edge="Q")
