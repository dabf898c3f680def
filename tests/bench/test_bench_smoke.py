"""Smoke test of the benchmark machinery (bench/) with a tiny workload.

The documents, the stage breakdown and the report run without a broker; the Kafka half
(raw passthrough, a service process, paced latency, RSS) runs on the embedded Tansu. The
real benchmark (``make bench``) is not part of the test suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from brokers import Broker

from bench.breakdown import breakdown
from bench.documents import KINDS, DataPool, Workload, make_runs, restamp
from bench.kafka_path import KafkaOptions, latency, throughput
from bench.models import bench_models
from bench.normalization import assembled
from bench.report import markdown
from bench.targets import targets

TINY = Workload.tiny()


@pytest.fixture(scope="module")
def pool() -> DataPool:
    return DataPool(TINY)


def test_documents_assemble_into_the_expected_spectra(pool: DataPool) -> None:
    runs = make_runs(TINY, pool)
    assert {r.kind for r in runs} == set(KINDS)
    assert any(name == "event_page" for r in runs for name, _ in r.docs)
    spectra = assembled(runs)
    assert len(spectra) == sum(TINY.spectra().values())
    for run in runs:  # the pacing weights add up to the run's spectra
        assert sum(run.weights()) == pytest.approx(run.spectra)


def test_restamp_sets_event_times(pool: DataPool) -> None:
    run = make_runs(TINY.only("fly"), pool)[1]
    name, page = next((n, d) for n, d in run.docs if n == "event_page")
    stamped = restamp(name, page, 123.0)
    assert stamped["time"] == [123.0] * len(page["seq_num"])
    assert page["time"] != stamped["time"]  # the original is left alone


def test_breakdown_and_report_without_a_broker(pool: DataPool) -> None:
    runs = make_runs(TINY, pool)
    models = bench_models("installed")
    bd = breakdown({k: [r for r in runs if r.kind == k] for k in KINDS}, models, lambda m: None)
    assert {k: v["spectra"] for k, v in bd.items()} == TINY.spectra()
    results = {"started": "now", "mode": "test", "elapsed_s": 1.0, "brokers": [],
               "breakdown": bd, "machine": {"cpu": "x", "cores": 1, "python": "3",
                                            "load_average_start": (0, 0, 0),
                                            "versions": {"numpy": "1", "onnxruntime": "1",
                                                         "kafka-python": "3", "crc32c": "2"},
                                            "pinning": "none"}}
    text = markdown(results)
    assert "Where the time goes" in text and "Targets" in text
    assert any("GPU" in t["target"] for t in targets(results))


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_kafka_measurements_on_tansu(tansu_broker: Broker, pool: DataPool,
                                     tmp_path: Path) -> None:
    opts = KafkaOptions(TINY, rates=(20.0,), rate_seconds=1.0, plugins="installed",
                        timeout_s=90.0)
    runs = make_runs(TINY.only("fly"), pool)
    measured, memory = throughput(tansu_broker, "fly", runs, "smoke", opts, tmp_path,
                                  lambda m: None)
    full = measured["full"]
    assert full["complete"] and full["dead_letters"] == {}
    assert full["annotations"] == TINY.spectra()["fly"]
    assert full["spectra_per_s"] > 0 and measured["raw_msgs_per_s"] > 0
    assert all(r["complete"] for r in measured["raw_runs"])
    assert memory["VmHWM"] > 0
    rates, memory = latency(tansu_broker, pool, "smoke", opts, tmp_path, lambda m: None)
    (r,) = rates
    assert r["complete"] and r["n"] == r["spectra"] and 0 < r["p50_ms"] <= r["p99_ms"]
    assert memory["VmHWM"] > 0
