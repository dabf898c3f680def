"""Fe K samples of the simulated beamline: the FEFF10 fixture, the measurement model about the
Fe edge, the plans' metadata and ranges, the ``other_k`` runs, and what the service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine

from edgestream.physics import edge_energy
from edgestream.physics.calibration import reference_calibration
from edgestream.physics.xas import find_e0
from edgestream_sim.beamline import SimBeamline, run_beamline
from edgestream_sim.feff10_k import feff10_fixture_path, load_feff10_fixture, mix_sites
from edgestream_sim.plans import fluorescence_scan, fly_scan, xas_step_scan
from edgestream_sim.schedule import RunSchedule
from edgestream_sim.spectra import (
    FEFF9_ENERGY_SHIFT_EV,
    SCAN_RANGE_EV,
    XasConditions,
    XasSimulator,
    scan_range_ev,
)

FE_K = 7112.0


@pytest.fixture(scope="module")
def fe() -> dict[str, Any]:
    return {ref.formula: ref for ref in load_feff10_fixture("Fe")}


@pytest.fixture(scope="module")
def bl() -> SimBeamline:
    return SimBeamline.build(seed=5, fly_points=300, si_pixels=4)


def run(plan) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    RunEngine({}, context_managers=[])(plan, lambda n, d: docs.append((n, d)))
    return docs


def test_fixture_is_small_documented_and_labelled(fe):
    path = feff10_fixture_path("Fe")
    assert path.stat().st_size < 200_000
    readme = (path.parent / "README.md").read_text()
    assert "fe_k_feff10.npz" in readme and "make_fixture --feff10 Fe" in readme
    with np.load(path) as z:
        assert float(z["edge_energy_ev"]) == edge_energy("Fe", "K") == FE_K
        assert -20.0 < float(z["calibration_offset_ev"]) < 0.0
        assert str(z["calibration_key"]).startswith("fe_metal/base/")
        assert all("/base/" in k for k in z["key"])
    assert list(fe) == ["Fe2O3", "FeO", "Fe3O4", "Fe", "ZnFe2O4"]  # the beamline's order
    assert {f: fe[f].valence for f in fe} == pytest.approx(
        {"Fe2O3": 3, "FeO": 2, "Fe3O4": 8 / 3, "Fe": 0, "ZnFe2O4": 3})
    # magnetite: one tetrahedral Fe(III) per two octahedral Fe(2.5) sites
    assert fe["Fe3O4"].coordination == pytest.approx(16 / 3)
    assert fe["Fe3O4"].geometry == "tetrahedral 0.33, octahedral 0.67"
    assert fe["FeO"].geometry == "octahedral" and fe["Fe"].coordination == 8
    truth = fe["Fe3O4"].truth()
    assert truth["element"] == "Fe" and truth["valence"] == pytest.approx(2.667)
    assert "FEFF10" in truth["source"]


def test_calibration_puts_the_metal_on_the_tabulated_edge(fe):
    """The recorded offset is physics only: the simulated metal's e0 is Fe's K edge; the
    FEFF9 shift the Cu samples take does not move FEFF10 energies."""
    metal = fe["Fe"]
    # calib3d finds e0 on the metal's spectrum resampled on its own fine grid: on FEFF's
    # points the maximum derivative may land one point away (0.16 eV for Fe)
    assert find_e0(metal.energy(), metal.mu)[0] == pytest.approx(FE_K, abs=0.25)
    for ref in fe.values():
        np.testing.assert_array_equal(ref.energy(FEFF9_ENERGY_SHIFT_EV), ref.energy(0.0))
        e0 = find_e0(ref.energy(), ref.mu)[0]
        assert FE_K - 0.25 < e0 < FE_K + 12.0, ref.formula  # oxides above the metal


def test_sites_mix_by_weight_where_they_overlap():
    e1, e2 = np.arange(0.0, 10.0, 0.5), np.arange(1.0, 12.0, 0.5)
    grid, mu = mix_sites([e1, e2], [np.ones_like(e1), 4 * np.ones_like(e2)], np.array([1, 2]))
    assert grid[0] == 1.0 and grid[-1] == 9.5
    np.testing.assert_allclose(mu, 3.0)


def test_transmission_and_foil_about_the_fe_edge(fe):
    """It shows the Fe edge where the sample's is, Ir the Fe foil's at 7112 eV plus the
    run's offset: the service's foil calibration takes the offset out."""
    e = np.linspace(*scan_range_ev(FE_K), 1201)
    cond = XasConditions(edge_step=1.2, energy_offset_ev=1.5)
    counts = XasSimulator(fe["Fe2O3"], cond, np.random.default_rng(0)).measure(
        e, np.arange(e.size, dtype=float), 1.0)
    mu = np.log(counts["I0"] / counts["It"])
    pre = np.polyval(np.polyfit(e[e < 7080], mu[e < 7080], 1), 7200)
    assert mu[np.argmin(np.abs(e - 7200))] - pre == pytest.approx(1.2, rel=0.15)
    foil = reference_calibration(e, np.log(counts["It"] / counts["Ir"]), "Fe", "K")
    assert foil.measured_e0 == pytest.approx(FE_K + 1.5, abs=0.3)
    assert foil.shift_ev == pytest.approx(-1.5, abs=0.3)


def test_step_and_fly_scans_carry_the_element_and_its_range(bl):
    docs = run(xas_step_scan(bl.ic, bl.dcm_energy_kev, bl.xas_stage, "feo_rocksalt"))
    start = docs[0][1]
    assert (start["element"], start["edge"], start["composition"]) == ("Fe", "K", "FeO")
    assert start["sample_truth"]["valence"] == 2 and start["sample_truth"]["element"] == "Fe"
    kev = [d["data"]["dcm_energy"] for n, d in docs if n == "event"]
    assert min(kev) == pytest.approx(6.912) and max(kev) == pytest.approx(7.512, abs=0.006)

    def sweep_range(material: str) -> tuple[float, float]:
        docs = run(fly_scan(bl.qexafs, bl.xas_stage, material, n_sweeps=1))
        energy = next(d for n, d in docs if n == "event")["data"]["qexafs_energy"]
        assert docs[0][1]["element"] == bl.xas_stage.library[material].element
        return float(np.min(energy)), float(np.max(energy))

    assert sweep_range("fe3o4_spinel") == pytest.approx(scan_range_ev(FE_K))
    assert sweep_range("mp-1692") == pytest.approx(SCAN_RANGE_EV)  # back on Cu after Fe
    with pytest.raises(ValueError, match="Cu samples only"):
        run(fluorescence_scan(bl.fl_chambers, bl.fluor, bl.dcm_energy, bl.xas_stage, "fe_metal"))


def test_other_k_runs_cycle_fe_samples_and_scan_types():
    bl = SimBeamline.build(0)
    assert bl.other_materials[0] == "fe2o3_corundum" and "fe2o3_corundum" not in bl.materials
    schedule = RunSchedule(bl, "sim", {"step": 2, "fly": 1, "other_k": 3})
    kinds = []
    while (kind := schedule.next_kind()) is not None:
        schedule.plan(kind)
        kinds.append(kind)
    assert kinds == ["step", "other_k", "fly", "step", "other_k", "other_k"]  # second in turn
    schedule = RunSchedule(bl, "sim", {"other_k": 7})
    starts = []
    while schedule.next_kind():
        starts.append(run(schedule.plan("other_k"))[0][1])
    assert [s["scan_type"] for s in starts] == ["step", "fly", "step", "fly", "step", "step",
                                                "step"]
    assert [s["sample_truth"]["compound"] for s in starts] == [
        "Fe2O3", "FeO", "Fe3O4", "Fe", "ZnFe2O4", "Fe2O3", "FeO"]
    assert [s.get("element") for s in starts] == ["Fe", "Fe", "Fe", None, "Fe", None, "Fe"]


def test_fe_runs_take_no_draws_from_the_cu_runs():
    """Fe samples draw from their own generator: a Cu run after an Fe run gets the conditions
    it would have had without it, and the first step scan, before any Fe run, is the same to
    the last count. (Counts after an Fe run differ: the clock is later, I0 drifts, and the
    Poisson sampler takes a number of draws that depends on the rates.)"""
    def runs(**kw: Any) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        """(kind, sample truth, event data) per run, in order."""
        docs: list[tuple[str, dict[str, Any]]] = []
        summary = run_beamline(None, n_step=2, n_fly=1, n_eels=1, seed=3,
                               on_document=lambda n, d: docs.append((n, d)), **kw)
        desc = {d["uid"]: d["run_start"] for n, d in docs if n == "descriptor"}
        data: dict[str, list[dict[str, Any]]] = {}
        for n, d in docs:
            if n in ("event", "event_page"):
                data.setdefault(desc[d["descriptor"]], []).append(d["data"])
        return [(r["kind"], r["sample_truth"], data[r["uid"]]) for r in summary.run_uids]

    plain, mixed = runs(), runs(n_other_k=2)
    assert [r[0] for r in mixed] == ["step", "other_k", "fly", "eels", "step", "other_k"]
    cu = [r for r in mixed if r[0] != "other_k"]
    assert cu[1][1] == plain[1][1]  # the fly scan after the first Fe run: same conditions

    def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
        return len(a) == len(b) and all(np.array_equal(np.asarray(x[k]), np.asarray(y[k]))
                                        for x, y in zip(a, b, strict=True) for k in x)

    assert same(plain[0][2], cu[0][2])  # the first step scan, before any Fe run
    assert not same(plain[1][2], cu[1][2])  # a later clock: the comparison above can fail


def test_the_service_reads_fe_runs_as_fe_k():
    """Through the callback door: element and edge from the metadata (or, without it, from
    the energies), the Fe foil found at 7112 eV, e0 where the sample's edge is."""
    from edgestream.config.settings import Settings
    from edgestream.doors.callback import AnnotatingCallback
    from edgestream.metrics import Metrics
    from edgestream.pipeline import Pipeline

    annotations: list[dict[str, Any]] = []
    cb = AnnotatingCallback(Pipeline(Settings(), [], Metrics()),
                            on_annotation=annotations.append)
    bl = SimBeamline.build(2, fly_points=600)
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(cb)
    truth = {}
    schedule = RunSchedule(bl, "sim", {"other_k": 3})
    while schedule.next_kind():
        (uid,) = RE(schedule.plan("other_k"))
        truth[uid] = bl.xas_stage.truth()
        cb.wait_for(uid, timeout=60)
    cb.close()
    assert {a["ids"]["run_uid"] for a in annotations} == set(truth)
    for a in annotations:
        t = truth[a["ids"]["run_uid"]]
        assert (a["element"], a["edge"], a["modality"]) == ("Fe", "K", "xas_transmission")
        cal = a["energy_calibration"]
        assert cal["source"] == "reference" and cal["reference"]["element"] == "Fe"
        assert cal["shift_ev"] == pytest.approx(-t["energy_offset_ev"], abs=0.3)
        assert FE_K < a["e0"] < FE_K + 15.0, (a["e0"], t["compound"])


def test_rebuilding_the_fixture_gives_the_committed_one(tmp_path: Path):
    """``make_fixture --feff10 Fe`` from the FEFF10 cache (where it exists) reproduces it."""
    pytest.importorskip("edgestream_models")
    from edgestream_models import feff10

    if not (feff10.cache_root() / "Fe_K").is_dir():
        pytest.skip("no FEFF10 Fe K runs in this checkout's cache")
    from edgestream_sim.make_fixture import build_feff10

    try:
        path = build_feff10("Fe", tmp_path)
    except SystemExit as exc:  # runs of today's settings not (yet) there
        pytest.skip(str(exc))
    with np.load(path) as new, np.load(feff10_fixture_path("Fe")) as old:
        assert sorted(new.files) == sorted(old.files)
        for key in old.files:
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)
