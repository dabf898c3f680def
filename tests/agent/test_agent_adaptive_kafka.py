"""``edgestream agent --framework bluesky-adaptive`` on BMM-shaped runs through a real
broker: a RunEngine executes what the agent queued (bluesky-queueserver-api over HTTP),
keeping the gradient stage as ``xafs_x`` in the baseline stream only; the service
annotates the scans; the agent joins each annotation to its run's baseline reading from
the documents topic and stops once both boundaries are located."""

from __future__ import annotations

import threading

import pytest

from edgestream.config.settings import Settings
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.service import AnnotationService
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream_agent.app import AgentConfig, run_adaptive_agent
from edgestream_agent.gradient import GradientSample
from edgestream_agent.positions import PositionSpec
from edgestream_agent.sim import PLAN_NAME, SteeredGradient
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]


def test_adaptive_agent_steers_a_bmm_stage_from_the_baseline(tansu_broker, topic_prefix
                                                               ) -> None:
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
    sample = GradientSample((17.3, 38.9), (0.15, 0.4))
    sim = SteeredGradient(bootstrap, beamline, sample, seed=11, baseline_stage="xafs_x")
    cfg = AgentConfig(sample="Cu gradient", max_scans=40, plan_name=PLAN_NAME,
                      qserver=sim.uri, framework="bluesky-adaptive",
                      positions=PositionSpec(("xafs_x",), "baseline"))
    stop = threading.Event()
    service = AnnotationService(s, Pipeline(s, discover()))
    started: list = []
    result: list = []
    threads = [threading.Thread(target=service.run, args=(stop,), daemon=True),
               threading.Thread(target=lambda: result.append(
                   run_adaptive_agent(cfg, s, stop, on_started=started.append)), daemon=True)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: started and started[0].stopped, 300, "agent done", interval=0.5,
                   strict=False)
        assert started and started[0].stopped, \
            f"{len(started[0].x) if started else 0} scans, not done"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        sim.close()
    agent = result[0]
    n = len(agent.x)
    assert 8 <= n <= 40
    history = sim.queue.history_get()["items"]
    assert len(history) == n and all(i["result"]["exit_status"] == "completed"
                                     for i in history)
    assert all("sample_position" not in i["kwargs"].get("md", {}) for i in history)
    # the positions came from the baseline: the stage's readings, where the plans moved it
    assert sorted(agent.x) == pytest.approx(sorted(i["args"][0] for i in history), abs=1e-3)
    rep = agent.report()
    print(f"bluesky-adaptive agent on BMM-shaped runs: {n} scans, boundaries at "
          f"{rep['boundary_center'].round(2).tolist()} (truth {list(sample.boundaries)})")
    assert list(rep["boundary_center"]) == pytest.approx(sample.boundaries, abs=0.5), rep
    consumer = agent.kafka_consumer
    assert consumer.counts["ingested"] == n and rep["skipped"] == 0
    ingest = agent.agent_catalog.events("ingest")
    assert len(ingest) == n and {e["exp_uid"] for e in ingest} <= set(agent.exp_catalog)


def test_the_verb_runs_the_adaptive_agent_dry(tansu_broker, topic_prefix, capsys) -> None:
    """``edgestream agent --framework bluesky-adaptive --dry-run``: bluesky-adaptive's
    offline queue keeps the first suggestion; the report comes out as JSON."""
    import json

    from edgestream.apps.cli import main

    create_topics(tansu_broker.bootstrap_servers,
                  [f"{topic_prefix}.bluesky.runengine.documents",
                   f"{topic_prefix}.xas.annotations"], partitions=1)
    rc = main(["agent", "--bootstrap-servers", tansu_broker.bootstrap_servers,
               "--beamline", topic_prefix, "--framework", "bluesky-adaptive", "--dry-run",
               "--position-keys", "xafs_x", "xafs_y", "--position-stream", "baseline",
               "--duration", "4"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["strategy"] == "boundary" and report["n_observations"] == 0
    assert report["pending"] == [0.0] and report["skipped"] == 0
    assert report["positions"] == "xafs_x, xafs_y from the first reading of the 'baseline' stream"
