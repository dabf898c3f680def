"""Broker bookkeeping for the test-suite: the brokers this session started, measured figures,
topic names. Starting brokers and deciding which can run here is :mod:`edgestream_dev.brokers`
(shared with the benchmark).

Used by ``tests/conftest.py``; importing this module needs neither Java nor the network.
Apache Kafka is skipped when ``java`` is missing or ``EDGESTREAM_SKIP_APACHE=1``;
``EDGESTREAM_KAFKA_VERSION`` picks another version.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from edgestream_dev import brokers as dev
from edgestream_dev.apache import ApacheKafka
from edgestream_dev.brokers import APACHE_VERSION, SKIP_APACHE_ENV, Broker

__all__ = ["APACHE_VERSION", "FIGURES", "SKIP_APACHE_ENV", "STARTED", "Broker",
           "apache_skip_reason", "heal", "report", "start_apache", "start_tansu",
           "unique_topic_prefix"]

#: Every broker started in this session (for the terminal summary).
STARTED: list[Broker] = []
FIGURES: list[str] = []  # what the fault suite measured, printed in the terminal summary


def report(line: str) -> None:
    """Print a measured figure now (``-s``) and list it in the session's summary."""
    print("\n" + line)
    FIGURES.append(line)


def apache_skip_reason() -> str | None:
    """Why the Apache Kafka tests cannot run here, or None when they can."""
    return dev.apache_unavailable()


def start_tansu(log_dir: Path) -> Broker:
    """Start an embedded Tansu broker on a free port."""
    broker = dev.start_tansu(log_dir)
    STARTED.append(broker)
    return broker


def start_apache(workdir: Path, nodes: int = 1, timeout: float = 120.0) -> Broker:
    """Fetch the jars (cached), then format and start Apache Kafka on free ports."""
    broker = dev.start_apache(workdir, nodes, timeout)
    STARTED.append(broker)
    return broker


def heal(broker: Broker) -> None:
    """Restart any node of an Apache cluster that a test killed and left down."""
    kafka = broker.handle
    if isinstance(kafka, ApacheKafka):
        for node_id in kafka.node_ids:
            if kafka.pid(node_id) is None:
                kafka.restart_node(node_id)


def unique_topic_prefix(test_name: str) -> str:
    """A short topic-name prefix unique to one test call (Kafka-legal characters only)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", test_name).strip("-")[:40]
    return f"es-{slug}-{uuid.uuid4().hex[:8]}"
