"""Fault 1: kill -9 the service 10 times while ≥200 runs stream through; nothing is lost.

Every tenth run is an EELS spectrum image, published as compact messages (one per row):
the accounting counts each of their spectra once, as each JSON annotation.
At-least-once (any broker): every spectrum has its final annotation (after de-duplication by
id). Exactly-once (Apache Kafka): every spectrum has exactly one, with no de-duplication.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from brokers import report
from harness import (
    DELIVERY_CASES,
    Expected,
    beamline_topics,
    eels_run,
    fly_run,
    kill9_repeatedly,
    publish_runs,
    read_complete,
    start_service,
    step_run,
    verdict,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

@pytest.mark.parametrize("broker_kind, delivery", DELIVERY_CASES)
def test_kill9_ten_times_loses_nothing(request, broker_kind, delivery, topic_prefix, tmp_path):
    broker = request.getfixturevalue(f"{broker_kind}_broker")
    bootstrap, beamline = broker.bootstrap_servers, topic_prefix
    docs_topic, _ = beamline_topics(bootstrap, beamline)
    rng = np.random.default_rng(11)
    # every 10th run an EELS spectrum image: compact messages, each spectrum counted once
    runs = [eels_run(rng) if i % 10 == 5 else fly_run(rng) if i % 4 else step_run(rng)
            for i in range(200)]
    expected = Expected.of(runs)

    service = start_service(tmp_path, bootstrap, beamline, delivery)
    publisher = threading.Thread(target=publish_runs, args=(bootstrap, docs_topic, runs, 0.2))
    publisher.start()
    kills = 0
    try:
        kills = kill9_repeatedly(service, 10, rng, (2.0, 5.0))
        publisher.join()
        annotations = read_complete(bootstrap, f"{beamline}.xas.annotations", expected, 240)
        assert service.alive(), service.log.read_text()[-3000:]
    finally:
        publisher.join()
        service.stop()

    v = verdict(annotations, expected)
    report(f"{broker_kind} {delivery}: {kills} kills, {v}")
    assert v["lost"] == {}, v
    assert v["unique"] == v["spectra"]
    if delivery == "exactly_once":
        assert v["raw_duplicates"] == 0, v
