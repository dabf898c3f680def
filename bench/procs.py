"""Processes under test: pinning to one core, CPU time and peak RSS from /proc, the service
subprocess, and a reader that follows an annotations topic."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from kafka import KafkaConsumer, TopicPartition

from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS
from edgestream.publish.annotation import decode
from edgestream_dev.procs import LoggedProcess, wait_until

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """``taskset -c CORE cmd`` when taskset exists and the machine has another core."""
    if core is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (``/proc/<pid>/stat``), or None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmHWM (peak resident set) and VmRSS of a process, in MB (10^6 bytes)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = round(int(value.split()[0]) * 1024 / 1e6, 1)
    except OSError:
        pass
    return out


def write_service_config(path: Path, bootstrap: str, topics: list[str], group: str,
                         publish_derived: bool = True, client: dict[str, Any] | None = None,
                         kafka: dict[str, Any] | None = None) -> Path:
    """The service's settings: its defaults, except the topics, group and fast group timeouts
    (and ``publish_derived`` / ``kafka.client`` / other ``kafka`` settings when asked). INFO
    logging: the service then logs its start-up, plugins and partition assignments only.

    The topics are given as a pattern, as in production (``topic_pattern``): with an explicit
    ``topics`` list kafka-python 3.0.12 often (1 in 3 on Apache Kafka here) joins the group
    before it has the topic's metadata, is assigned nothing and idles for good."""
    pattern = "^(" + "|".join(re.escape(t) for t in topics) + ")$"
    cfg = {"beamline": "bench", "log_level": "INFO",
           "kafka": {"bootstrap_servers": bootstrap, "topics": [], "topic_pattern": pattern,
                     "group_id": group,
                     "publish_derived": publish_derived, "client": dict(client or {}),
                     **FAST_GROUP_SETTINGS, **(kafka or {})}}
    path.write_text(yaml.safe_dump(cfg))
    return path


class Service(LoggedProcess):
    """``python -m bench.service`` pinned to one core; log in ``workdir``."""

    def __init__(self, workdir: Path, name: str, bootstrap: str, topics: list[str],
                 plugins: str, core: int | None, publish_derived: bool = True,
                 client: dict[str, Any] | None = None, group: str | None = None,
                 kafka: dict[str, Any] | None = None) -> None:
        """A fresh consumer group of its own unless ``group`` names one (replicas)."""
        config = write_service_config(workdir / f"{name}.yml", bootstrap, topics,
                                      group or f"{name}-{os.getpid()}-{time.time_ns()}",
                                      publish_derived, client, kafka)
        super().__init__(pinned([sys.executable, "-m", "bench.service", "--config", str(config),
                                 "--plugins", plugins], core), workdir / f"{name}.log", REPO)
        self.memory: dict[str, float] = {}
        self.start()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Record peak memory, then SIGTERM (SIGKILL after ``timeout`` s)."""
        if self.alive() and self.pid is not None:
            self.memory = memory_mb(self.pid)
        return super().stop(timeout)

    def assignment(self) -> tuple[float, bool] | None:
        """(wall time, empty?) of the service's first "partitions assigned" log line."""
        try:
            for line in self.read_log().splitlines():
                if "partitions assigned" in line:
                    stamp, _, ms = line[:23].partition(",")
                    t = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1e3
                    return t, line.rstrip().endswith("[]")
        except ValueError:
            return None
        return None

    def plugins(self) -> list[str]:
        """The plugins the service loaded (from its log)."""
        for line in self.read_log().splitlines():
            if "bench.service: plugins: " in line:
                return line.split("plugins: ", 1)[1].strip().split(", ")
        return []

    def wait_assigned(self, timeout_s: float) -> tuple[float, bool] | None:
        """The first assignment, once the service logged it (None: dead or timed out)."""
        found = wait_until(lambda: self.assignment() or not self.alive(), timeout_s,
                           "assignment", interval=0.1, strict=False)
        return found if isinstance(found, tuple) else None


@dataclass(frozen=True)
class Seen:
    """What the benchmark keeps of one annotation."""

    annotation_id: str
    published_at: float
    event_time: float  # the spectrum's last event time
    modality: str
    step: bool  # a step scan (seq_range spans several events)
    received: float


class AnnotationReader(threading.Thread):
    """Follows an annotations topic (and its dead-letter topic) from the start; samples a
    process's CPU time meanwhile. A dead letter counts as an answered spectrum."""

    def __init__(self, bootstrap: str, topic: str, pid: int | None = None,
                 deadletter: str | None = None) -> None:
        super().__init__(daemon=True)
        # a short fetch wait: Tansu answers a fetch only after fetch_max_wait_ms when it had
        # nothing at the time (no long-poll wake-up); receive times must be close to sends
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                      enable_auto_commit=False, fetch_max_wait_ms=10,
                                      max_partition_fetch_bytes=16 * 1024 * 1024)
        self.topic = topic
        tps = [TopicPartition(t, 0) for t in (topic, deadletter) if t]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.pid = pid
        self.seen: list[Seen] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.cpu: list[tuple[float, float]] = []  # (wall time, CPU seconds of pid)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.start()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                batch = self.consumer.poll(100)
                now = time.time()
                if self.pid is not None and (cpu := cpu_seconds(self.pid)) is not None:
                    self.cpu.append((now, cpu))
                new, dead = [], []
                for tp, msgs in batch.items():
                    if tp.topic == self.topic:
                        # JSON annotations or compact blocks (one per event, per spectrum
                        # the same annotation as the JSON form)
                        new += [_seen(a, now) for m in msgs for a in decode(m.value)]
                    else:
                        dead += [json.loads(m.value) for m in msgs]
                with self._lock:
                    self.seen += new
                    self.dead_letters += dead
        finally:
            self.consumer.close()

    def count(self) -> int:
        """Distinct annotations plus dead letters."""
        with self._lock:
            return len({s.annotation_id for s in self.seen}) + len(self.dead_letters)

    def wait_for(self, n: int, timeout_s: float, alive: Any = None) -> bool:
        """True once ``n`` distinct annotations arrived; False on timeout or a dead service."""
        def arrived_or_dead() -> bool:
            return self.count() >= n or (alive is not None and not alive())

        wait_until(arrived_or_dead, timeout_s, f"{n} annotations", interval=0.1, strict=False)
        return self.count() >= n

    def since(self, index: int) -> list[Seen]:
        with self._lock:
            return list(self.seen[index:])

    def cpu_at(self, t: float) -> float | None:
        """CPU seconds of the process at wall time ``t`` (interpolated between samples)."""
        if len(self.cpu) < 2:
            return None
        ts, cs = zip(*self.cpu, strict=True)
        return float(np.interp(t, ts, cs))

    def close(self) -> None:
        self._halt.set()
        self.join(10)


def _seen(a: dict[str, Any], now: float) -> Seen:
    seq = a["ids"]["seq_range"]
    return Seen(a["annotation_id"], float(a["timing"]["published_at"]),
                float(a["timing"]["event_time"][1]), a["modality"], seq[0] != seq[1], now)
