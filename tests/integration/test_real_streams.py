"""Real beamline layouts through a real broker (Tansu): the fixture streams of
tests/data/streams/ published to Kafka come back as annotations (names and inferred
channels), a missing_channel dead letter with its settings snippet, and counted skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaProducer
from test_end_to_end import read_all, serving, settings_for

from edgestream.documents.wire import encode
from edgestream.doors.kafka.admin import create_topics
from edgestream.pipeline import Pipeline
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STREAMS = Path(__file__).parents[1] / "data" / "streams"
FILES = {
    "nsls2_bmm_cu_transmission.jsonl": "annotation",
    "nsls2_hxn_scaler_channels_zn_inferred.jsonl": "annotation",
    "energy_scan_unnamed_flat_counters.jsonl": "missing_channel",
    "count_at_fixed_energy.jsonl": "not_spectroscopy",
    "motor_tune_slit.jsonl": "not_spectroscopy",
}


def _skips(metrics) -> dict[str, float]:
    return {s.labels["reason"]: s.value for f in metrics.registry.collect() for s in f.samples
            if s.name == "edgestream_runs_skipped_total"}


def test_skips_and_missing_channels_show_on_the_dead_letter_topic_and_metric(
        tansu_broker, topic_prefix):
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    settings = settings_for(bootstrap, beamline)
    docs_topic = settings.kafka.topics[0]
    ann_topic, dead_topic = (t.format(beamline=beamline) for t in (
        settings.kafka.annotations_topic, settings.kafka.dead_letter_topic))
    create_topics(bootstrap, [docs_topic, ann_topic, dead_topic], partitions=2)
    pipeline = Pipeline(settings)
    with serving(settings, pipeline):
        runs: dict[str, str] = {}
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for name in FILES:
            lines = [json.loads(line) for line in (STREAMS / name).read_text().splitlines()]
            runs[lines[0][1]["uid"]] = FILES[name]
            for doc_name, doc in lines:  # one key per run, as bluesky-kafka publishes a run
                producer.send(docs_topic, key=lines[0][1]["uid"].encode(),
                              value=encode(doc_name, doc))
        producer.flush()
        producer.close()
        wanted = {u for u, k in runs.items() if k == "annotation"}
        annotations = [json.loads(m.value) for m in read_all(
            bootstrap, ann_topic,
            lambda msgs: wanted <= {json.loads(m.value)["ids"]["run_uid"] for m in msgs})]
        dead = [json.loads(m.value) for m in read_all(bootstrap, dead_topic,
                                                      lambda msgs: len(msgs) >= 1)]
        wait_until(lambda: _skips(pipeline.metrics).get("not_spectroscopy", 0) >= 2, 30,
                   "two not_spectroscopy skips", strict=False)
    by_run = {a["ids"]["run_uid"]: a for a in annotations}
    assert set(by_run) == wanted
    sources = sorted(a["channels_source"] for a in by_run.values())
    assert sources == ["inferred", "names"]
    # at-least-once: a publish the broker is slow to acknowledge is sent again after the
    # re-read, so a dead letter may come twice (consumers drop repeats); one per run here
    (letter,) = {(d["reason"], d["run_uid"]): d for d in dead}.values()
    assert letter["reason"] == "missing_channel" and runs[letter["run_uid"]] == "missing_channel"
    assert letter["context"]["candidates"] == ["sclr1_ch2", "sclr1_ch3"]
    assert letter["context"]["settings_snippet"].startswith(
        "channels:\n  xx: {energy: mono_energy, i0: sclr1_ch2, it: sclr1_ch3}")
    assert _skips(pipeline.metrics) == {"not_spectroscopy": 2.0}
