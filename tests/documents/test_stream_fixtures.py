"""Every document stream in tests/data/streams/ ends, run by run, in annotations, a dead
letter with an actionable reason (never ``internal``) or a counted skip with its reason."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from edgestream.config.settings import Settings
from edgestream.pipeline import Pipeline

STREAMS = Path(__file__).parents[1] / "data" / "streams"
FILES = sorted(p for p in STREAMS.iterdir() if p.suffix in (".jsonl", ".json"))


def outcomes(path: Path) -> tuple[list[str], dict[str, dict[str, list]]]:
    """Start uids in order, and per run its annotations, failures and skips."""
    pipeline = Pipeline(Settings(run_timeout_s=0.0))
    starts: list[str] = []
    per_run: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))

    def collect(out) -> None:
        for a in out.annotations:
            per_run[a["ids"]["run_uid"]]["annotations"].append(a)
        for f in out.failures:
            per_run[f.run_uid or "?"]["failures"].append(f)
        for s in out.skips:
            per_run[s.run_uid]["skips"].append(s)

    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        name, doc = json.loads(line)
        if name == "start":
            starts.append(doc["uid"])
        collect(pipeline(name, doc))
    collect(pipeline.expire())  # runs without a stop close as partial
    return starts, per_run


def test_the_fixture_directory_is_not_empty():
    assert len(FILES) >= 9


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_run_is_annotated_dead_lettered_or_skipped(path):
    starts, per_run = outcomes(path)
    assert starts, f"{path.name} holds no start document"
    for f in (f for run in per_run.values() for f in run["failures"]):
        assert f.error.reason != "internal", (path.name, f.error.message)
        assert len(f.error.message) > 20, (path.name, f.error.as_dict())
    for uid in starts:
        run = per_run.get(uid, {})
        ended = run.get("annotations") or run.get("failures") or run.get("skips")
        assert ended, f"{path.name}: run {uid} ended in silence"
        for s in run.get("skips", []):
            assert s.reason in ("not_spectroscopy", "no_events") and s.detail


# What the fixtures built by build_stream_fixtures.py (layouts cited in README.md) produce
EXPECTED = {
    "nsls2_bmm_cu_transmission.jsonl": ("annotation", "names", {"i0": "I0", "it": "It",
                                                                 "ir": "Ir"}),
    "nsls2_bmm_fe_fluorescence_xspress3.jsonl": ("annotation", "names", {"i0": "I0", "if": [
        f"xs_channel{c}_rois_roi01_value" for c in (1, 2, 3, 4)]}),
    "nsls2_iss_ni_apb_step.jsonl": ("annotation", "names", {
        "i0": "apb_ave_ch1_mean", "it": "apb_ave_ch2_mean", "ir": "apb_ave_ch3_mean"}),
    "nsls2_hxn_scaler_channels_zn_inferred.jsonl": ("annotation", "inferred", {
        "i0": "sclr1_ch2", "it": "sclr1_ch3", "ir": "sclr1_ch4"}),
    "ophyd_scaler_labels_mn.jsonl": ("annotation", "names", {
        "i0": "scaler1_channels_chan02", "it": "scaler1_channels_chan03"}),
    "count_at_fixed_energy.jsonl": ("skip", "not_spectroscopy", None),
    "motor_tune_slit.jsonl": ("skip", "not_spectroscopy", None),
    "area_detector_count.jsonl": ("skip", "not_spectroscopy", None),
    "energy_scan_unnamed_flat_counters.jsonl": ("failure", "missing_channel", None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_facility_layouts_give_what_they_should(name):
    kind, what, keys = EXPECTED[name]
    (uid,), per_run = outcomes(STREAMS / name)
    run = per_run[uid]
    if kind == "annotation":
        (a,) = run["annotations"]
        assert not run["failures"] and a["channels_source"] == what
        assert {r: a["channels"][r] for r in keys} == keys
    elif kind == "skip":
        assert [s.reason for s in run["skips"]] == [what] and not run["annotations"]
    else:
        (f,) = run["failures"]
        assert f.error.reason == what
        assert f.error.context["candidates"] == ["sclr1_ch2", "sclr1_ch3"]
        assert "channels:\n  xx: {energy: mono_energy" in f.error.message
