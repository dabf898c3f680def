"""The agent steering a simulated stage through a real broker: a RunEngine executes what
the agent queued, the service annotates the scans, the agent reads the annotations and
start documents from Kafka, and stops once both boundaries are located."""

from __future__ import annotations

import threading

import pytest

from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.service import AnnotationService
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream_agent.base import StageAgent
from edgestream_agent.gradient import GradientSample
from edgestream_agent.runner import AgentRunner, peek_start
from edgestream_agent.sim import PLAN_NAME, SteeredGradient
from edgestream_agent.strategies import BoundaryStrategy, Bounds
from edgestream_agent.transports import DryRun, QueueServer
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]


def test_peek_start_reads_only_start_documents() -> None:
    assert peek_start(encode("start", {"uid": "u", "x": 1}))["uid"] == "u"
    assert peek_start(encode("event", {"uid": "e"})) is None
    assert peek_start(b"\xc1 garbage") is None and peek_start(None) is None


def test_agent_steers_the_stage_to_both_boundaries(tansu_broker, topic_prefix) -> None:
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    s = Settings(beamline=beamline)
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.topics = [f"{beamline}.bluesky.runengine.documents"]
    s.kafka.group_id = f"{beamline}-service"
    s.kafka.session_timeout_ms = 2 * FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    create_topics(bootstrap, [s.kafka.topics[0], f"{beamline}.xas.annotations",
                              f"{beamline}.xas.deadletter", f"{beamline}.xas.derived.documents"],
                  partitions=2)
    stop = threading.Event()
    service = AnnotationService(s, Pipeline(s, discover()))
    sample = GradientSample((17.3, 38.9), (0.15, 0.4))
    sim = SteeredGradient(bootstrap, beamline, sample, seed=11)
    dry = DryRun()
    agent = StageAgent(
        strategy_factory=lambda: BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05, max_scans=40),
        plan_name=PLAN_NAME, transports=[QueueServer(sim.uri), dry])
    runner = AgentRunner(agent, s.kafka, beamline, session_timeout_ms=s.kafka.session_timeout_ms)
    threads = [threading.Thread(target=service.run, args=(stop,), daemon=True),
               threading.Thread(target=runner.run, args=(stop,), daemon=True)]
    for t in threads:
        t.start()
    try:
        assert runner.caught_up.wait(60)
        agent.suggest("Cu gradient")
        wait_until(lambda: (st := agent.samples.get("Cu gradient")) is not None and st.stopped,
                   300, "agent done with Cu gradient", interval=0.5, strict=False)
        st = agent.samples["Cu gradient"]
        assert st.stopped, f"{len(st.observations)} scans, not done"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
        sim.close()
    n = len(st.observations)
    assert 8 <= n <= 40 and len(dry.sent) == n
    history = sim.queue.history_get()["items"]
    assert len(history) == n and all(i["result"]["exit_status"] == "completed"
                                     for i in history)
    rep = agent.report()["samples"]["Cu gradient"]
    centers = [b["center"] for b in rep["strategy"]["boundaries"]]
    assert centers == pytest.approx(sample.boundaries, abs=0.5), (centers, rep["map"])
    assert runner.counts["starts"] >= n and runner.counts["annotations"] >= n
    ids = {o.annotation_id for o in st.observations}
    assert set(st.suggestions[-1].annotation_ids) <= ids
