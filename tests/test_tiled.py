"""Tiled round trip: a real Tiled server (``tiled serve catalog --temp --init``) started here,
raw runs written into it by bluesky's own TiledWriter, derived runs by edgestream beside them;
the derived run is found by ``original_run_uid``, its typed columns hold the annotation's
values, and the agent's reader gets quantity and position back."""

from __future__ import annotations

import math
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

tiled_client = pytest.importorskip("tiled.client")  # the `test` extra installs tiled[server]

from bluesky import RunEngine  # noqa: E402
from bluesky.preprocessors import SupplementalData  # noqa: E402

try:  # bluesky >= 1.16 moved it to bluesky-tiled-plugins (the `test` extra installs it)
    from bluesky_tiled_plugins import TiledWriter
except ImportError:
    from bluesky.callbacks.tiled_writer import TiledWriter
from tiled.queries import Key  # noqa: E402

from edgestream.config.settings import Settings, SettingsError, TiledSettings, load_settings  # noqa: E402
from edgestream.doors.callback import AnnotatingCallback  # noqa: E402
from edgestream.metrics import Metrics  # noqa: E402
from edgestream.pipeline import Pipeline  # noqa: E402
from edgestream.plugin.api import discover  # noqa: E402
from edgestream.publish.annotation import decode  # noqa: E402
from edgestream.publish.derived import DerivedRuns, derived_uid  # noqa: E402
from edgestream.publish.tiled import TiledSink, coalesce, open_sink, read_table  # noqa: E402
from edgestream_agent.gradient import GradientSample, GradientStage, gradient_xas_scan  # noqa: E402
from edgestream_agent.tiled_source import TiledSource  # noqa: E402
from edgestream_dev.procs import wait_until  # noqa: E402
from edgestream_sim.devices import EnergyAxis, IonChambers, PhotonBeam  # noqa: E402

# The server's imports alone take 4-5 s of CPU, and 45 s of wall time on a loaded 2-core VM
pytestmark = pytest.mark.timeout(480)
SERVER_START_S = 240
API_KEY = secrets.token_hex(16)  # tiled takes alphanumeric keys only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiled_server(tmp_path_factory):
    """A Tiled server in its own process, with a temporary SQLite catalog and DuckDB table
    storage, as ``tiled serve catalog --temp --init`` makes it; yields its base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("tiled") / "server.log"
    exe = Path(sys.executable).with_name("tiled")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "catalog", "--temp", "--init", "--api-key", API_KEY,
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        state = wait_until(
            lambda: "up" if healthy() else ("exited" if proc.poll() is not None else ""),
            SERVER_START_S, "tiled server", interval=0.2, strict=False)
        if state != "up":
            pytest.fail(f"tiled server did not start (exit code {proc.poll()}, "
                        f"{time.monotonic() - t0:.0f} s):\n{log.read_text()[-3000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def catalog(tiled_server, request):
    """A fresh container per test (the raw runs' container, as at a facility: bmm/raw)."""
    root = tiled_client.from_uri(tiled_server, api_key=API_KEY, cache=None)
    name = request.node.name.replace("[", "_").replace("]", "")[:60]
    root.create_container(name)
    return f"{tiled_server}/api/v1/metadata/{name}", root[name]


def _beamline(seed: int = 0):
    rng = np.random.default_rng(seed)
    beam = PhotonBeam()
    stage = GradientStage(sample=GradientSample((20.0, 40.0), (0.3, 0.3)), rng=rng)
    return IonChambers(stage=stage, beam=beam), EnergyAxis(beam=beam), stage


def test_the_feature_is_off_by_default_and_one_setting_turns_it_on():
    assert Settings().tiled.uri is None
    assert open_sink(Settings().tiled, Metrics()) is None
    s = load_settings(env={"EDGESTREAM_TILED__URI": "http://tiled:8000/api/v1/metadata/bmm",
                           "EDGESTREAM_TILED__API_KEY": "s3cret"}, facility_file=None)
    assert s.tiled.uri == "http://tiled:8000/api/v1/metadata/bmm"
    assert "s3cret" not in repr(s) and s.masked()["tiled"]["api_key"] == "***"


def test_a_missing_tiled_client_is_a_configuration_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tiled.client", None)  # as if not installed
    with pytest.raises(SettingsError, match=r"edgestream\[tiled\]"):
        open_sink(TiledSettings(uri="http://tiled:8000"), Metrics())


def test_simulated_runs_round_trip_through_tiled(catalog):
    """Three positions on the Cu -> Cu2O -> CuO gradient, annotated by the callback door with
    the Tiled writer on; the stage in the baseline stream, as at NSLS-II BMM."""
    uri, node = catalog
    ic, mono, stage = _beamline()
    settings = Settings(tiled=TiledSettings(uri=uri, api_key=API_KEY))
    metrics = Metrics()
    cb = AnnotatingCallback(Pipeline(settings, discover(), metrics))
    assert isinstance(cb.tiled, TiledSink)
    RE = RunEngine({}, context_managers=[])
    RE.preprocessors.append(SupplementalData(baseline=[stage]))
    RE.subscribe(TiledWriter(node))  # the facility writes its raw runs
    RE.subscribe(cb)
    uids = []
    for x in (5.0, 30.0, 55.0):
        uids += RE(gradient_xas_scan(ic, mono, stage, x))
    annotations = {u: cb.wait_for(u, timeout=120) for u in uids}
    cb.close(timeout=60)
    assert cb.tiled.failed == 0 and cb.tiled.dropped == 0

    for uid in uids:
        (a,) = annotations[uid]
        assert uid in node  # the raw run, written by bluesky's TiledWriter
        (derived,) = node.search(Key("start.original_run_uid") == uid).values()
        assert derived.item["id"] == derived_uid(uid)
        assert "BlueskyRun" in [s.name for s in derived.specs]
        df = read_table(derived["annotations"].base["internal"])
        assert len(df) == 1
        row = df.iloc[0]
        valence = next(p["outputs"] for p in a["predictions"] if p["plugin"] == "cu_k_valence")
        assert row["valence"] == pytest.approx(valence["value"])
        assert row["valence_uncertainty"] == pytest.approx(valence["uncertainty"])
        assert row["e0"] == pytest.approx(a["e0"]) and row["edge_step"] == a["edge_step"]
        assert row["element"] == "Cu" and row["edge"] == "K"
        assert row["annotation_id"] == a["annotation_id"]
        norm = np.array([np.nan if v is None else v for v in a["spectrum"]["norm"]])
        np.testing.assert_allclose(np.asarray(row["norm"], float), norm, equal_nan=True)
        keys = derived["annotations"].metadata["data_keys"]
        assert keys["e0"]["units"] == "eV" and keys["valence"]["dtype"] == "number"
        stop = derived.metadata["stop"]
        assert stop["exit_status"] == "success"
        summary = derived.metadata["summary"]
        assert summary["spectra"] == 1 and summary["element"] == ["Cu"]
        assert summary["valence_min"] == pytest.approx(valence["value"])

    # whole runs by their values: the oxidized end of the bar
    high = {r.metadata["start"]["original_run_uid"]
            for r in node.search(Key("summary.valence_max") > 1.5).values()}
    expected = {u for u, (a,) in annotations.items()
                if next(p["outputs"]["value"] for p in a["predictions"]
                        if p["plugin"] == "cu_k_valence") > 1.5}
    assert high == expected and expected  # CuO at 55 mm reads ~2

    # The agent's reader: the quantity and the position (from the raw run's baseline)
    source = TiledSource(node, position_keys=("sample_x",))
    obs = {o.run_uid: o for o in source.observations()}
    for uid, x in zip(uids, (5.0, 30.0, 55.0), strict=True):
        (a,) = annotations[uid]
        valence = next(p["outputs"] for p in a["predictions"] if p["plugin"] == "cu_k_valence")
        if valence.get("ood"):
            assert uid not in obs  # not a measurement to steer on, as on the Kafka path
            continue
        o = obs[uid]
        assert o.position == pytest.approx((x,))
        assert o.quantity.value == pytest.approx(valence["value"])
        assert o.quantity.sigma == pytest.approx(valence["uncertainty"])
        assert o.annotation_id == a["annotation_id"] and o.sample == "Cu gradient"
    # the start document's sample_position, and only the runs asked for
    start_pos = TiledSource(node).observations([uids[2]])
    assert [(o.run_uid, o.position) for o in start_pos] == [(uids[2], (55.0,))]


def test_a_replayed_run_is_not_written_twice(catalog):
    """After a rebalance or restart the same derived documents come again (same uids):
    the run's container is reused and rows already there are skipped."""
    uri, node = catalog
    annotation = _annotation("run-1", "a1", 1.2)
    first = DerivedRuns().on_annotations([annotation])
    again = DerivedRuns()
    replay = again.on_annotations([annotation, _annotation("run-1", "a2", 2.1)])
    replay += [("run-1", n, d) for n, d in again.on_run_end("run-1")]
    sink = TiledSink(TiledSettings(uri=uri, api_key=API_KEY), Metrics())
    sink.submit(first)
    assert sink.flush(60)
    sink.submit(replay)
    sink.close(60)
    assert sink.failed == 0
    derived = node[derived_uid("run-1")]
    df = read_table(derived["annotations"].base["internal"])
    assert list(df["annotation_id"]) == ["a1", "a2"]
    assert list(df["valence"]) == [1.2, 2.1] and list(df["seq_num"]) == [1, 1 + 1]
    assert derived.metadata["summary"]["valence_max"] == 2.1


def test_tiled_trouble_is_counted_never_raised(catalog, caplog):
    """A server that cannot be reached is retried (the service goes on); a write Tiled
    refuses is counted and logged with its run; documents of a run without a start too."""
    uri, node = catalog
    metrics = Metrics()
    port = _free_port()  # nothing listens there
    sink = TiledSink(TiledSettings(uri=f"http://127.0.0.1:{port}", api_key=API_KEY), metrics,
                     max_backoff_s=0.2)
    sink.submit(DerivedRuns().on_annotations([_annotation("run-x", "a1", 1.0)]))
    wait_until(lambda: (metrics.registry.get_sample_value(
        "edgestream_errors_total", {"reason": "tiled_unavailable"}) or 0) >= 2, 30,
        "second failed try", strict=False)
    assert metrics.registry.get_sample_value(
        "edgestream_errors_total", {"reason": "tiled_unavailable"}) >= 2
    assert sink.written == 0 and sink.failed == 0  # still held, in order, not dropped
    assert caplog.text.count("cannot reach") == 1  # one line per outage
    sink.close(timeout=2)
    assert sink.unwritten_at_close == 3 and "3 derived documents not written" in caplog.text

    metrics = Metrics()
    refused = TiledSink(TiledSettings(uri=uri, api_key="wrongkey0"), metrics)
    derived = DerivedRuns()
    refused.submit(derived.on_annotations([_annotation("run-y", "a1", 1.0)]))
    refused.submit([("run-y", n, d) for n, d in derived.on_run_end("run-y")])
    refused.close(timeout=60)
    assert refused.failed == 4 and refused.written == 0  # start, descriptor, page, stop
    assert metrics.registry.get_sample_value(
        "edgestream_errors_total", {"reason": "tiled_write_failed"}) == 4
    assert "run-y" in caplog.text and derived_uid("run-y") not in node


def test_queued_pages_of_a_run_go_in_one_write():
    """Pages of one run waiting together become one append; other runs' documents and each
    run's order (start, descriptor, pages, stop) are kept."""
    d = DerivedRuns()
    docs = d.on_annotations([_annotation("r1", "a1", 1.0)])
    docs += d.on_annotations([_annotation("r2", "b1", 2.0)])
    docs += d.on_annotations([_annotation("r1", "a2", 1.1), _annotation("r1", "a3", 1.2)])
    docs += [("r1", n, x) for n, x in d.on_run_end("r1")]
    docs += d.on_annotations([_annotation("r2", "b2", 2.1)])
    out = coalesce(docs)
    assert [(r, n) for r, n, _ in out] == [
        ("r1", "start"), ("r1", "descriptor"), ("r1", "event_page"),
        ("r2", "start"), ("r2", "descriptor"), ("r2", "event_page"), ("r1", "stop")]
    assert out[2][2]["data"]["annotation_id"] == ["a1", "a2", "a3"]
    assert out[2][2]["seq_num"] == [1, 2, 3]
    assert out[5][2]["data"]["annotation_id"] == ["b1", "b2"]


def _annotation(run_uid: str, annotation_id: str, valence: float) -> dict:
    return {
        "ids": {"run_uid": run_uid, "stream": "primary", "seq_range": [1, 5],
                "index_in_event": 0},
        "annotation_id": annotation_id, "kind": "final", "beamline": "bmm", "sample": "s",
        "element": "Cu", "edge": "K", "modality": "xas_transmission", "e0": 8981.0,
        "edge_step": 1.0, "energy_calibration": {"shift_ev": 0.0, "source": "none"},
        "software": {"name": "edgestream"},
        "spectrum": {"norm": [0.0, 0.5, 1.0],
                     "grid": {"start": -20.0, "stop": 80.0, "step": 0.5, "relative_to": "e0"}},
        "predictions": [{"plugin": "cu_k_valence", "version": "1", "model_sha256": None,
                         "provider": None,
                         "outputs": {"value": valence, "uncertainty": 0.05, "ood": False}}],
        "timing": {"published_at": 10.0, "event_time": [1.0, 2.0]},
    }



@pytest.mark.integration
def test_the_kafka_service_writes_derived_runs_beside_the_raw_runs(catalog, tansu_broker,
                                                                   topic_prefix):
    """The Kafka door with ``tiled.uri`` set: simulated step, fly and EELS spectrum-image
    runs published to Tansu (their raw runs written to the catalog by bluesky's TiledWriter,
    as at a facility) come back as derived runs in the same container, one row per
    annotation with the annotation's values."""
    import threading

    from kafka import KafkaConsumer

    from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
    from edgestream.doors.kafka.service import AnnotationService
    from edgestream_sim.beamline import run_beamline

    uri, node = catalog
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    s = Settings(beamline=beamline, tiled=TiledSettings(uri=uri, api_key=API_KEY),
                 plugins=["edge_features", "cu_k_valence", "cu_l_valence"])
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.topics = [f"{beamline}.bluesky.runengine.documents"]
    s.kafka.group_id = f"{beamline}-service"
    s.kafka.session_timeout_ms = 2 * FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    annotations_topic = s.kafka.annotations_topic.format(beamline=beamline)
    create_topics(bootstrap, [s.kafka.topics[0], annotations_topic,
                              s.kafka.dead_letter_topic.format(beamline=beamline),
                              s.kafka.derived_topic.format(beamline=beamline)], partitions=2)
    service = AnnotationService(s, Pipeline(s, discover()))
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()
    raw = TiledWriter(node)  # (it cannot write the EELS image rows' 2-D arrays; logged)
    try:
        summary = run_beamline(bootstrap, beamline=beamline, n_step=2, n_fly=1, n_eels=1,
                               seed=7, si_pixels=16, on_document=raw)
        uids = [r["uid"] for r in summary.run_uids]

        def all_closed() -> bool:  # every derived run closed (its stop written)
            done = [r for r in node.search(Key("start.plan_name") == "edgestream_annotation")
                    .values() if "stop" in r.metadata]
            return len(done) >= len(uids)

        wait_until(all_closed, 150, "closed derived runs", interval=1, strict=False)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert service.tiled is not None and service.tiled.failed == 0
    consumer = KafkaConsumer(annotations_topic, bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    # compact messages (the EELS spectrum image's rows) decoded per spectrum
    published = {a["annotation_id"]: a for m in consumer for a in decode(m.value)}
    consumer.close()

    rows = valenced = 0
    for uid in uids:
        assert uid in node  # the raw run, beside its derived run
        (derived,) = node.search(Key("start.original_run_uid") == uid).values()
        df = read_table(derived["annotations"].base["internal"])
        assert df["annotation_id"].is_unique
        for _, row in df.iterrows():
            a = published[row["annotation_id"]]
            assert a["ids"]["run_uid"] == uid
            assert row["e0"] == pytest.approx(a["e0"]) and row["element"] == a["element"]
            valence = next((p["outputs"] for p in a["predictions"]
                            if p["plugin"].endswith("_valence")), None)
            if valence is None or valence["value"] is None:
                assert math.isnan(row["valence"])
            else:
                assert row["valence"] == pytest.approx(valence["value"])
                assert row["valence_uncertainty"] == pytest.approx(valence["uncertainty"])
                valenced += 1
            rows += 1
        assert derived.metadata["summary"]["spectra"] == len(df)
    # every annotation on the topic has its row, every EELS pixel among them
    assert rows == len(published)
    assert sum(a["modality"] == "eels" for a in published.values()) == summary.eels_spectra
    assert valenced >= 2  # the Cu K step scans at least
