"""The annotation table on real annotations: the pipeline on the simulated beamline's step,
fly and EELS spectrum-image runs, with every shipped plugin."""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from bluesky import RunEngine

from edgestream.apps.serve import build_pipeline
from edgestream.config.settings import Settings
from edgestream.publish.annotation import is_compact, records
from edgestream.publish.table import COLUMNS, ELLIPSIS, AnnotationTable, fit
from edgestream_sim.beamline import SimBeamline
from edgestream_sim.plans import eels_acquisition, fly_scan, xas_step_scan

PLUGINS = ["edge_features", "cu_k_valence", "cu_k_motif", "cu_k_screening", "cu_l_valence"]


@pytest.fixture(scope="module")
def messages() -> list[dict]:
    """What the pipeline returns: JSON annotations, and compact blocks for the EELS rows."""
    bl = SimBeamline.build(seed=5, fly_points=200, si_pixels=8)
    RE = RunEngine({}, context_managers=[])
    docs: list = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE(fly_scan(bl.qexafs, bl.xas_stage, "mp-1692", n_sweeps=2))
    RE(xas_step_scan(bl.ic, bl.dcm_energy, bl.xas_stage, "mp-361"))
    RE(eels_acquisition(bl.eels_si, bl.eels_stage, "layers", n_events=1))
    pipeline = build_pipeline(Settings(plugins=PLUGINS))
    out = []
    for name, doc in docs:
        out += pipeline(name, doc).annotations
    # EELS spectrum-image rows come as compact blocks: the table has a row per spectrum
    assert any(is_compact(m) for m in out)
    return out


@pytest.fixture(scope="module")
def annotations(messages) -> list[dict]:
    out = [r for m in messages for r in records(m)]
    assert {a["modality"] for a in out} >= {"eels"} and len(out) >= 10
    return out


def printed(annotations, **kw) -> list[str]:
    buf = io.StringIO()
    table = AnnotationTable(out=buf, **kw)
    for a in annotations:
        table(a)
    table.close()
    return buf.getvalue().splitlines()


def bars(line: str) -> list[int]:
    return [i for i, c in enumerate(line) if c in "|+"]


def test_columns_are_aligned_under_the_header(annotations):
    lines = printed(annotations)
    assert lines[0] == lines[2] == lines[-1] and set(lines[0]) == {"+", "-"}
    assert [t.strip() for t in lines[1].strip("|").split("|")] == [c.title for c in COLUMNS]
    assert len(lines) == len(annotations) + 4
    for line in lines:  # every separator at the same place on every line: nothing wraps
        assert bars(line) == bars(lines[0]), line
    # numbers right-aligned in their column: the decimal points line up
    e0 = [line.split("|")[5] for line in lines[3:-1]]
    assert len({cell.index(".") for cell in e0}) == 1, e0


def test_rows_say_what_the_annotation_says(annotations):
    by_run = {}
    for a, line in zip(annotations, printed(annotations)[3:-1], strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        row = dict(zip([c.title for c in COLUMNS], cells, strict=True))
        by_run.setdefault(a["modality"], []).append((a, row))
        assert row["run"] == a["ids"]["run_uid"][:8]
        assert row["edge"] == f"{a['element']} {a['edge']}"
        assert float(row["e0 (eV)"]) == pytest.approx(a["e0"], abs=0.006)
        valence = next(p["outputs"] for p in a["predictions"]
                       if p["plugin"].endswith("valence"))
        value, sigma = map(float, row["valence"].split(" ± "))
        assert value == pytest.approx(valence["value"], abs=0.006)
        assert sigma == pytest.approx(valence["uncertainty"], abs=0.006)
    xas_row = by_run["xas_transmission"][0][1]
    assert re.fullmatch(r"[a-z_]+ 0\.\d\d|[a-z_]+…", xas_row["motif"]), xas_row
    assert re.fullmatch(r"Cu\w* mp-\d+", xas_row["top candidate"]), xas_row
    assert "foil" in xas_row["flags"]  # the simulated scans align on their foil
    eels = [row for _, row in by_run["eels"]]
    assert all(row["motif"] == "-" and "eels" in row["flags"] for row in eels)
    pixels = [row["event"] for row in eels]
    assert "1:7" in pixels  # spectrum-image pixels are told apart


def test_long_values_are_cut_not_wrapped(annotations):
    a = copy.deepcopy(next(a for a in annotations if a["modality"] != "eels"))
    for p in a["predictions"]:
        if p["plugin"] == "cu_k_motif":
            p["outputs"]["value"] = "distorted_square_pyramidal_with_a_long\nname"
        if p["plugin"] == "cu_k_screening":
            p["outputs"]["candidates"][0]["formula"] = "Cu12Fe3Al7O42(H2O)14"
        p.setdefault("outputs", {})["ood"] = True
    a["kind"] = "partial"
    a["energy_calibration"]["reference_rejected"] = "empty holder"
    lines = printed([a])
    assert len(lines) == 5 and bars(lines[3]) == bars(lines[0])
    row = dict(zip([c.title for c in COLUMNS],
                   [c.strip() for c in lines[3].strip("|").split("|")], strict=True))
    assert row["motif"].startswith("distorted_square") and row["motif"].endswith(ELLIPSIS)
    assert row["top candidate"].startswith("Cu12Fe3Al7O42") and ELLIPSIS in row["top candidate"]
    assert row["flags"].startswith("partial,foil") and row["flags"].endswith(ELLIPSIS)


def test_an_annotation_of_another_shape_still_gets_its_row(annotations):
    a = copy.deepcopy(annotations[0])
    a["predictions"] = [{"plugin": "cu_k_valence", "outputs": {"value": "high"}}]
    del a["e0"]
    lines = printed([a])
    assert bars(lines[3]) == bars(lines[0])
    assert "| -" in lines[3]


def test_json_prints_one_annotation_per_line(annotations):
    lines = printed(annotations[:3], as_json=True)
    assert [json.loads(line)["annotation_id"] for line in lines] == \
        [a["annotation_id"] for a in annotations[:3]]


def test_header_repeats_and_a_file_column(annotations):
    lines = printed(annotations, header_every=4, source_width=10)
    headers = [i for i, line in enumerate(lines) if line.startswith("| file")]
    assert headers[:3] == [1, 8, 15]
    buf = io.StringIO()
    table = AnnotationTable(out=buf, source_width=10)
    table(annotations[0], source="a_very_long_file_name.xdi")
    assert f"| a_very_lo{ELLIPSIS} |" in buf.getvalue()


def test_fit():
    assert fit("abc", 5) == "abc  " and fit("abc", 5, right=True) == "  abc"
    assert fit("abcdef", 4) == f"abc{ELLIPSIS}" and fit("a\nb", 3) == "a b"


def test_annotate_prints_the_table(capsys):
    from pathlib import Path

    from edgestream.apps.cli import main

    data = Path(__file__).parent / "data" / "experimental"
    files = [str(data / "Zn_foil.xdi"), str(data / "as2o5_roomt_scan1.xdi")]
    assert main(["annotate", *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("| file ") and len(lines) == 6
    assert all(bars(line) == bars(lines[0]) for line in lines)
    assert "Zn K" in lines[3] and "As K" in lines[4]


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_watch_prints_the_table_from_a_topic(annotations, messages, tansu_broker, topic_prefix,
                                             capsys):
    """``edgestream watch`` on Tansu: the annotations of a topic as table rows, a repeated
    one once, something that is not an annotation shown and passed over, a compact block
    (and its replay) as a row per spectrum, once."""
    import threading

    from kafka import KafkaProducer

    from edgestream.apps.watch import watch
    from edgestream.doors.kafka.admin import create_topics
    from edgestream.publish import compact

    bootstrap = tansu_broker.bootstrap_servers
    topic = f"{topic_prefix}.xas.annotations"
    create_topics(bootstrap, [topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for a in [*annotations[:4], annotations[0]]:
        producer.send(topic, json.dumps(a).encode())
    producer.send(topic, b"not json")
    block = next(m for m in messages if is_compact(m))
    producer.send(topic, compact.pack(block))
    producer.send(topic, compact.pack(block))
    producer.flush()
    producer.close()
    settings = Settings()
    settings.kafka.bootstrap_servers = bootstrap
    stop = threading.Event()
    timer = threading.Timer(12, stop.set)
    timer.start()
    try:
        shown = watch(settings, topic, stop, from_beginning=True)
    finally:
        timer.cancel()
    lines = capsys.readouterr().out.splitlines()
    new = [a for a in records(block) if a["annotation_id"] not in
           {b["annotation_id"] for b in annotations[:4]}]  # its first pixel may be among them
    assert new and shown == 4 + len(new)
    rows = [line for line in lines if line.startswith("| ") and "time" not in line]
    assert [r.split("|")[2].strip() for r in rows[:4]] == \
        [a["ids"]["run_uid"][:8] for a in annotations[:4]]
    assert "skipped offset 5: not an annotation: b'not json'" in rows[4]
    assert len(rows) == 5 + len(new)
    assert all(block["ids"]["run_uid"][:8] in r for r in rows[5:])
    assert all(len(line) == len(lines[0]) for line in lines)
    assert all(bars(line) == bars(lines[0]) for line in lines if line not in rows[4:])


def test_the_motif_column_shows_a_k_edge_coordination():
    """The k_edge family's coordination plugins say cn and geometry, not value."""
    a = {"ids": {"run_uid": "r", "seq_range": [1, 1]}, "element": "Fe", "edge": "K",
         "predictions": [{"plugin": "fe_k_coordination",
                          "outputs": {"cn": "6", "geometry": "octahedral", "path": "shape"}}]}
    motif = next(c for c in COLUMNS if c.title == "motif")
    assert motif.value(a) == "6 octahedral"
