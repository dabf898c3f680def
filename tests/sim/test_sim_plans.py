"""Each plan, run by a real RunEngine, emits schema-valid documents with the promised shape."""

from __future__ import annotations

from typing import Any

import event_model
import numpy as np
import pytest
from bluesky import RunEngine

from edgestream_sim.beamline import SimBeamline
from edgestream_sim.plans import eels_acquisition, fly_scan, step_energies_ev, xas_step_scan
from edgestream_sim.publisher import decode_document, encode_document

SHORT_EV = np.concatenate(
    [np.arange(8779, 8960, 30.0), np.arange(8960, 9010, 2.0), np.arange(9010, 9380, 40.0)]
)


@pytest.fixture(scope="module")
def bl() -> SimBeamline:
    return SimBeamline.build(seed=5, fly_points=200, si_pixels=8)


@pytest.fixture(scope="module")
def RE() -> RunEngine:
    return RunEngine({}, context_managers=[])


def run(RE: RunEngine, plan) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        RE(plan)
    finally:
        RE.unsubscribe(token)
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames(name)].validate(doc)
        # and as a consumer sees it after the wire format
        wire_name, wire_doc = decode_document(encode_document(name, doc))
        event_model.schema_validators[event_model.DocumentNames(wire_name)].validate(wire_doc)
    assert [n for n, _ in docs][:2] == ["start", "descriptor"] and docs[-1][0] == "stop"
    assert docs[-1][1]["exit_status"] == "success"
    return docs


def by_name(docs, name):
    return [d for n, d in docs if n == name]


def test_step_energies():
    e = step_energies_ev()
    assert 120 <= e.size <= 200
    assert np.all(np.diff(e) > 0)
    assert e[0] == 8779.0 and e[-1] == pytest.approx(9379.0, abs=6.0)
    assert np.diff(e[(e > 8960) & (e < 9020)]).max() <= 0.75 + 1e-9


def test_step_scan_ev(bl, RE):
    docs = run(
        RE, xas_step_scan(bl.ic, bl.dcm_energy, bl.xas_stage, "mp-361", beamline_id="bl-test")
    )
    (start,) = by_name(docs, "start")
    assert start["element"] == "Cu" and start["edge"] == "K"
    assert start["modality"] == "xas_transmission" and start["scan_type"] == "step"
    assert start["beamline_id"] == "bl-test" and start["energy_units"] == "eV"
    assert start["sample_truth"]["compound"] == "Cu2O" and start["sample_truth"]["valence"] == 1
    assert start["hints"]["dimensions"] == [(["dcm_energy"], "primary")]
    (desc,) = by_name(docs, "descriptor")
    keys = desc["data_keys"]
    assert {"dcm_energy", "dcm_energy_setpoint", "I0", "It", "If", "Ir"} == set(keys)
    assert keys["dcm_energy"]["units"] == "eV" and keys["I0"]["units"] == "counts"
    events = by_name(docs, "event")
    assert len(events) == start["num_points"] == step_energies_ev().size
    e = np.array([ev["data"]["dcm_energy"] for ev in events])
    mu = np.log([ev["data"]["I0"] / ev["data"]["It"] for ev in events])
    assert np.all(np.diff(e) > 0)
    # half-step of the normalized edge, moved by the run's offset
    pre = np.polyval(np.polyfit(e[e < 8940], mu[e < 8940], 1), e)
    norm = (mu - pre) / np.mean((mu - pre)[(e > 9040) & (e < 9100)])
    half = e[np.argmax(norm >= 0.5)]
    ref = bl.xas_stage.library["mp-361"]
    expected = ref.energy()[np.argmax(ref.mu >= 0.5)] + start["sample_truth"]["energy_offset_ev"]
    assert abs(half - expected) < 1.5


def test_step_scan_kev_descending_repeated_no_md(bl, RE):
    docs = run(
        RE,
        xas_step_scan(
            bl.ic,
            bl.dcm_energy_kev,
            bl.xas_stage,
            "mp-3982",
            energies_ev=SHORT_EV,
            descending=True,
            repeat_every=5,
            with_edge_md=False,
            sample_name="unknown-1",
        ),
    )
    (start,) = by_name(docs, "start")
    assert "element" not in start and "edge" not in start
    assert start["sample"] == "unknown-1" and start["energy_units"] == "keV"
    assert start["direction"] == "descending"
    (desc,) = by_name(docs, "descriptor")
    assert desc["data_keys"]["dcm_energy"]["units"] == "keV"
    e = np.array([ev["data"]["dcm_energy"] for ev in by_name(docs, "event")])
    assert e.min() > 8.7 and e.max() < 9.4
    assert np.all(np.diff(e) <= 0)
    assert len(e) == len(SHORT_EV) + len(range(0, len(SHORT_EV), 5))
    assert len(np.unique(e)) == len(SHORT_EV)


def test_fly_scan(bl, RE):
    docs = run(RE, fly_scan(bl.qexafs, bl.xas_stage, "mp-1692", n_sweeps=3))
    (start,) = by_name(docs, "start")
    assert start["scan_type"] == "fly" and start["num_points"] == 3
    assert start["hints"]["dimensions"] == [(["qexafs_energy"], "primary")]
    (desc,) = by_name(docs, "descriptor")
    for key in ("qexafs_energy", "qexafs_I0", "qexafs_It", "qexafs_If"):
        assert desc["data_keys"][key]["shape"] == [200]
        assert desc["data_keys"][key]["dtype"] == "array"
    assert desc["configuration"]["qexafs"]["data"]["qexafs_n_points"] == 200
    events = by_name(docs, "event")
    assert len(events) == 3
    assert all(ev["data"]["qexafs_energy"].shape == (200,) for ev in events)
    directions = [np.sign(np.diff(ev["data"]["qexafs_energy"])[0]) for ev in events]
    assert directions == [1, -1, 1]  # each run starts ascending, sweeps alternate


def test_layers_need_a_spectrum_image_detector(bl):
    with pytest.raises(ValueError, match="spectrum-image"):
        next(eels_acquisition(bl.eels, bl.eels_stage, "layers"))


def test_eels_single_spectra(bl, RE):
    docs = run(RE, eels_acquisition(bl.eels, bl.eels_stage, "Cu2O", n_events=2))
    (start,) = by_name(docs, "start")
    assert start["modality"] == "eels" and start["edge"] == "L2,3"
    assert start["scan_type"] == "eels_spectrum"
    assert start["sample_truth"]["compound"] == "Cu2O"
    (desc,) = by_name(docs, "descriptor")
    assert desc["data_keys"]["eels_spectrum"]["shape"] == [1024]
    conf = desc["configuration"]["eels"]
    assert conf["data"]["eels_offset"] == 880.0 and conf["data"]["eels_dispersion"] == 0.1
    assert conf["data"]["beam_energy"] == 200.0
    assert conf["data_keys"]["eels_dispersion"]["units"] == "eV/channel"
    assert len(by_name(docs, "event")) == 2


def test_eels_spectrum_image(bl, RE):
    docs = run(
        RE, eels_acquisition(bl.eels_si, bl.eels_stage, "layers", n_events=3, with_edge_md=False)
    )
    (start,) = by_name(docs, "start")
    assert start["scan_type"] == "eels_spectrum_image" and "element" not in start
    assert len(start["sample_truth"]["segments"]) == 3
    (desc,) = by_name(docs, "descriptor")
    assert desc["data_keys"]["eels_spectrum"]["shape"] == [8, 1024]
    rows = [ev["data"]["eels_row"] for ev in by_name(docs, "event")]
    assert rows == [0, 1, 2]


@pytest.mark.parametrize("scan", ["step", "fly"])
def test_the_stream_undoes_the_mono_offset_from_the_foil_channel(RE, scan):
    """Each simulated run draws a mono offset of up to ±3 eV and records a Cu foil in Ir;
    the pipeline's foil calibration takes it out to within 0.15 eV (0.75 eV steps through the
    edge in both scans; the foil's edge is found between them)."""
    from edgestream.config.settings import Settings
    from edgestream.pipeline import Pipeline

    beamline = SimBeamline.build(seed=11, fly_points=1200, si_pixels=8)
    pipeline = Pipeline(Settings())
    for material in ("mp-361", "mp-1692"):
        if scan == "step":
            plan = xas_step_scan(beamline.ic, beamline.dcm_energy, beamline.xas_stage, material)
        else:
            plan = fly_scan(beamline.qexafs, beamline.xas_stage, material, n_sweeps=2)
        docs = run(RE, plan)
        offset = by_name(docs, "start")[0]["sample_truth"]["energy_offset_ev"]
        annotations = [a for name, doc in docs for a in pipeline(name, doc).annotations]
        assert annotations
        for a in annotations:
            cal = a["energy_calibration"]
            assert cal["source"] == "reference", cal
            assert abs(cal["shift_ev"] + offset) <= 0.15, (cal, offset)


def test_every_plan_takes_the_same_run_options(RE, bl):
    """beamline_id and md (merged last) in every plan's start document; a misspelt option
    is an error, as a keyword argument of the plan would be."""
    plans = [
        xas_step_scan(bl.ic, bl.dcm_energy_kev, bl.xas_stage, "mp-3982", energies_ev=SHORT_EV,
                      beamline_id="bmm", md={"modality": "mine"}),
        fly_scan(bl.qexafs, bl.xas_stage, "mp-3982", n_sweeps=1, beamline_id="bmm",
                 md={"modality": "mine"}),
        eels_acquisition(bl.eels, bl.eels_stage, "Cu", n_events=1, beamline_id="bmm",
                         md={"modality": "mine"}),
    ]
    for plan in plans:
        (start,) = by_name(run(RE, plan), "start")
        assert start["beamline_id"] == "bmm" and start["modality"] == "mine"
        assert start["simulated"] is True and "element" in start
    with pytest.raises(TypeError, match="with_edge_mdd"):
        RE(fly_scan(bl.qexafs, bl.xas_stage, "mp-3982", n_sweeps=1, with_edge_mdd=False))
