"""Compact annotations: one msgpack block per EELS spectrum-image row, read back as the same
per-spectrum annotations the JSON form gives (ids, values, schema)."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
from harness import Expected, eels_run, fly_run, verdict

from edgestream.config.settings import AnnotationSettings, Settings
from edgestream.metrics import Metrics
from edgestream.pipeline import Outcome, Pipeline
from edgestream.plugin.api import discover
from edgestream.publish import compact
from edgestream.publish.annotation import count, decode, is_compact, records, to_json, validate
from edgestream.publish.policy import PublishPolicy

PLUGINS = ["edge_features", "cu_l_valence"]


def _annotate(docs: list, form: str = "auto", spectra: bool = False) -> list[dict]:
    settings = Settings(plugins=PLUGINS,
                        annotations=AnnotationSettings(form=form, compact_spectra=spectra))
    pipeline = Pipeline(settings, discover(PLUGINS))
    out: list[dict] = []
    for name, doc in docs:
        result = pipeline(name, doc)
        assert not result.failures, [f.error.message for f in result.failures]
        out += result.annotations
    return out


@pytest.fixture(scope="module")
def image() -> list:
    return eels_run(np.random.default_rng(3), rows=3, pixels=12)


@pytest.fixture(scope="module")
def both(image) -> tuple[list[dict], list[dict]]:
    return _annotate(image, "json"), _annotate(image, "auto")


def test_a_row_is_one_block_and_reads_back_as_the_json_annotations(both):
    as_json, blocks = both
    assert len(as_json) == 36 and len(blocks) == 3
    assert all(is_compact(b) and count(b) == 12 for b in blocks)
    by_id = {a["annotation_id"]: a for a in as_json}
    got = [r for b in blocks for r in records(b)]
    assert [r["annotation_id"] for r in got] == list(by_id)  # the same ids, in order
    for r in got:
        validate(r)
        a = by_id[r["annotation_id"]]
        for key in ("ids", "kind", "element", "edge", "modality", "e0", "edge_step",
                    "energy_calibration", "edge_features", "normalization", "channels",
                    "beamline", "sample", "software"):
            assert r[key] == a[key], key
        np.testing.assert_allclose(np.array(r["spectrum"]["norm"], float),
                                   np.array(a["spectrum"]["norm"], float), atol=1e-5)
        assert sorted(p["plugin"] for p in r["predictions"]) == sorted(PLUGINS)
        for p, q in zip(r["predictions"], a["predictions"], strict=True):
            assert p["outputs"].keys() == q["outputs"].keys()
            for k, v in q["outputs"].items():  # float32 on the wire, read at 7 digits
                assert p["outputs"][k] == (pytest.approx(v, rel=1e-6) if isinstance(
                    v, float) else v), (p["plugin"], k)


def test_the_message_is_small_and_the_spectra_are_optional(both):
    as_json, blocks = both
    json_bytes = sum(len(to_json(a)) for a in as_json)
    lean = sum(len(compact.pack(b)) for b in blocks)
    full = sum(len(compact.pack(b, spectra=True)) for b in blocks)
    assert lean * 8 < json_bytes and lean < full < json_bytes
    lean_records = [r for b in blocks for r in decode(compact.pack(b))]
    assert all(r["spectrum"]["norm"] is None for r in lean_records)
    for r in lean_records:
        validate(r)
    full_records = [r for b in blocks for r in decode(compact.pack(b, spectra=True))]
    assert full_records == [r for b in blocks for r in records(b)]


def test_auto_keeps_json_for_scans_and_compact_covers_every_kind():
    fly = fly_run(np.random.default_rng(1), sweeps=2)
    assert not any(is_compact(a) for a in _annotate(fly, "auto"))
    blocks = _annotate(fly, "compact")
    assert [count(b) for b in blocks] == [1, 1] and all(is_compact(b) for b in blocks)
    (a,) = records(blocks[0])
    validate(a)
    assert a["modality"] == "xas_transmission" and a["ids"]["seq_range"] == [1, 1]


def test_decode_reads_json_and_refuses_what_is_neither(both):
    as_json, _ = both
    assert decode(to_json(as_json[0])) == [as_json[0]]
    assert decode(b'{"reason": "x"}') == [{"reason": "x"}]  # a dead letter stays itself
    for bad in (b"", b"\x00\x01", msgpack.packb({"schema": "other"}), b"[1, 2", b"[1]",
                msgpack.packb({"schema": compact.FORMAT, "schema_version": "2.0"})):
        with pytest.raises(ValueError):
            decode(bad)


@pytest.mark.parametrize("values", [
    [1.5, None, 2.25], [True, False, True], [None, None], ["a", "b", "a", None],
    [{"x": 1.0, "y": "s"}, {"x": None, "y": "t"}], [[1.0, 2.0], [3.0, 4.0]], [3, 3, 3],
    [1, 2, 3], [[1.0], [2.0, 3.0]], [{"a": 1}, {"b": 2}], [1, True], [float("nan"), 2.0],
])
def test_columns_round_trip_through_msgpack(values):
    col = compact.column(values)
    back = compact.values(msgpack.unpackb(msgpack.packb(col)), len(values))
    expected = [None if isinstance(v, float) and v != v else v for v in values]
    assert back == expected
    assert [type(v) for v in back] == [type(v) for v in expected]


def test_float32_columns_read_at_their_precision():
    col = compact.column([0.123, 931.1234, -0.0042, None], "<f4")
    assert col["dtype"] == "<f4"
    assert compact.values(col, 4) == [0.123, 931.1234, -0.0042, None]


def test_blocks_over_the_size_limit_are_split_and_every_spectrum_counted_once(image):
    blocks = _annotate(image, "auto", spectra=True)
    sent: list = []
    settings = Settings(annotations=AnnotationSettings(compact_spectra=True))
    policy = PublishPolicy(settings, Metrics(), sent.append)
    policy.limit.bytes = len(compact.pack(blocks[0], spectra=True)) // 3
    batch = policy.publish(Outcome(annotations=blocks))
    sent = [m for m in sent if m.topic == "sim.xas.annotations"]  # not the derived documents
    assert len(sent) >= 9 and all(policy.limit.fits(len(m.value)) for m in sent)
    decoded = [a for m in sent for a in decode(m.value)]
    expected = Expected.of([image])
    v = verdict(decoded + decoded[:5], expected)  # a replayed part is a duplicate, no more
    assert v["lost"] == {} and v["unique"] == 36 and v["raw_duplicates"] == 5
    assert [a["annotation_id"] for a in batch.annotations] == \
        [a["annotation_id"] for a in decoded]
    assert all(a["timing"]["published_at"] > 0 for a in decoded)


def test_acked_counts_spectra_and_derived_documents_have_a_row_each(both):
    _, blocks = both
    metrics = Metrics()
    sent: list = []
    policy = PublishPolicy(Settings(), metrics, sent.append)
    batch = policy.publish(Outcome(annotations=[dict(b) for b in blocks]), ["x"])
    assert len(sent) == 3 + len([d for d in batch.derived]) and len(batch.annotations) == 36
    for m in sent:
        if m.annotation is not None:
            policy.acked(m.annotation)
    assert metrics.registry.get_sample_value("edgestream_annotations_published_total",
                                             {"kind": "final"}) == 36
    events = sum(len(d["seq_num"]) for _, n, d in batch.derived if n == "event_page")
    assert events == 36


def test_schema_file_describes_the_block(both):
    from importlib.resources import files

    import jsonschema

    _, blocks = both
    schema = json.loads(files("edgestream.publish").joinpath(
        "schemas", "annotation-compact-v1.json").read_text())
    for b in blocks:
        for spectra in (False, True):
            jsonschema.validate(msgpack.unpackb(compact.pack(b, spectra)), schema)


def test_consumers_take_spectra_read_without_their_norm(both):
    """The agent's quantities, the live page and the EELS map on spectra of blocks sent
    without spectra (``spectrum.norm`` null)."""
    from edgestream.apps.quantity import absolute_spectrum
    from edgestream.apps.web.state import LiveState
    from edgestream.publish.eelsmap import valence_map

    _, blocks = both
    lean = [a for b in blocks for a in decode(compact.pack(b))]
    assert np.isnan(absolute_spectrum(lean[0], np.linspace(930, 940, 5))).all()
    live = LiveState()
    for a in lean:
        live.on_annotation(a)
    assert live.count == 36 and live.latest["norm"] == []
    vmap = valence_map(blocks)  # blocks as the service holds them, read pixel by pixel
    assert vmap is not None and vmap.value.shape == (3, 12) and vmap.pixels == 36


def test_the_live_page_taps_the_raw_spectrum_of_every_pixel_of_a_block(image):
    from edgestream.apps.web.state import TappedPipeline

    raw: dict[str, int] = {}
    settings = Settings(plugins=PLUGINS)
    pipeline = TappedPipeline(settings, discover(PLUGINS),
                              on_raw=lambda aid, e, s: raw.__setitem__(aid, len(e)))
    blocks = [b for name, doc in image for b in pipeline(name, doc).annotations]
    assert all(is_compact(b) for b in blocks)
    assert set(raw) == {a["annotation_id"] for b in blocks for a in records(b)}


def test_records_of_a_block_share_no_mutable_value(both):
    _, blocks = both
    a, b = records(blocks[0])[:2]
    a["energy_calibration"]["shift_ev"] = 99.0
    a["spectrum"]["energy_range"][0] = -1.0
    a["timing"]["event_time"][0] = -1.0
    assert b["energy_calibration"]["shift_ev"] != 99.0
    assert b["spectrum"]["energy_range"][0] != -1.0 and b["timing"]["event_time"][0] != -1.0


def _events(docs: list) -> list[dict]:
    from event_model import unpack_event_page

    out = []
    for _, name, d in docs:
        for e in (unpack_event_page(d) if name == "event_page" else []):
            e = dict(e, data=dict(e["data"]))
            e.pop("time")  # when the document was composed, and by which descriptor
            e.pop("descriptor")
            out.append(e)
    return out


@pytest.mark.parametrize("spectra", [True, False])
def test_derived_events_of_a_block_are_those_of_its_spectra(both, spectra):
    """Derived documents straight from a block (no per-spectrum annotation built) equal
    the ones made from its records; sent without spectra, norm is NaN."""
    from edgestream.publish.derived import DerivedRuns

    _, blocks = both
    blocks = [msgpack.unpackb(compact.pack(b, spectra)) for b in blocks]
    for b in blocks:
        b["timing"]["published_at"] = 1.0e9
    from_blocks = DerivedRuns().on_annotations(blocks)
    from_records = DerivedRuns().on_annotations([r for b in blocks for r in records(b)])
    # one event page per run and batch, whichever the form
    assert [n for _, n, _ in from_blocks] == ["start", "descriptor", "event_page"]
    assert [n for _, n, _ in from_records] == ["start", "descriptor", "event_page"]
    mixed = DerivedRuns().on_annotations([blocks[0], *records(blocks[1]), blocks[2]])
    assert [n for _, n, _ in mixed] == ["start", "descriptor", "event_page"]
    assert _events(mixed)[12]["data"]["annotation_id"] == records(blocks[1])[0]["annotation_id"]
    for (_, _, x), (_, _, y) in zip(from_blocks[:2], from_records[:2], strict=True):
        # composed at another time, the descriptor with a uid of its own
        assert {k: v for k, v in x.items() if k not in ("time", "uid", "run_start")} == \
            {k: v for k, v in y.items() if k not in ("time", "uid", "run_start")}
    assert from_blocks[0][2]["uid"] == from_records[0][2]["uid"]
    ev_blocks, ev_records = _events(from_blocks), _events(from_records)
    assert len(ev_blocks) == 36 and [e["seq_num"] for e in ev_blocks] == list(range(1, 37))
    for x, y in zip(ev_blocks, ev_records, strict=True):
        nx, ny = x["data"].pop("norm"), y["data"].pop("norm")
        # float32 on the wire; records read it at 7 digits
        np.testing.assert_allclose(np.array(nx, float), np.array(ny, float), atol=1e-6)
        assert x == y
    assert np.isnan(np.array(nx, float)).all() != spectra
