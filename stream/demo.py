"""``edgestream demo``: embedded broker, simulated beamline, the service, live annotations."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import Any

from edgestream.documents.wire import encode
from edgestream.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.kafka.clients import make_consumer, make_producer
from edgestream.kafka.embedded import EmbeddedTansu
from edgestream.kafka.service import annotation_line
from edgestream.service import build_service
from edgestream.settings import Settings

log = logging.getLogger(__name__)

BEAMLINE = "sim"
DOCUMENTS = f"{BEAMLINE}.bluesky.runengine.documents"


def _settings(bootstrap: str, metrics_port: int | None) -> Settings:
    s = Settings(beamline=BEAMLINE, metrics_port=metrics_port or None)
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.group_id = "edgestream-demo"
    s.kafka.session_timeout_ms = FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    # The demo ends its runs itself; a short timeout shows partial annotations if one hangs.
    s.run_timeout_s = 120.0
    return s


def _follow(settings: Settings, topic: str, stop: threading.Event, sink: list[Any],
            show: bool) -> None:
    consumer = make_consumer(settings.kafka, group_id=f"demo-{topic}",
                             auto_offset_reset="earliest", metadata_max_age_ms=1000)
    consumer.subscribe([topic])
    seen: set[str] = set()
    try:
        while not stop.is_set():
            for messages in consumer.poll(200).values():
                for msg in messages:
                    body = json.loads(msg.value)
                    key = body.get("annotation_id") or f"{msg.partition}/{msg.offset}"
                    if key in seen:
                        continue
                    seen.add(key)
                    sink.append(body)
                    if show:
                        print(annotation_line(body) if "annotation_id" in body
                              else f"  dead letter: {body['reason']}: {body['message']}",
                              flush=True)
    finally:
        consumer.close()


def _send_garbage(settings: Settings) -> None:
    """A few malformed documents, to show they are dead-lettered while the rest flows."""
    producer = make_producer(settings.kafka)
    producer.send(DOCUMENTS, b"\xc1 this is not msgpack")
    producer.send(DOCUMENTS, encode("event", {"descriptor": "never-declared", "seq_num": 1,
                                              "data": {}, "timestamps": {}, "time": 0.0,
                                              "uid": "orphan-event"}))
    producer.send(DOCUMENTS, encode("resolution", {"uid": "x"}))
    producer.flush()
    producer.close()


def run_demo(duration: float = 60.0, metrics_port: int | None = 9464, seed: int = 7,
             port: int | None = None) -> int:
    from edgestream.sim.beamline import run_beamline

    t_start = time.monotonic()
    # The annotations are the output here; keep library chatter out of the way.
    for name in ("bluesky", "ophyd", "edgestream.service"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("edgestream.kafka.service").setLevel(logging.ERROR)  # printed below
    print("edgestream demo: starting the embedded Tansu broker ...", flush=True)
    with EmbeddedTansu(port=port) as broker:
        bootstrap = broker.bootstrap_servers
        print(f"  broker on {bootstrap}, ready in {broker.started_in_s:.2f} s", flush=True)
        settings = _settings(bootstrap, metrics_port)
        topics = [DOCUMENTS] + [
            t.format(beamline=BEAMLINE)
            for t in (settings.kafka.annotations_topic, settings.kafka.dead_letter_topic,
                      settings.kafka.derived_topic)
        ]
        create_topics(bootstrap, topics, partitions=3)
        stop = threading.Event()
        annotations: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        service = build_service(settings)
        threads = [
            threading.Thread(target=service.run, args=(stop,), name="service", daemon=True),
            threading.Thread(target=_follow, name="annotations", daemon=True,
                             args=(settings, topics[1], stop, annotations, True)),
            threading.Thread(target=_follow, name="deadletters", daemon=True,
                             args=(settings, topics[2], stop, dead, True)),
        ]
        for t in threads:
            t.start()
        if settings.metrics_port:
            print(f"  Prometheus metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
        print("  simulated beamline: Cu K-edge step scans, fly scans, EELS spectrum images\n",
              flush=True)
        _send_garbage(settings)
        t_beam = time.monotonic()
        remaining = max(5.0, duration - (t_beam - t_start) - 5.0)
        try:
            summary = run_beamline(bootstrap, beamline=BEAMLINE, duration=remaining,
                                   seed=seed).as_dict()
        except KeyboardInterrupt:
            summary = {"interrupted": True}
        # Let the service drain what the beamline published last.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not _drained(service):
            time.sleep(0.5)
        time.sleep(1.0)
        elapsed = time.monotonic() - t_beam
        stop.set()
        for t in threads:
            t.join(timeout=10)
    by_modality = Counter(a["modality"] for a in annotations)
    print("\nsummary")
    print(f"  beamline runs: {summary.get('runs')}, documents published: "
          f"{summary.get('published', {}).get('acked')}")
    print(f"  annotations: {len(annotations)} ({dict(by_modality)}), "
          f"{len(annotations) / elapsed:.1f} spectra/s over {elapsed:.1f} s")
    print(f"  dead letters: {len(dead)} ({dict(Counter(d['reason'] for d in dead))})")
    return 0 if annotations else 1


def _drained(service: Any) -> bool:
    return not service.pipeline.router.runs
