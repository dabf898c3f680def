"""Transports: the queueserver HTTP API (against the local queue, a real RunEngine behind
it), the adjudicator topic on a real broker, and the dry run."""

from __future__ import annotations

import bluesky.plans as bp
import msgpack
import msgpack_numpy
import pytest
from bluesky import RunEngine
from kafka import KafkaConsumer, KafkaProducer
from ophyd.sim import det

from edgestream.doors.kafka.admin import create_topics
from edgestream_agent.localqueue import LocalQueueServer
from edgestream_agent.state import Suggestion
from edgestream_agent.transports import (
    ADJUDICATOR_DOCUMENT,
    AdjudicatorTopic,
    DryRun,
    QueueServer,
    TransportError,
)
from edgestream_dev.procs import wait_until

pytestmark = pytest.mark.timeout(120)


def suggestion(x: float, plan: str = "count_at") -> Suggestion:
    return Suggestion(uid=f"uid-{x}", sample="s", position=(x,), plan_name=plan,
                      plan_args=[x], plan_kwargs={"md": {"agent_name": "a",
                                                         "agent_suggestion_uid": f"uid-{x}"}},
                      annotation_ids=("a1", "a2"), reason="test", score=1.0)


def count_at(x: float, md: dict | None = None):
    return (yield from bp.count([det], num=1, md={"x": x, **(md or {})}))


@pytest.fixture
def queue():
    RE = RunEngine({}, context_managers=[])
    starts = []
    RE.subscribe(lambda name, doc: starts.append(doc) if name == "start" else None)
    server = LocalQueueServer(RE, {"count_at": count_at}, api_key="secret").start()
    yield server, starts
    server.close()


def wait_history(server: LocalQueueServer, n: int, timeout: float = 30.0) -> list:
    items = wait_until(lambda: len(got := server.history_get()["items"]) >= n and got,
                       timeout, "plan history", interval=0.05, strict=False)
    if items:
        return items
    raise AssertionError(f"{len(server.history)} of {n} plans ran")


def test_item_add_runs_the_plan_with_the_agent_metadata(queue) -> None:
    server, starts = queue
    qs = QueueServer(server.uri, api_key="secret", start_if_idle=True)
    qs.send([suggestion(1.0), suggestion(2.0)])
    items = wait_history(server, 2)
    assert [i["result"]["exit_status"] for i in items] == ["completed", "completed"]
    assert len(items[0]["result"]["run_uids"]) == 1
    assert [s["x"] for s in starts] == [1.0, 2.0]
    assert starts[0]["agent_suggestion_uid"] == "uid-1.0"
    assert qs.added[0]["item_uid"] and "secret" not in repr(qs)
    assert qs.status()["manager_state"] in ("idle", "executing_queue")


def test_refusals_are_errors_with_reasons(queue) -> None:
    server, _ = queue
    with pytest.raises(TransportError, match="HTTP 401"):
        QueueServer(server.uri, api_key="wrong").send([suggestion(1.0)])
    with pytest.raises(TransportError, match="not allowed"):
        QueueServer(server.uri, api_key="secret").send([suggestion(1.0, "rm_rf")])
    with pytest.raises(TransportError, match=r"refused|Errno"):
        QueueServer("http://127.0.0.1:9", timeout=1).send([suggestion(1.0)])


def test_a_failing_plan_is_recorded_and_the_queue_goes_on(queue) -> None:
    server, _ = queue
    server.plans["boom"] = lambda x, md=None: (_ for _ in ()).throw(RuntimeError("boom"))
    qs = QueueServer(server.uri, api_key="secret")
    qs.send([suggestion(1.0, "boom"), suggestion(3.0)])
    items = wait_history(server, 2)
    assert items[0]["result"]["exit_status"] == "failed"
    assert items[1]["result"]["exit_status"] == "completed"


def test_dry_run_keeps_what_it_would_send() -> None:
    d = DryRun(maxlen=2)
    d.send([suggestion(1.0), suggestion(2.0), suggestion(3.0)])
    assert [s.position for s in d.sent] == [(2.0,), (3.0,)]


@pytest.mark.integration
def test_adjudicator_messages_on_a_real_broker(tansu_broker, topic_prefix) -> None:
    bootstrap = tansu_broker.bootstrap_servers
    topic = f"{topic_prefix}.bluesky.adjudicators"
    create_topics(bootstrap, [topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    t = AdjudicatorTopic(producer, "agent-x", topic_prefix)
    assert t.topic == topic
    t.send([suggestion(1.0), suggestion(2.5)])
    t.send([])  # nothing to say: no message
    t.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=15000)
    msg = next(iter(consumer))
    consumer.close()
    producer.close()
    name, doc = msgpack.unpackb(msg.value, object_hook=msgpack_numpy.decode)
    assert name == ADJUDICATOR_DOCUMENT and msg.key == b"agent-x"
    assert doc["agent_name"] == "agent-x" and doc["suggestions_uid"] == doc["uid"]
    (plans,) = doc["suggestions"].values()
    assert list(doc["suggestions"]) == [topic_prefix]
    assert [p["plan_args"] for p in plans] == [[1.0], [2.5]]
    assert plans[0]["ask_uid"] == "uid-1.0" and plans[0]["plan_name"] == "count_at"
    assert plans[0]["plan_kwargs"]["md"]["agent_suggestion_uid"] == "uid-1.0"
