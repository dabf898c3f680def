"""A real RunEngine publishes to a real broker; the service answers with annotations.

Runs on both brokers (Tansu and Apache Kafka). Malformed documents go in alongside the good
runs: they must land on the dead-letter topic while every good run is annotated, and the
group's committed offsets must cover every message once the runs are closed.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from harness import read_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.service import AnnotationService
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream.publish.annotation import decode
from edgestream_sim.beamline import run_beamline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

GARBAGE = [
    (b"\x00\x01 not msgpack at all", "malformed_document"),
    (encode("event", {"descriptor": "nobody-declared-me", "uid": "e", "seq_num": 1,
                      "data": {}, "timestamps": {}, "time": 0.0}), "unknown_descriptor"),
    (encode("resolution", {"uid": "x"}), "unknown_document_name"),
    (encode("stop", {"run_start": "never-started", "uid": "s", "time": 0.0,
                     "exit_status": "success"}), "unknown_run"),
]


def settings_for(bootstrap: str, beamline: str, delivery: str = "at_least_once") -> Settings:
    s = Settings(beamline=beamline)
    s.kafka.delivery = delivery
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.topics = [f"{beamline}.bluesky.runengine.documents"]
    s.kafka.group_id = f"{beamline}-service"
    # A little more than the fast setting: CI machines are loaded while brokers run.
    s.kafka.session_timeout_ms = 2 * FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    return s


@contextmanager
def serving(settings: Settings, pipeline: Pipeline | None = None
            ) -> Iterator[AnnotationService]:
    """The Kafka service running in a thread of this process (plugins discovered unless a
    ``pipeline`` is given), stopped at the end of the block."""
    service = AnnotationService(
        settings, pipeline if pipeline is not None else Pipeline(settings, discover()))
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()
    try:
        yield service
    finally:
        stop.set()
        worker.join(timeout=30)


def read_all(bootstrap: str, topic: str, until, timeout: float = 150.0) -> list:
    """Records of a topic (read_committed) until ``until(records)`` or the timeout."""
    return read_topic(bootstrap, topic, until, timeout, raw=True)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_runengine_scans_come_back_as_annotations(kafka_broker, topic_prefix, delivery):
    bootstrap, beamline = kafka_broker.bootstrap_servers, topic_prefix
    settings = settings_for(bootstrap, beamline, delivery)
    docs_topic = settings.kafka.topics[0]
    out_topics = [t.format(beamline=beamline) for t in (
        settings.kafka.annotations_topic, settings.kafka.dead_letter_topic,
        settings.kafka.derived_topic)]
    create_topics(bootstrap, [docs_topic, *out_topics], partitions=3)

    with serving(settings):
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for raw, _ in GARBAGE[:2]:
            producer.send(docs_topic, raw)
        producer.flush()
        summary = run_beamline(bootstrap, beamline=beamline, n_step=2, n_fly=1, n_eels=1,
                               seed=3)
        for raw, _ in GARBAGE[2:]:
            producer.send(docs_topic, raw)
        producer.flush()
        producer.close()

        runs = {r["uid"]: r for r in summary.run_uids}
        step_runs = [u for u, r in runs.items() if r["kind"] == "step"]
        fly_runs = [u for u, r in runs.items() if r["kind"] == "fly"]
        eels_runs = [u for u, r in runs.items() if r["kind"] == "eels"]
        assert len(step_runs) == 2 and len(fly_runs) == 1 and len(eels_runs) == 1

        def complete(msgs):  # compact messages (spectrum-image rows) decoded per spectrum
            seen = [a["ids"]["run_uid"] for m in msgs for a in decode(m.value)]
            return set(runs) <= set(seen) and sum(u in fly_runs for u in seen) >= 4
        annotations = [a for m in read_all(bootstrap, out_topics[0], complete)
                       for a in decode(m.value)]
        dead = [json.loads(m.value) for m in read_all(
            bootstrap, out_topics[1], lambda msgs: len(msgs) >= len(GARBAGE))]

    # At-least-once: a rebalance under load may replay a run; consumers drop repeats by id.
    unique = {a["annotation_id"]: a for a in annotations}
    by_run = defaultdict(list)
    for a in unique.values():
        by_run[a["ids"]["run_uid"]].append(a)
    missing = {runs[u]["kind"] for u in set(runs) - set(by_run)}
    assert not missing, f"runs without annotations: {missing}"
    for uid in step_runs:
        (a,) = by_run[uid]  # step scans: one annotation at stop
        truth = runs[uid]["sample_truth"]
        assert a["element"] == "Cu" and a["edge"] == "K"
        assert a["modality"] == "xas_transmission"
        assert 8975 < a["e0"] < 8995, (a["e0"], truth)
        assert a["ids"]["seq_range"][1] - a["ids"]["seq_range"][0] > 100
    (fly,) = fly_runs
    assert len(by_run[fly]) == 4, "fly scans: one annotation per sweep (event)"
    assert all(8975 < a["e0"] < 8995 for a in by_run[fly])
    eels = by_run[eels_runs[0]]
    assert all(a["modality"] == "eels" and a["element"] == "Cu" for a in eels)

    dead = list({(d["source"]["partition"], d["source"]["offset"]): d for d in dead}.values())
    assert Counter(d["reason"] for d in dead) == Counter(r for _, r in GARBAGE)
    assert all(d["source"]["topic"] == docs_topic for d in dead)

    # Offsets: all runs closed, so the group has committed every message it consumed.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=settings.kafka.group_id,
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(docs_topic, p) for p in range(3)]
        committed = sum(consumer.committed(tp) or 0 for tp in parts)
    finally:
        consumer.close()
    published = sum(summary.published["sent"].values()) + len(GARBAGE)
    assert committed == published


def _derived_events(bootstrap: str, topic: str, expected: int) -> tuple[dict, list[int]]:
    """Derived events by uid (each event page unpacked) and every message's size."""
    from edgestream.documents.wire import decode

    def events(msgs):
        uids = set()
        for m in msgs:
            name, doc = decode(m.value)
            uids |= set(doc["uid"]) if name == "event_page" else set()
        return uids

    msgs = read_all(bootstrap, topic, lambda msgs: len(events(msgs)) >= expected)
    return events(msgs), [len(m.value) for m in msgs]


def _serve_eels_run(settings: Settings, bootstrap: str, beamline: str,
                    topic_config: dict[str, str] | None = None):
    """One 8 x 64-pixel spectrum image through the service: (service, annotations by id,
    derived event uids, derived message sizes, dead letters)."""
    k = settings.kafka
    out = [t.format(beamline=beamline) for t in (k.annotations_topic, k.dead_letter_topic)]
    derived_topic = k.derived_topic.format(beamline=beamline)
    create_topics(bootstrap, [k.topics[0], *out], partitions=1)
    create_topics(bootstrap, [derived_topic], partitions=1, config=topic_config)
    with serving(settings) as service:
        summary = run_beamline(bootstrap, beamline=beamline, n_step=0, n_fly=0, n_eels=1,
                               si_pixels=64, si_rows=8, seed=5)
        assert summary.eels_spectra == 512
        def ids(msgs):  # a replay after a refused batch repeats annotations (same ids)
            return {a["annotation_id"] for m in msgs for a in decode(m.value)}

        messages = read_all(bootstrap, out[0], lambda msgs: len(ids(msgs)) >= 512)
        # compact annotations: a message per row of 64 pixels, not one per pixel
        assert len(messages) < 512 and all(m.value[:1] != b"{" for m in messages)
        annotations = {a["annotation_id"]: a for m in messages for a in decode(m.value)}
        uids, sizes = _derived_events(bootstrap, derived_topic, len(annotations))
        dead = [json.loads(m.value) for m in read_all(bootstrap, out[1], lambda m: False,
                                                      timeout=2.0)]
    return service, annotations, uids, sizes, dead


def test_derived_event_pages_are_split_under_the_message_limit(kafka_broker, topic_prefix):
    """A batch's event page of 512 EELS annotations (~MBs) goes out as pages of at most
    ``kafka.max_message_bytes``; every annotation still has its derived event."""
    bootstrap = kafka_broker.bootstrap_servers
    settings = settings_for(bootstrap, topic_prefix)
    settings.kafka.max_message_bytes = 100_000
    service, annotations, uids, sizes, dead = _serve_eels_run(settings, bootstrap,
                                                              topic_prefix)
    assert len(annotations) == 512 and len(uids) == 512
    assert max(sizes) <= 100_000 and len(sizes) > 10
    assert not dead and service.max_message_bytes == 100_000


@pytest.mark.apache
@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_a_broker_that_refuses_large_messages_is_followed_down(apache_broker, topic_prefix,
                                                                delivery):
    """The derived topic takes at most 200 kB per record batch (max.message.bytes) while the
    service starts at 1 MB: the broker refuses, the service halves its limit until the broker
    takes its messages (1 MB -> 500 kB -> 250 kB -> 125 kB) instead of replaying the same
    refused batch for ever, and nothing is lost."""
    bootstrap = apache_broker.bootstrap_servers
    settings = settings_for(bootstrap, topic_prefix, delivery)
    service, annotations, uids, sizes, dead = _serve_eels_run(
        settings, bootstrap, topic_prefix, {"max.message.bytes": "200000"})
    assert service.max_message_bytes == 125_000
    assert len(annotations) == 512 and len(uids) == 512
    # At-least-once keeps the pieces the broker took from a refused batch (under 200 kB, cut
    # while the limit was 250 kB); in a transaction the refused batch is aborted whole, so a
    # read_committed reader sees only pages cut under the final limit.
    assert max(sizes) <= (125_000 if delivery == "exactly_once" else 200_000)
    assert not dead


def test_an_annotation_over_the_limit_is_dead_lettered_not_lost(tansu_broker, topic_prefix):
    """A 20,000-point output grid makes each annotation a few hundred kB: over a 64 KiB
    limit it goes to the dead-letter topic with its reason and size, and no derived event
    claims it was published."""
    bootstrap = tansu_broker.bootstrap_servers
    settings = settings_for(bootstrap, topic_prefix)
    settings.kafka.max_message_bytes = 65536
    settings.grid.step = 0.005
    k = settings.kafka
    out = [t.format(beamline=topic_prefix) for t in (k.annotations_topic, k.dead_letter_topic,
                                                      k.derived_topic)]
    create_topics(bootstrap, [k.topics[0], *out])
    with serving(settings):
        run_beamline(bootstrap, beamline=topic_prefix, n_step=1, n_fly=0, n_eels=0, seed=2)
        dead = [json.loads(m.value) for m in read_all(bootstrap, out[1], lambda m: len(m) >= 1)]
        annotations = read_all(bootstrap, out[0], lambda m: False, timeout=2.0)
        derived = read_all(bootstrap, out[2], lambda m: False, timeout=2.0)
    (letter,) = {d["context"]["size"]: d for d in dead}.values()
    assert letter["reason"] == "output_too_large" and letter["document_name"] == "annotation"
    assert letter["context"]["size"] > 65536 == letter["context"]["limit"]
    assert not annotations and not derived


def test_the_bluesky_kafka_publisher_is_understood(kafka_broker, topic_prefix):
    """Wire compatibility with facilities: the RunEngine publishes through the
    ``bluesky-kafka`` package's own ``Publisher`` (confluent-kafka/librdkafka underneath),
    configured as nslsii configures it (msgpack with msgpack-numpy, one random key for the
    whole session, flush at each stop), and the service annotates every run."""
    import uuid
    from functools import partial

    import msgpack
    import msgpack_numpy as mpn
    from bluesky_kafka import Publisher

    bootstrap, beamline = kafka_broker.bootstrap_servers, topic_prefix
    settings = settings_for(bootstrap, beamline)
    docs_topic = settings.kafka.topics[0]
    out_topics = [t.format(beamline=beamline) for t in (
        settings.kafka.annotations_topic, settings.kafka.dead_letter_topic,
        settings.kafka.derived_topic)]
    create_topics(bootstrap, [docs_topic, *out_topics], partitions=2)

    publisher = Publisher(topic=docs_topic, bootstrap_servers=bootstrap,
                          key=str(uuid.uuid4()),
                          producer_config={"acks": "all", "enable.idempotence": False},
                          flush_on_stop_doc=True,
                          serializer=partial(msgpack.dumps, default=mpn.encode))
    with serving(settings):
        summary = run_beamline(None, beamline=beamline, n_step=2, n_fly=1, n_eels=1, seed=4,
                               on_document=publisher)
        publisher.flush()
        runs = {r["uid"]: r["kind"] for r in summary.run_uids}
        assert sorted(runs.values()) == ["eels", "fly", "step", "step"]

        def complete(msgs):
            return set(runs) <= {a["ids"]["run_uid"] for m in msgs for a in decode(m.value)}
        annotations = [a for m in read_all(bootstrap, out_topics[0], complete)
                       for a in decode(m.value)]
        dead = read_all(bootstrap, out_topics[1], lambda m: False, timeout=2.0)

    by_run = defaultdict(dict)
    for a in annotations:
        by_run[a["ids"]["run_uid"]][a["annotation_id"]] = a
    assert set(by_run) == set(runs), "every run published by bluesky-kafka is annotated"
    for uid, kind in runs.items():
        for a in by_run[uid].values():
            assert a["element"] == "Cu"
            if kind != "eels":
                assert 8975 < a["e0"] < 8995
    assert len(by_run[next(u for u, k in runs.items() if k == "fly")]) == 4
    assert not dead, [json.loads(m.value)["reason"] for m in dead]
