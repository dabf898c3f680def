"""The Bluesky callback door: never blocks the RunEngine, never raises into it, lets plans
read their annotations, and optionally publishes them to Kafka."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from bluesky import RunEngine
from kafka import KafkaConsumer, KafkaProducer

from edgestream.config.settings import Settings
from edgestream.doors.callback import AnnotatingCallback, wait_for_annotations
from edgestream.doors.kafka.admin import create_topics
from edgestream.metrics import Metrics
from edgestream.pipeline import Outcome, Pipeline
from edgestream.plugin.api import discover
from edgestream_agent.gradient import GradientSample, GradientStage, gradient_xas_scan
from edgestream_dev.procs import wait_until
from edgestream_sim.devices import EnergyAxis, IonChambers, PhotonBeam

pytestmark = pytest.mark.timeout(180)


class Slow(Pipeline):
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        super().__init__(Settings(), [], Metrics())
        self.delay, self.fail, self.seen = delay, fail, []
        self.release = threading.Event()

    def __call__(self, name, doc):
        self.release.wait(self.delay)
        self.seen.append(name)
        if self.fail and name == "event":
            raise RuntimeError("a bug")
        return Outcome()


def value(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_full_queue_drops_and_counts_but_never_blocks() -> None:
    p = Slow(delay=30.0)
    cb = AnnotatingCallback(p, max_queue=2)
    t0 = time.perf_counter()
    for i in range(10):
        cb("event", {"seq_num": i})
    assert time.perf_counter() - t0 < 0.5
    assert cb.dropped >= 7
    assert value(p.metrics, "edgestream_errors_total", reason="callback_queue_full") == \
        cb.dropped
    assert value(p.metrics, "edgestream_queue_depth_items", queue="callback") == 2
    p.release.set()
    cb.close()


def test_errors_are_counted_and_the_worker_goes_on() -> None:
    p = Slow(fail=True)
    seen = []

    def broken(a):
        raise ValueError("consumer bug")

    cb = AnnotatingCallback(p, on_annotation=broken)
    for name in ("start", "event", "event", "stop"):
        cb(name, {"run_start": "r"} if name == "stop" else {})  # never raises
    cb.close()
    seen = p.seen
    assert seen == ["start", "event", "event", "stop"]
    assert value(p.metrics, "edgestream_errors_total", reason="internal") == 2
    assert cb.finished("r")


@pytest.fixture
def beamline():
    rng = np.random.default_rng(0)
    beam = PhotonBeam()
    stage = GradientStage(sample=GradientSample((20.0, 40.0), (0.3, 0.3)), rng=rng)
    return IonChambers(stage=stage, beam=beam), EnergyAxis(beam=beam), stage


def test_plans_read_their_own_annotations(beamline) -> None:
    ic, mono, stage = beamline
    cb = AnnotatingCallback(Pipeline(Settings(), discover()))
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(cb)
    got = {}

    def plan():
        uid = yield from gradient_xas_scan(ic, mono, stage, 55.0)
        got["annotations"] = yield from wait_for_annotations(cb, uid, timeout=60)
        got["uid"] = uid

    RE(plan())
    (a,) = got["annotations"]
    assert a["ids"]["run_uid"] == got["uid"] and a["element"] == "Cu"
    assert cb.latest(got["uid"]) == got["annotations"]
    assert cb.wait_for(got["uid"], timeout=1) == got["annotations"]
    assert cb.wait_for("never-ran", timeout=0.1) == []
    cb.close()


@pytest.mark.integration
def test_annotations_are_also_published_to_kafka(beamline, tansu_broker, topic_prefix) -> None:
    ic, mono, stage = beamline
    bootstrap = tansu_broker.bootstrap_servers
    topic = f"{topic_prefix}.xas.annotations"
    create_topics(bootstrap, [topic], partitions=1)
    metrics = Metrics()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    cb = AnnotatingCallback(Pipeline(Settings(beamline=topic_prefix), discover(), metrics),
                            producer=producer)
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(cb)
    (uid,) = RE(gradient_xas_scan(ic, mono, stage, 5.0, beamline_id=topic_prefix))
    (a,) = cb.wait_for(uid, timeout=60)
    cb.close()
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=15000)
    msg = next(iter(consumer))
    consumer.close()
    body = json.loads(msg.value)
    assert body["annotation_id"] == a["annotation_id"] and msg.key == uid.encode()
    assert body["timing"]["published_at"] > 0
    assert value(metrics, "edgestream_annotations_published_total", kind="final") == 1
    assert value(metrics, "edgestream_end_to_end_latency_seconds_count") == 1


def test_a_count_and_a_tune_in_the_runengine_are_counted_skips(beamline, caplog) -> None:
    """Inside acquisition too: a count at fixed energy and a motor tune end as counted,
    logged skips, and an energy scan the names cannot resolve as a reported missing_channel."""
    from bluesky.plans import count, list_scan
    from ophyd.sim import SynAxis, SynSignal

    chambers, energy, stage = beamline
    stage.set(30.0).wait(5)
    pipeline = Pipeline(Settings(), [], Metrics())
    cb = AnnotatingCallback(pipeline)
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(cb)
    slit = SynAxis(name="slit_vsize")
    counters = [SynSignal(func=lambda: 1e5 + np.random.default_rng().normal(0, 50),
                          name=f"sclr1_ch{i}") for i in (2, 3)]
    with caplog.at_level("INFO", logger="edgestream"):
        count_uid, = RE(count([chambers], num=3))
        tune_uid, = RE(list_scan(counters, slit, list(np.linspace(0, 2, 21))))
        scan_uid, = RE(list_scan(counters, energy, list(np.linspace(8900, 9100, 30))))
        for uid in (count_uid, tune_uid, scan_uid):
            wait_until(lambda uid=uid: cb.finished(uid), 30, f"end of run {uid}", interval=0.05,
                       strict=False)
    cb.close()
    assert value(pipeline.metrics, "edgestream_runs_skipped_total",
                 reason="not_spectroscopy") == 2
    assert value(pipeline.metrics, "edgestream_errors_total", reason="missing_channel") == 1
    logged = caplog.text
    assert f"run {count_uid} skipped (not_spectroscopy" in logged
    assert f"run {tune_uid} skipped (not_spectroscopy" in logged
    assert "missing_channel" in logged and "sclr1_ch2" in logged


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, f, *args, **kwargs):
        if self.error is None:
            f(*args, "metadata", **kwargs)
        return self

    def add_errback(self, f, *args, **kwargs):
        if self.error is not None:
            f(*args, self.error, **kwargs)
        return self


class FakeProducer:
    """Records sends; refuses every message as too large when ``refuse`` is set."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.refuse = refuse

    def send(self, topic, key=None, value=b""):
        from kafka.errors import MessageSizeTooLargeError

        self.sent.append((topic, key, value))
        return FakeFuture(MessageSizeTooLargeError("too large") if self.refuse else None)

    def flush(self, timeout=None) -> None:
        pass


def test_the_callback_door_publishes_with_the_kafka_doors_policy() -> None:
    """Annotations, dead letters and derived documents go where the Kafka door sends them,
    keyed by run; a broker's refusal as too large lowers the size limit."""
    from pathlib import Path

    from edgestream.doors.files.door import file_documents

    docs = file_documents(Path(__file__).parent / "data/experimental/ZnO.xdi")
    producer = FakeProducer()
    metrics = Metrics()
    cb = AnnotatingCallback(Pipeline(Settings(beamline="bl"), [], metrics), producer=producer)
    for name, doc in docs:
        cb(name, doc | {"beamline_id": "b7"} if name == "start" else doc)
    cb("event", {"descriptor": "never-seen", "seq_num": 1})
    uid = docs[0][1]["uid"]
    (a,) = cb.wait_for(uid, timeout=30)
    cb.close()
    assert a["beamline"] == "b7"
    topics = [(t, k) for t, k, _ in producer.sent]
    assert ("b7.xas.annotations", uid.encode()) in topics
    assert [t for t, k in topics if t == "b7.xas.derived.documents" and k == uid.encode()] \
        == ["b7.xas.derived.documents"] * 4  # start, descriptor, event page, stop
    (dead,) = [json.loads(v) for t, _, v in producer.sent if t == "bl.xas.deadletter"]
    assert dead["reason"] == "unknown_descriptor"
    assert value(metrics, "edgestream_annotations_published_total", kind="final") == 1

    refusing = FakeProducer(refuse=True)
    cb = AnnotatingCallback(Pipeline(Settings(), [], Metrics()), producer=refusing)
    for name, doc in docs:
        cb(name, doc)
    cb.wait_for(uid, timeout=30)
    cb.close()
    assert cb.policy.limit.bytes < Settings().kafka.max_message_bytes
    assert value(cb.metrics, "edgestream_errors_total", reason="publish_failed") > 0
