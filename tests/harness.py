"""Tools of the fault and router suites: fast realistic runs, publishers, the service (or the
router) as a process that can be killed with SIGKILL, reading a topic back, and the verdict.

Next to ``brokers.py`` so that every test folder imports it as ``harness``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from event_model import compose_run
from kafka import KafkaConsumer, KafkaProducer

from edgestream.documents.wire import encode
from edgestream.publish.annotation import decode
from edgestream_dev.procs import LoggedProcess, wait_until

E0 = 8984.0

#: (broker kind, delivery) pairs of the kill -9 and router tests: at-least-once on both
#: brokers, exactly-once on Apache Kafka (Tansu 0.6 lacks what exactly-once needs).
DELIVERY_CASES = [
    pytest.param("tansu", "at_least_once", id="tansu-at-least-once"),
    pytest.param("apache", "at_least_once", id="apache-at-least-once",
                 marks=pytest.mark.apache),
    pytest.param("apache", "exactly_once", id="apache-exactly-once", marks=pytest.mark.apache),
]


def mu(energy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    edge = 0.5 + np.arctan((energy - E0) / 1.5) / np.pi
    white = 0.5 * np.exp(-0.5 * ((energy - E0 - 8) / 3) ** 2)
    return 0.3 * (energy / E0) ** -3 + edge + white + rng.normal(0, 2e-3, energy.size)


def fly_run(rng: np.random.Generator, sweeps: int = 2, n: int = 300) -> list:
    """A QEXAFS-style run: one array event per sweep (one annotation each)."""
    bundle = compose_run(metadata={"element": "Cu", "edge": "K", "sample": "fault-suite"})
    keys = {k: {"source": "sim", "dtype": "array", "shape": [n], "units": "eV"}
            for k in ("energy", "I0", "It")}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for i in range(sweeps):
        e = np.linspace(8880, 9180, n)
        data = {"energy": e, "I0": np.full(n, 1e5), "It": 1e5 * np.exp(-mu(e, rng))}
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0),
                                                 seq_num=i + 1)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


def step_run(rng: np.random.Generator, n: int = 40) -> list:
    """A step scan: one event per point; one annotation at stop."""
    bundle = compose_run(metadata={"element": "Cu", "edge": "K", "sample": "fault-suite"})
    keys = {"energy": {"source": "sim", "dtype": "number", "shape": [], "units": "eV"},
            "I0": {"source": "sim", "dtype": "number", "shape": []},
            "It": {"source": "sim", "dtype": "number", "shape": []}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for i, e in enumerate(np.linspace(8900, 9100, n)):
        data = {"energy": float(e), "I0": 1e5,
                "It": float(1e5 * np.exp(-mu(np.array([e]), rng))[0])}
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0),
                                                 seq_num=i + 1)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


def eels_run(rng: np.random.Generator, rows: int = 2, pixels: int = 16, n: int = 240) -> list:
    """An EELS spectrum image of Cu L2,3: one event per row of ``pixels`` spectra (one
    compact annotation message per row, one annotation per pixel once decoded)."""
    bundle = compose_run(metadata={"element": "Cu", "edge": "L2,3", "sample": "fault-suite",
                                   "eels_offset": 880.0, "eels_dispersion": 0.5})
    keys = {"eels_spectrum": {"source": "sim", "dtype": "array", "shape": [pixels, n],
                              "units": "counts"}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    loss = 880.0 + 0.5 * np.arange(n)
    for row in range(rows):
        edge = 0.5 + np.arctan((loss - 931.0) / 1.0) / np.pi
        counts = 1e4 * (loss / 880.0) ** -3.5 * (1 + 0.3 * edge)
        data = {"eels_spectrum": counts * rng.normal(1, 0.01, (pixels, n))}
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0),
                                                 seq_num=row + 1)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


@dataclass
class Expected:
    """Spectra that must each get exactly one final annotation."""

    spectra: dict[str, int] = field(default_factory=dict)  # run uid -> annotations expected

    @classmethod
    def of(cls, *run_lists: list[list]) -> Expected:
        expected = cls()
        for runs in run_lists:
            for docs in runs:
                expected.add(docs)
        return expected

    def add(self, docs: list) -> None:
        uid = docs[0][1]["uid"]
        events = sum(1 for name, _ in docs if name == "event")
        keys = docs[1][1]["data_keys"]
        if "eels_spectrum" in keys:  # a spectrum per pixel of every row
            self.spectra[uid] = events * keys["eels_spectrum"]["shape"][0]
            return
        is_fly = keys["energy"]["shape"] != []
        self.spectra[uid] = events if is_fly else 1


def beamline_topics(bootstrap: str, beamline: str, partitions: int = 3,
                    **create: object) -> tuple[str, str]:
    """Create the input, annotation and dead-letter topics; return (input, annotations)."""
    from edgestream.doors.kafka.admin import create_topics

    topics = [f"{beamline}.bluesky.runengine.documents", f"{beamline}.xas.annotations",
              f"{beamline}.xas.deadletter"]
    create_topics(bootstrap, topics, partitions=partitions, **create)
    return topics[0], topics[1]


def publish_runs(bootstrap: str, topic: str, runs: list[list], pause_s: float = 0.0,
                 interleave: list[list[bytes]] | None = None, rng=None) -> None:
    """Publish runs (keyed by start uid), optionally slipping bad items in between.

    A bad item is a list of raw messages (one garbage message, or a whole bad run) sent in
    order under one key of its own: like a run, it lands on one partition in order, so what
    the service answers does not depend on how it happens to interleave partitions."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    bad = list(interleave or [])

    def send_bad(item: list[bytes]) -> None:
        key = uuid.uuid4().hex.encode()
        for raw in item:
            producer.send(topic, key=key, value=raw)

    for docs in runs:
        uid = docs[0][1]["uid"].encode()
        for name, doc in docs:
            producer.send(topic, key=uid, value=encode(name, doc))
            if bad and rng is not None and rng.random() < 0.2:
                send_bad(bad.pop(0))
        if pause_s:
            time.sleep(pause_s)
    for item in bad:
        send_bad(item)
    producer.flush()
    producer.close()


def session_publish(bootstrap: str, topic: str, runs: list[list], pause_s: float = 0.0,
                    garbage: list[bytes] = ()) -> None:
    """nslsii's session publisher: one key for every document of the session; ``garbage``
    messages slip in after every fifth run (the rest at the end)."""
    key = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    bad = list(garbage)
    for i, docs in enumerate(runs):
        for name, doc in docs:
            producer.send(topic, key=key, value=encode(name, doc))
        if bad and i % 5 == 2:
            producer.send(topic, key=key, value=bad.pop())
        if pause_s:
            time.sleep(pause_s)
    for value in bad:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def write_config(path: Path, bootstrap: str, beamline: str, delivery: str,
                 replica: str = "r0", extra: dict | None = None) -> Path:
    """The service's settings for the beamline's topics (fast group timeouts, no derived
    documents), ``extra`` merged in per section; written to ``path``."""
    cfg = {
        "beamline": beamline,
        "kafka": {
            "bootstrap_servers": bootstrap,
            "topics": [f"{beamline}.bluesky.runengine.documents"],
            "group_id": f"{beamline}-svc",
            "delivery": delivery,
            "transactional_id": f"{beamline}-svc-{replica}",
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "publish_derived": False,
        },
        "run_timeout_s": 600,
    }
    for key, value in (extra or {}).items():
        cfg.setdefault(key, {}).update(value) if isinstance(value, dict) else cfg.update(
            {key: value})
    path.write_text(yaml.safe_dump(cfg))
    return path


def router_configs(tmp_path: Path, bootstrap: str, beamline: str, delivery: str,
                   replicas: int, partitions: int = 4) -> tuple[Path, list[Path]]:
    """Settings files of ``edgestream route`` (onto a ``partitions``-partition runs topic) and
    of the ``replicas`` services behind it."""
    router = write_config(tmp_path / "router.yml", bootstrap, beamline, delivery, "router",
                          {"router": {"partitions": partitions}})
    # the runs topic does not exist until the router made it: subscribe by pattern, which
    # follows new topics (an explicit list can join the group before the topic exists)
    runs_pattern = rf"^{beamline}\.edgestream\.runs$"
    client = {"isolation_level": "read_committed"} if delivery == "exactly_once" else {}
    services = [write_config(tmp_path / f"svc{i}.yml", bootstrap, beamline, delivery, f"r{i}",
                             {"kafka": {"topics": [], "topic_pattern": runs_pattern,
                                        "client": client}})
                for i in range(replicas)]
    return router, services


class ServiceProcess(LoggedProcess):
    """``edgestream VERB`` (``serve`` unless told) in its own process, killable with SIGKILL
    and started again on the same log. At INFO it logs its partition assignments."""

    def __init__(self, config: Path, log: Path, kafka_yml: str = os.devnull,
                 verb: str = "serve", log_level: str = "WARNING") -> None:
        super().__init__([sys.executable, "-m", "edgestream.apps.cli", "--log-level",
                          log_level, verb, "--config", str(config), "--kafka-yml", kafka_yml],
                         log)
        self.config, self.kafka_yml, self.verb = config, kafka_yml, verb

    def assigned(self) -> list[str]:
        """The partitions of its last assignment (from its INFO log; [] before any)."""
        lines = [ln for ln in self.read_log().splitlines() if "partitions assigned" in ln]
        return [] if not lines else [p.strip(" '") for p in
                                     lines[-1].split("[", 1)[1].rstrip("]").split(",") if p]


def kill9_repeatedly(proc: LoggedProcess, times: int, rng: np.random.Generator,
                     every_s: tuple[float, float]) -> int:
    """kill -9 ``proc`` ``times`` times, each after a random pause within ``every_s``, and
    start it again at once (a supervisor's restart); returns the number of kills."""
    kills = 0
    while kills < times:
        time.sleep(rng.uniform(*every_s))
        proc.kill9()
        kills += 1
        proc.start()
    return kills


def start_service(folder: Path, bootstrap: str, beamline: str, delivery: str,
                  replica: str = "r0", log_level: str = "WARNING") -> ServiceProcess:
    """``edgestream serve`` on the beamline's topics, started: settings and log in ``folder``
    (``<replica>.yml``, ``<replica>.log``), its own transactional id (``replica``)."""
    config = write_config(folder / f"{replica}.yml", bootstrap, beamline, delivery, replica)
    return ServiceProcess(config, folder / f"{replica}.log", log_level=log_level).start()


def group_settled(members: list[ServiceProcess], partitions: int) -> bool:
    """True once every member holds partitions and, by their last assignments, together they
    hold each of ``partitions`` exactly once: the group's last rebalance is done (a member
    still showing an earlier generation's assignment makes a partition appear twice)."""
    held = [member.assigned() for member in members]
    flat = [p for ps in held for p in ps]
    return all(held) and len(flat) == len(set(flat)) == partitions


def read_topic(bootstrap: str, topic: str, done, timeout: float, raw: bool = False) -> list:
    """JSON messages of a topic (read_committed), compact annotations as their spectra's
    annotations, until ``done(messages)`` or the timeout; with ``raw`` the records
    themselves."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", isolation_level="read_committed")
    out: list = []

    def finished() -> bool:
        if done(out):
            return True
        for msgs in consumer.poll(500).values():
            # an annotation message may be a compact block: one record per spectrum
            out.extend(msgs if raw else (a for m in msgs for a in decode(m.value)))
        return done(out)

    try:
        wait_until(finished, timeout, f"end of {topic}", interval=0, strict=False)
    finally:
        consumer.close()
    return out


def read_complete(bootstrap: str, topic: str, expected: Expected, timeout: float
                  ) -> list[dict]:
    """Annotations of ``topic`` until every expected spectrum has one (or the timeout)."""
    return read_topic(bootstrap, topic, complete(expected), timeout)


def verdict(annotations: list[dict], expected: Expected) -> dict:
    """Counts for the assertions: lost spectra, raw duplicates, duplicates after de-dup."""
    raw = Counter(a["annotation_id"] for a in annotations if a["kind"] == "final")
    per_run: dict[str, set] = defaultdict(set)
    for a in annotations:
        if a["kind"] == "final":
            per_run[a["ids"]["run_uid"]].add(a["annotation_id"])
    lost = {uid: n - len(per_run.get(uid, ())) for uid, n in expected.spectra.items()
            if len(per_run.get(uid, ())) != n}
    return {
        "runs": len(expected.spectra),
        "spectra": sum(expected.spectra.values()),
        "lost": lost,
        "raw_duplicates": sum(c - 1 for c in raw.values()),
        "unique": len(raw),
    }


def complete(expected: Expected):
    def done(messages: list[dict]) -> bool:
        return len({a["annotation_id"] for a in messages}) >= sum(expected.spectra.values())
    return done
