"""Fault 6: a 10x burst. Memory stays bounded and the lag drains afterwards.

The service never buffers ahead of what it processes: one poll of at most
``max_poll_records`` is processed and published before the next (with at most one earlier
batch's sends still awaiting their acknowledgement, ``kafka.overlap_publish``), the client's
fetch buffers are capped, and open runs are bounded by ``max_open_runs``. What grows under
a burst is the broker's lag, not the service's memory.
"""

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
    publish_runs,
    read_complete,
    start_service,
    verdict,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

RSS_BOUND_MB = 600  # the service's stated bound (README); typical steady state is far below


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_burst_memory_bounded_and_lag_drains(tansu_broker, topic_prefix, tmp_path):
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    topic, out_topic = beamline_topics(bootstrap, beamline)
    rng = np.random.default_rng(3)
    steady = [fly_run(rng, sweeps=2, n=600) for _ in range(40)]
    burst = [fly_run(rng, sweeps=2, n=600) for _ in range(400)]  # 10x the steady batch
    exp_steady, expected = Expected.of(steady), Expected.of(steady, burst)
    service = start_service(tmp_path, bootstrap, beamline, "at_least_once")
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            if service.alive():
                samples.append(rss_mb(service.proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        publish_runs(bootstrap, topic, steady)
        read_complete(bootstrap, out_topic, exp_steady, 120)
        steady_mb = max(samples)
        t0 = time.monotonic()
        publish_runs(bootstrap, topic, burst)  # as fast as the producer goes
        annotations = read_complete(bootstrap, out_topic, expected, 300)
        drained_s = time.monotonic() - t0
        peak_mb = rss_mb(service.proc.pid, "VmHWM")
        assert service.alive()
    finally:
        done.set()
        service.stop()
    v = verdict(annotations, expected)
    report(f"steady RSS {steady_mb:.0f} MB; burst of {len(burst)} runs "
          f"({v['spectra'] - 80} spectra) drained in {drained_s:.1f} s; "
          f"peak RSS {peak_mb:.0f} MB; {v}")
    assert v["lost"] == {}
    assert peak_mb < RSS_BOUND_MB
