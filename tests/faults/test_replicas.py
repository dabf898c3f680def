"""Fault 2: three service replicas in one group; kill one mid-stream; no run is lost."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from brokers import report
from harness import (
    Expected,
    beamline_topics,
    fly_run,
    group_settled,
    publish_runs,
    read_complete,
    start_service,
    step_run,
    verdict,
)

from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def test_three_replicas_one_killed(kafka_broker, topic_prefix, tmp_path):
    bootstrap, beamline = kafka_broker.bootstrap_servers, topic_prefix
    topic, _ = beamline_topics(bootstrap, beamline, partitions=6)
    rng = np.random.default_rng(21)
    runs = [fly_run(rng) if i % 3 else step_run(rng) for i in range(120)]
    expected = Expected.of(runs)
    replicas = [start_service(tmp_path, bootstrap, beamline, "at_least_once", replica=f"r{i}",
                              log_level="INFO") for i in range(3)]
    publisher = threading.Thread(target=publish_runs, args=(bootstrap, topic, runs, 0.15))
    try:
        wait_until(lambda: group_settled(replicas, 6), 90, "three replicas sharing 6 partitions")
        publisher.start()
        time.sleep(6)  # mid-stream: some runs annotated, most still to come
        replicas[1].kill9()
        t_kill = time.monotonic()
        publisher.join()
        annotations = read_complete(bootstrap, f"{beamline}.xas.annotations", expected, 240)
        drained_in = time.monotonic() - t_kill
        assert replicas[0].alive() and replicas[2].alive()
    finally:
        publisher.join()
        for r in replicas:
            r.stop()
    v = verdict(annotations, expected)
    report(f"{kafka_broker.kind}: 3 replicas, one killed; all annotated "
          f"{drained_in:.1f} s after the kill; {v}")
    assert v["lost"] == {}, v
    assert v["unique"] == v["spectra"]
