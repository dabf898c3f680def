"""The simulated microscope's Mn L2,3 maps: the multiplet fixture, its model, the Mn
specimens, their energy-loss window, the schedule that alternates Cu and Mn, and the stream
reading a Mn run."""

from __future__ import annotations

import argparse
from typing import Any

import event_model
import numpy as np
import pytest
from bluesky import RunEngine

from edgestream.config.settings import Settings
from edgestream.physics import edge_energy, find_edge_onset, normalize_eels
from edgestream.pipeline import Pipeline
from edgestream.publish.annotation import records
from edgestream_sim import beamline as beamline_mod
from edgestream_sim import commands, eels_spectra
from edgestream_sim.beamline import SimBeamline, eels_elements_arg, run_beamline
from edgestream_sim.devices import EelsDetector, EelsSpecimenStage
from edgestream_sim.eels_spectra import (
    EELS_AXES,
    EelsAxis,
    EelsSimulator,
    L23Model,
    l23_models,
)
from edgestream_sim.plans import eels_acquisition

MN_L3, MN_L2 = edge_energy("Mn", "L3"), edge_energy("Mn", "L2")


def run(plan: Any) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    RunEngine({}, context_managers=[])(plan, lambda n, d: docs.append((n, d)))
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames(name)].validate(doc)
    return docs


def first(docs: list[tuple[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    return next(d for n, d in docs if n == name)


def test_the_mn_fixture_is_the_documented_format():
    with np.load(eels_spectra.l23_fixture_path("Mn")) as z:
        energy, mu = z["energy"], z["mu"]
        assert [str(c) for c in z["compound"]] == ["MnO", "Mn2O3", "MnO2"]
        assert [int(v) for v in z["valence"]] == [2, 3, 4]
        assert str(z["source"])
    assert mu.shape == (3, energy.size) and np.all(np.diff(energy) > 0)
    assert np.diff(energy) == pytest.approx(0.05, abs=1e-3)
    assert energy[0] < MN_L3 - 50 and energy[-1] > MN_L2 + 60
    for row in mu:  # step-normalized: 0 well below L3, 1.5 (L3 + L2 steps) well above L2
        assert abs(row[energy < MN_L3 - 30]).max() < 0.1
        assert float(np.interp(MN_L2 + 60, energy, row)) == pytest.approx(1.5, abs=0.15)


def test_one_model_class_for_cu_and_mn_read_once():
    models = l23_models("Mn")
    assert l23_models("Mn") is models
    assert l23_models("Mn", eels_spectra.l23_fixture_path("Mn")) is models  # one key per file
    assert {c: m.valence for c, m in models.items()} == {"MnO": 2, "Mn2O3": 3, "MnO2": 4}
    assert all(isinstance(m, L23Model) and m.element == "Mn" and m.edge_ev == MN_L3
               for m in models.values())
    assert {m.edge_ev for m in l23_models("Cu").values()} == {edge_energy("Cu", "L3")}
    loss = np.arange(600.0, 720.0, 0.1)
    for m in models.values():
        y = m.shape(loss)
        assert y[loss < MN_L3 - 15].max() < 0.05                      # no edge yet
        assert y.max() > 1.5                                          # an L3 white line
        past = float(np.interp(700.0, loss, y))                       # L3 + L2 steps, decaying
        assert past == pytest.approx(1.5 * (700.0 / MN_L3) ** -1.5, rel=0.15)


def test_the_mn_white_line_moves_up_with_valence():
    loss = np.arange(MN_L3 - 5, MN_L2 - 3, 0.05)  # the L3 white lines
    peaks = {c: float(loss[np.argmax(m.shape(loss))]) for c, m in l23_models("Mn").items()}
    assert peaks["MnO"] < peaks["Mn2O3"] < peaks["MnO2"], peaks
    assert peaks["MnO2"] - peaks["MnO"] > 1.0  # ~1.3 eV per valence step in the literature


def test_the_mn_window_covers_the_edge_and_cu_s_does_not():
    mn, cu = EELS_AXES["Mn"].loss(), EELS_AXES["Cu"].loss()
    # the stream's power-law window (50..5 eV below the onset) and step window (40..60 above)
    assert mn[0] <= MN_L3 - 45 and mn[-1] >= MN_L3 + 60 and mn[-1] > MN_L2 + 40
    assert cu[0] > MN_L2 and EELS_AXES["Cu"] == EelsAxis()


@pytest.mark.parametrize("compound", ["MnO", "Mn2O3", "MnO2"])
def test_mn_counts_are_sane_and_the_stream_finds_the_edge(compound):
    axis = EELS_AXES["Mn"]
    sim = EelsSimulator(axis, np.random.default_rng(1), edge_jump=0.4, element="Mn")
    assert sim.models is l23_models("Mn")
    counts = sim.spectrum(compound)
    loss = axis.loss()
    assert counts.dtype == np.uint32 and counts.shape == (axis.n_channels,)
    assert 1e4 < counts[0] < 1e5 and counts[loss < 630].min() > 0
    pre = (loss > 595) & (loss < 630)
    assert counts[pre][:50].mean() > counts[pre][-50:].mean()  # the background falls
    onset = find_edge_onset(loss, counts[None, :].astype(float), expected=MN_L3)
    assert float(onset[0]) == pytest.approx(MN_L3, abs=4.0)
    r = normalize_eels(loss, counts[None, :].astype(float), onset)
    step = float(r.step[0])
    # the L3 + L2 step over the background at the edge, decayed to the step window
    expected = 0.4 * 4.0e4 * (MN_L3 / axis.offset) ** -3 * 1.5 * (690 / MN_L3) ** -1.5
    assert step == pytest.approx(expected, rel=0.3)


def test_mn_specimens_truth_and_their_own_window():
    stage = EelsSpecimenStage(rng=np.random.default_rng(0))
    eels = EelsDetector(stage=stage, include_axis=True)
    stage.set("MnO2").wait(1)
    assert stage.element == "Mn"
    truth = stage.truth()
    assert truth["compound"] == "MnO2" and truth["valence"] == 4
    assert "multiplet" in truth["source"] and "mn_l23_multiplets.npz" in truth["source"]
    eels.trigger().wait(1)
    reading = eels.read()
    assert reading["eels_spectrum"]["value"].shape == (1300,)
    assert reading["eels_energy_loss"]["value"][0] == 590.0
    assert eels.read_configuration()["eels_offset"]["value"] == 590.0
    stage.set("mn_layers").wait(1)
    segs = stage.truth(20)["segments"]
    assert [(s["compound"], s["valence"]) for s in segs] == [("MnO", 2), ("Mn2O3", 3),
                                                            ("MnO2", 4)]
    assert stage.truth(20)["compound"] == "MnO|Mn2O3|MnO2"
    with pytest.raises(ValueError, match="spectrum-image"):
        eels.trigger()
    stage.set("Cu").wait(1)
    eels.trigger().wait(1)
    assert eels.read()["eels_spectrum"]["value"].shape == (1024,)  # back on the Cu window
    fixed = EelsDetector(stage=stage, axis=EelsAxis(offset=600.0, n_channels=64))
    stage.set("MnO").wait(1)
    fixed.trigger().wait(1)
    assert fixed.read()["eels_spectrum"]["value"].shape == (64,)  # a fixed axis stays


def test_a_mn_spectrum_image_run_names_mn_and_its_window():
    bl = SimBeamline.build(seed=4, si_pixels=8)
    docs = run(eels_acquisition(bl.eels_si, bl.eels_stage, "mn_layers", n_events=2))
    start, desc = first(docs, "start"), first(docs, "descriptor")
    assert (start["element"], start["edge"], start["modality"]) == ("Mn", "L2,3", "eels")
    assert start["sample"] == "MnO|Mn2O3|MnO2 lamella"
    assert [s["valence"] for s in start["sample_truth"]["segments"]] == [2, 3, 4]
    assert desc["data_keys"]["eels_spectrum"]["shape"] == [8, 1300]
    assert desc["configuration"]["eels"]["data"]["eels_offset"] == 590.0
    cu = run(eels_acquisition(bl.eels_si, bl.eels_stage, "layers", n_events=1))
    assert first(cu, "start")["element"] == "Cu"
    assert first(cu, "descriptor")["data_keys"]["eels_spectrum"]["shape"] == [8, 1024]
    assert first(cu, "descriptor")["configuration"]["eels"]["data"]["eels_offset"] == 880.0


def test_the_stream_reads_a_mn_run_as_mn_l23():
    """Element and edge from the start document, as for Cu: the plugins of Mn L2,3 apply."""
    bl = SimBeamline.build(seed=6, si_pixels=4)
    pipeline = Pipeline(Settings(plugins=["edge_features"]))
    anns = []
    for name, doc in run(eels_acquisition(bl.eels_si, bl.eels_stage, "mn_layers",
                                          n_events=1)):
        result = pipeline(name, doc)
        assert result.failures == []
        anns += result.annotations
    pixels = [r for a in anns for r in records(a)]  # a compact row block: per pixel
    assert len(pixels) == 4
    assert all(a["element"] == "Mn" and a["edge"] == "L2,3" for a in pixels)
    assert all(a["e0"] == pytest.approx(MN_L3, abs=4.0) for a in pixels)


def eels_starts(**kw: Any) -> list[dict[str, Any]]:
    starts: list[dict[str, Any]] = []
    run_beamline(None, n_step=0, n_fly=0, seed=2, si_pixels=4, si_rows=1,
                 on_document=lambda n, d: starts.append(d) if n == "start" else None, **kw)
    return starts


def test_the_schedule_alternates_cu_and_mn_maps():
    starts = eels_starts(n_eels=4)
    assert [(s["element"], s["scan_type"], s["sample"]) for s in starts] == [
        ("Cu", "eels_spectrum_image", "Cu|Cu2O|CuO lamella"),
        ("Mn", "eels_spectrum_image", "MnO|Mn2O3|MnO2 lamella"),
        ("Cu", "eels_spectrum", "Cu lamella"),
        ("Mn", "eels_spectrum", "MnO lamella")]
    cu_only = eels_starts(n_eels=3, eels_elements=("Cu",))
    assert [s["sample"] for s in cu_only] == ["Cu|Cu2O|CuO lamella", "Cu lamella",
                                              "Cu|Cu2O|CuO lamella"]


def test_mn_runs_leave_the_cu_runs_draws_alone():
    """Mn specimens draw from their own generator: a Cu run measures the same counts
    whether a Mn map came before it or not."""
    def cu_spectra(elements: tuple[str, ...], n: int) -> list[np.ndarray]:
        out: list[np.ndarray] = []

        def keep(name: str, doc: dict[str, Any]) -> None:
            if name == "event" and "eels_energy_loss" in doc["data"]:  # single spectra
                out.append(np.asarray(doc["data"]["eels_spectrum"]))

        run_beamline(None, n_step=0, n_fly=0, n_eels=n, seed=9, si_pixels=4, si_rows=1,
                     eels_elements=elements, on_document=keep)
        return out

    alone, after_mn = cu_spectra(("Cu",), 2), cu_spectra(("Cu", "Mn"), 3)
    assert len(alone) == 4 and all(np.array_equal(a, b)
                                   for a, b in zip(alone, after_mn, strict=True))


def test_choosing_the_eels_elements_on_the_command_line(monkeypatch, capsys):
    assert eels_elements_arg("Cu, Mn") == ("Cu", "Mn") and eels_elements_arg("Mn") == ("Mn",)
    for bad in ("", "Cu,Zr"):
        with pytest.raises(argparse.ArgumentTypeError, match="some of Cu, Mn"):
            eels_elements_arg(bad)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(beamline_mod, "run_beamline",
                        lambda *a, **kw: calls.append(kw) or beamline_mod.BeamlineSummary())
    beamline_mod.main(["--n-eels", "2", "--eels-elements", "Cu"])
    beamline_mod.main([])
    assert [c["eels_elements"] for c in calls] == [("Cu",), ("Cu", "Mn")]
    p = argparse.ArgumentParser()  # `edgestream simulate`
    commands._simulate_flags(p)
    assert p.parse_args([]).eels_elements == "Cu,Mn"
    assert commands._simulate(p.parse_args(["--eels-elements", "Mn"])) == 0
    assert calls[-1]["eels_elements"] == ("Mn",)
    assert commands._simulate(p.parse_args(["--eels-elements", "Fe"])) == 2  # configuration
    assert "--eels-elements" in capsys.readouterr().err
