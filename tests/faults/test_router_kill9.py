"""Fault: kill -9 the router five times while 120 runs under one session key stream through.

Behind it two service replicas share a 4-partition runs topic. Nothing is lost: every spectrum
has its final annotation (after de-duplication by id in at-least-once; raw in exactly-once),
and no run is broken by the replays (no unknown_descriptor / unknown_run dead letters: an
at-least-once router re-sends an open run from its start, and the service restarts a run on
a repeated start).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest
from brokers import report
from harness import (
    DELIVERY_CASES,
    Expected,
    ServiceProcess,
    beamline_topics,
    fly_run,
    kill9_repeatedly,
    read_complete,
    read_topic,
    router_configs,
    session_publish,
    step_run,
    verdict,
)
from kafka import KafkaConsumer

from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def count_records(bootstrap: str, topic: str) -> int:
    """Committed records of a topic, read until nothing came for 3 s (Tansu's end offsets
    lag behind the real end)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", isolation_level="read_committed")
    n, idle_since = 0, time.monotonic()
    try:
        while time.monotonic() - idle_since < 3.0:
            got = sum(len(m) for m in consumer.poll(500).values())
            n += got
            if got:
                idle_since = time.monotonic()
    finally:
        consumer.close()
    return n


@pytest.mark.parametrize("broker_kind, delivery", DELIVERY_CASES)
def test_router_kill9_loses_nothing(request, broker_kind, delivery, topic_prefix, tmp_path):
    broker = request.getfixturevalue(f"{broker_kind}_broker")
    bootstrap, beamline = broker.bootstrap_servers, topic_prefix
    docs_topic, annotations_topic = beamline_topics(bootstrap, beamline, partitions=1)
    rng = np.random.default_rng(31)
    runs = [fly_run(rng) if i % 3 else step_run(rng) for i in range(120)]
    expected = Expected.of(runs)
    router_cfg, svc_cfgs = router_configs(tmp_path, bootstrap, beamline, delivery, replicas=2)
    router = ServiceProcess(router_cfg, tmp_path / "router.log", verb="route",
                            log_level="INFO").start()
    replicas: list[ServiceProcess] = []
    publisher = threading.Thread(target=session_publish,
                                 args=(bootstrap, docs_topic, runs, 0.1))
    kills = 0
    try:
        wait_until(lambda: router.logged("routing ") > 0, 60, "router start")
        replicas += [ServiceProcess(c, tmp_path / f"svc{i}.log", log_level="INFO").start()
                     for i, c in enumerate(svc_cfgs)]
        wait_until(lambda: all(r.assigned() for r in replicas), 90, "replicas assigned")
        publisher.start()
        kills = kill9_repeatedly(router, 5, rng, (2.0, 4.0))
        publisher.join()
        annotations = read_complete(bootstrap, annotations_topic, expected, 240)
        dead = read_topic(bootstrap, f"{beamline}.xas.deadletter", lambda m: False, timeout=5)
        assert router.alive(), router.log.read_text()[-3000:]
        assert all(r.alive() for r in replicas)
    finally:
        if publisher.is_alive():
            publisher.join()
        for p in (router, *replicas):
            p.stop()
    v = verdict(annotations, expected)
    sent = sum(len(docs) for docs in runs)
    written = count_records(bootstrap, f"{beamline}.edgestream.runs")
    report(f"router kill -9 x{kills}, {broker_kind} {delivery}: {v}; dead letters "
           f"{dict(Counter(d['reason'] for d in dead))}; {sent} documents in, {written} "
           f"records on the runs topic")
    assert v["lost"] == {}, v
    assert v["unique"] == v["spectra"]
    assert dead == [], Counter(d["reason"] for d in dead)
    if delivery == "exactly_once":
        assert v["raw_duplicates"] == 0, v
