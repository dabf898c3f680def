"""Our agent as a bluesky-adaptive agent (``bluesky_adaptive.agents.base.Agent``): its
tell/ask/report, unpack_run and measurement_plan on BMM-shaped runs (sample stage in the
baseline stream), its queue through bluesky-queueserver-api and its adjudicator messages."""

from __future__ import annotations

import copy
import math
import queue
import threading
import warnings

import bluesky.plan_stubs as bps
import numpy as np
import pytest

from edgestream_agent.adaptive import (
    AgentDocuments,
    AnnotatedRun,
    AnnotatedRuns,
    AnnotationConsumer,
    EdgestreamAgent,
)
from edgestream_agent.gradient import GradientSample
from edgestream_agent.localqueue import LocalQueueServer
from edgestream_agent.positions import PositionSpec
from edgestream_agent.strategies import BoundaryStrategy, Bounds, GridStrategy
from edgestream_agent.transports import re_manager_api
from edgestream_dev.procs import wait_until

from .bmm import BMMStage, run_uid

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from bluesky_adaptive.adjudicators.msg import AdjudicatorMsg
    from bluesky_adaptive.agents.base import Agent
    from bluesky_adaptive.utils.offline import OfflineProducer, REManagerSmoke

pytestmark = pytest.mark.timeout(240)

BMM = PositionSpec(keys=("xafs_x", "xafs_y"), source="baseline")


def make_agent(strategy, qserver=None, **kw) -> EdgestreamAgent:
    runs = AnnotatedRuns(BMM)
    return EdgestreamAgent(
        strategy=strategy, plan_name="agent_move_and_measure", positions=BMM,
        plan_motor="xafs_x", sample="PdCuCr film", agent_run_suffix="test",
        kafka_consumer=AnnotationConsumer(runs), tiled_data_node=runs,
        tiled_agent_node=AgentDocuments(), kafka_producer=OfflineProducer(),
        qserver=qserver if qserver is not None else REManagerSmoke(), **kw)


def test_the_contract_of_bluesky_adaptive() -> None:
    assert issubclass(EdgestreamAgent, Agent)
    agent = make_agent(GridStrategy(Bounds(0, 10), 3))
    assert agent.name == "edgestream-grid" and agent.instance_name == "edgestream-grid-test"
    name, args, kwargs = agent.measurement_plan(np.array([2.123456]))
    assert (name, args) == ("agent_move_and_measure", ["xafs_x", 2.1235])
    assert kwargs == {"sample_name": "PdCuCr film"}
    docs, points = agent.ask(2)  # the seeds of a grid, in order
    assert points == [0.0, 5.0] and [d["reason"] for d in docs] == ["seed: uniform coarse pass"] * 2
    assert agent.ask(2)[1] == [10.0]  # the pending ones are not asked for twice
    assert agent.tell(np.array([5.0, 95.0]), np.array([1.5, 0.1]))["n_observations"] == 1
    assert [p for p, _ in agent.pending] == [0.0, 10.0]
    agent.tell(np.array([0.0, 95.0]), np.array([1.0, np.nan]))
    agent.tell(np.array([10.0, 95.0]), np.array([2.0, 0.1]))
    assert agent.ask(1) == ([], []) and agent.stopped.startswith("grid: stop rule met")
    rep = agent.report()
    assert rep["n_observations"] == 3 and list(rep["x"]) == [5.0, 0.0, 10.0]
    assert all(isinstance(v, str | int | float | np.ndarray) for v in rep.values())


def test_unpack_run_reads_our_annotations_and_the_baseline(make_annotation) -> None:
    stage = BMMStage()
    docs = stage.run(12.5, 96.0)
    agent = make_agent(GridStrategy(Bounds(0, 60), 5))
    uid = run_uid(docs)
    two = [make_annotation(uid, value=1.0, sigma=0.1), make_annotation(uid, value=1.2, sigma=0.1)]
    x, y = agent.unpack_run(AnnotatedRun(uid, docs, two))
    assert list(x) == [12.5, 96.0]
    assert y[0] == pytest.approx(1.1) and y[1] == pytest.approx(math.sqrt(0.02) / 2)
    ood = make_annotation(uid, value=2.9, ood=True, shift=None, norm=[None] * 201, e0=float("nan"))
    with pytest.raises(KeyError, match=r"no usable valence\.value"):
        agent.unpack_run(AnnotatedRun(uid, docs, [ood]))
    no_stage = [(n, {**d, "data_keys": {}} if n == "descriptor" else d) for n, d in docs]
    with pytest.raises(KeyError, match="'baseline' stream has no xafs_x, xafs_y"):
        agent.unpack_run(AnnotatedRun(uid, no_stage, two))


def test_adjudicator_messages_follow_bluesky_adaptive(make_annotation) -> None:
    stage = BMMStage()
    agent = make_agent(GridStrategy(Bounds(0, 60), 4), direct_to_queue=False)
    agent.start()
    try:
        docs = stage.run(20.0)
        for name, doc in docs:
            agent.kafka_consumer.feed_document(name, doc)
        assert agent.kafka_consumer.feed_annotation(make_annotation(run_uid(docs), value=1.0)) == 1
    finally:
        agent.stop()
    (name, msg), = agent.kafka_producer.topic
    assert name == "agent_suggestions"
    parsed = AdjudicatorMsg(**msg)
    (plans,) = parsed.suggestions.values()
    assert plans[0].plan_name == "agent_move_and_measure" and plans[0].plan_args == ["xafs_x", 0.0]
    assert plans[0].plan_kwargs["md"]["agent_name"] == agent.instance_name
    ingest = agent.agent_catalog.events("ingest")
    assert ingest[0]["exp_uid"] == run_uid(docs) and list(ingest[0]["position"]) == [20.0, 95.0]


def test_tell_ask_report_steer_a_bmm_stage_through_the_queue(make_annotation) -> None:
    """The closed loop: the agent queues plans through bluesky-queueserver-api (HTTP), a
    RunEngine with BMM's baseline runs them, each run's annotation carries the valence of
    a two-boundary gradient at the stage's position, and the agent stops once both
    boundaries are located."""
    sample = GradientSample((17.3, 38.9), (0.15, 0.4))
    rng = np.random.default_rng(3)
    stage = BMMStage()
    motors = {"xafs_x": stage.xafs_x}

    def agent_move_and_measure(motor, x, *, sample_name=None, md=None):
        yield from bps.mv(motors[motor], x)
        return (yield from stage.plan(x, md={"sample_name": sample_name, **(md or {})}))

    server = LocalQueueServer(stage.RE, {"agent_move_and_measure": agent_move_and_measure},
                              api_key="k", autostart=False).start()
    api = re_manager_api(server.uri, api_key="k")
    agent = make_agent(BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05, max_scans=40), qserver=api,
                       report_on_ingest=True)
    docs: queue.Queue = queue.Queue()
    stage.RE.subscribe(lambda name, doc: docs.put((name, copy.deepcopy(doc))))
    stop = threading.Event()
    starts: list[dict] = []

    def service() -> None:
        """Annotate each run when it stops: the valence where the stage stood."""
        while not stop.is_set():
            try:
                name, doc = docs.get(timeout=0.1)
            except queue.Empty:
                continue
            agent.kafka_consumer.feed_document(name, doc)
            if name == "start":
                starts.append(doc)
            if name == "stop":
                v = float(sample.valence(stage.xafs_x.position)[0]) + rng.normal(0, 0.05)
                agent.kafka_consumer.feed_annotation(
                    make_annotation(doc["run_start"], value=v, sigma=0.05))

    thread = threading.Thread(target=service, daemon=True)
    thread.start()
    try:
        agent.start(suggest_at_start=True)
        wait_until(lambda: agent.stopped, 180, "agent done", interval=0.2, strict=False)
        assert agent.stopped, f"{len(agent.x)} scans, not done"
    finally:
        stop.set()
        thread.join(10)
        agent.stop()
        api.close()
        server.close()
    n = len(agent.x)
    assert 8 <= n <= 40
    history = server.history_get()["items"]
    assert len(history) == n and all(i["result"]["exit_status"] == "completed" for i in history)
    assert all(s["agent_name"] == agent.instance_name and s["agent_suggestion_uid"]
               for s in starts)
    rep = agent.report()
    assert list(rep["boundary_center"]) == pytest.approx(sample.boundaries, abs=0.5)
    assert rep["boundary_found"].all() and rep["skipped"] == 0
    # what bluesky-adaptive wrote to the agent's own run: one ingest and one report per run,
    # one suggestion per queued plan
    out = agent.agent_catalog
    assert len(out.events("ingest")) == n and len(out.events("report")) == n
    assert len(out.events("suggest")) == n
    assert out.documents[0][0] == "start" and out.documents[-1][0] == "stop"


def test_observations_read_elsewhere_prime_the_agent() -> None:
    """What ``TiledSource.observations`` returns (Tiled's derived runs placed by their raw
    runs) tells the agent as ingest_uids would: one measurement each, one quantity only."""
    from edgestream_agent.observation import Observation, Quantity

    agent = make_agent(GridStrategy(Bounds(0, 10), 3))

    def obs(i: int, x: float, v: float, source: str = "tiled:valence") -> Observation:
        return Observation(f"a{i}", f"r{i}", "PdCuCr film", (x, 95.0), Quantity(v, 0.1, source))

    told = agent.ingest_observations([obs(0, 0.0, 1.0), obs(1, 5.0, 1.5),
                                      obs(2, 7.0, 8980.0, source="e0_shift")])
    assert told == 2 and agent.x == [0.0, 5.0] and agent.sigma == [0.1, 0.1]
    assert agent.skipped == {"other_quantity": 1}
    assert agent.ask(3)[1] == [10.0]  # the seeds already measured are not asked again


def test_directives_on_the_documents_topic(make_annotation) -> None:
    """bluesky-adaptive's AgentConsumer lets plans and adjudicators direct an agent by
    name on the topic; ours does too, for the methods bluesky-adaptive's server exposes."""
    from edgestream.documents.wire import encode

    agent = make_agent(GridStrategy(Bounds(0, 10), 3))
    agent.start()
    try:
        c = agent.kafka_consumer
        c.documents_topic = "bmm.bluesky.runengine.documents"

        def direct(name, action, *args):
            c.handle(c.documents_topic, encode(name, {"action": action, "args": list(args),
                                                      "kwargs": {}}))

        direct(agent.instance_name, "add_suggestions_to_queue", 2)
        assert [p.args for p in agent.re_manager.queue] == [["xafs_x", 0.0], ["xafs_x", 5.0]]
        direct(agent.instance_name, "disable_continuous_suggesting")
        assert agent.suggest_on_ingest is False
        direct("another-agent", "add_suggestions_to_queue", 1)  # not ours: ignored
        direct(agent.instance_name, "close_and_restart")  # not a directive: refused
        assert len(agent.re_manager.queue) == 2
        assert c.counts["directives"] == 2 and c.counts["bad"] == 1
    finally:
        agent.stop()


def test_the_catalog_keeps_only_what_places_a_run(make_annotation) -> None:
    stage = BMMStage()
    docs = stage.scan([2.0, 4.0])  # positions in the primary stream, beside the detector
    runs = AnnotatedRuns(PositionSpec(("xafs_x",), "primary"))
    for name, doc in docs:
        runs.document(name, doc)
    uid = run_uid(docs)
    assert runs.annotation(make_annotation(uid, value=1.0))  # placed: ready at once
    kept = [d for n, d in runs[uid].documents() if n == "event"]
    assert len(kept) == 2 and all(set(e["data"]) == {"xafs_x"} for e in kept)
    assert len(runs[uid].annotations) == 1 and list(runs) == [uid]
    late = AnnotatedRuns(BMM)
    assert late.annotation(make_annotation("never-started", value=1.0)) == []  # it waits
    assert late.document("start", {"uid": "never-started", "time": 0}) == []  # no baseline yet
    assert late.document("stop", {"uid": "s", "run_start": "never-started", "time": 1}) == []
    assert late.skipped == {"no_position": 1}
