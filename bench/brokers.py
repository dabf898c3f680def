"""The brokers the benchmark runs on (started by :mod:`edgestream_dev.brokers`, shared with the
tests), and filling a topic with the workload as fast as possible."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from edgestream.doors.kafka.admin import create_topics
from edgestream_dev.brokers import (
    BROKER_KINDS,
    Broker,
    apache_unavailable,
    start_broker,
    tansu_version,
)

__all__ = ["BROKER_KINDS", "Broker", "apache_unavailable", "fill", "make_topics",
           "start_broker", "tansu_version"]


def make_topics(bootstrap: str, names: Iterable[str]) -> None:
    """One partition each (one Bluesky run stream keeps its order within one partition)."""
    create_topics(bootstrap, names, partitions=1, replication=1)


def fill(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Publish every (key, value) with acks=all; return counts and the publish rate."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                             batch_size=1024 * 1024, max_request_size=16 * 1024 * 1024)
    n = size = 0
    t0 = time.perf_counter()
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
            n += 1
            size += len(value)
        producer.flush()
    finally:
        producer.close(timeout=10)
    dt = time.perf_counter() - t0
    return {"messages": n, "bytes": size, "publish_s": round(dt, 3),
            "publish_msgs_per_s": round(n / dt, 1) if dt > 0 else None}
