"""Prometheus metrics scraped over HTTP while a stream runs through a real broker."""

from __future__ import annotations

import re
import threading
import urllib.request

import pytest
from kafka import KafkaProducer

from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.doors.callback import AnnotatingCallback
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.clients import make_consumer
from edgestream.doors.kafka.service import AnnotationService
from edgestream.metrics import Metrics
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream_dev.procs import wait_until
from edgestream_dev.tansu import free_port
from edgestream_sim.beamline import run_beamline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text: str, metric: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pat = re.escape(metric) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)"
    m = re.search(pat, text)
    return float(m.group(1)) if m else 0.0


def test_metrics_of_a_running_stream(tansu_broker, topic_prefix) -> None:
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    docs = f"{beamline}.bluesky.runengine.documents"
    s = Settings(beamline=beamline)
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.topics = [docs]
    s.kafka.group_id = f"{beamline}-metrics"
    s.kafka.session_timeout_ms = 2 * FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    create_topics(bootstrap, [docs, f"{beamline}.xas.annotations", f"{beamline}.xas.deadletter",
                              f"{beamline}.xas.derived.documents"], partitions=2)
    metrics = Metrics()
    port = free_port()
    metrics.serve(port)
    service = AnnotationService(s, Pipeline(s, discover(), metrics))
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(docs, b"\x00 not msgpack")
    producer.send(docs, encode("resolution", {"uid": "x"}))
    producer.flush()
    run_beamline(bootstrap, beamline=beamline, n_step=1, n_fly=1, n_eels=1, seed=2)

    def settled() -> bool:
        text = scrape(port)
        return bool(sample(text, "edgestream_annotations_published_total", kind="final") >= 3
                    and sample(text, "edgestream_dead_letters_total",
                               reason="malformed_document"))

    # The assertions below say what was missing; here only wait for it (or 150 s).
    wait_until(settled, 150, "final annotations and a dead letter", interval=1, strict=False)
    stop.set()
    worker.join(timeout=20)

    # The service's own lag is its poll loop's business; here a second reader's, by partition.
    reader = make_consumer(s.kafka, group_id=f"{beamline}-lag", max_poll_records=3)
    reader.subscribe([docs])
    # Joining a fresh group takes seconds on a loaded machine: wait for the first records.
    got = wait_until(lambda: reader.poll(500), 90, "records for the lag reader", interval=0,
                     strict=False)
    assert got, "the lag reader got no records in 90 s"
    metrics.update_lag(reader)
    reader.close()
    cb = AnnotatingCallback(Pipeline(Settings(), [], metrics))
    cb("start", {"uid": "r", "time": 0.0})
    cb.close()

    text = scrape(port)
    assert sample(text, "edgestream_documents_consumed_total", name="start") >= 3
    assert sample(text, "edgestream_documents_consumed_total", name="event_page") > 0
    assert sample(text, "edgestream_spectra_processed_total", modality="xas_transmission",
                  element="Cu") >= 2
    assert sample(text, "edgestream_spectra_processed_total", modality="eels", element="Cu") > 0
    assert sample(text, "edgestream_errors_total", reason="malformed_document") == 1
    assert sample(text, "edgestream_dead_letters_total", reason="unknown_document_name") == 1
    assert sample(text, "edgestream_end_to_end_latency_seconds_count") >= 3
    assert sample(text, "edgestream_model_inference_seconds_count", model="edge_features") > 0
    assert sample(text, "edgestream_batch_size_spectra_count") > 0
    assert sample(text, "edgestream_offset_commits_total", outcome="ok") > 0
    lags = re.findall(r'edgestream_consumer_lag_messages\{partition="(\d)",topic="([^"]+)"\} '
                      r"(\S+)", text)
    assert {t for _, t, _ in lags} == {docs} and sum(float(v) for *_, v in lags) > 0
    assert 'edgestream_queue_depth_items{queue="callback"} 0.0' in text
    for line in text.splitlines():  # units in names, a prefix, and never a run uid as label
        if line and not line.startswith("#"):
            assert line.startswith("edgestream_") and not UUID.search(line), line
