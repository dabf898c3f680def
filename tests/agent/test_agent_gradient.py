"""The simulated gradient sample, measured by a real RunEngine and annotated by the real
pipeline; and the comparison command on a few samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bluesky import RunEngine

from edgestream.config.settings import Settings
from edgestream.doors.callback import AnnotatingCallback
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream_agent.compare import compare, measure_response, plot, run_command
from edgestream_agent.gradient import EndMembers, GradientSample, GradientStage, gradient_xas_scan
from edgestream_agent.observation import QuantitySpec
from edgestream_sim.devices import EnergyAxis, IonChambers, PhotonBeam

pytestmark = pytest.mark.timeout(240)


def test_end_members_are_the_measured_session() -> None:
    em = EndMembers.load()
    assert em.phases == ("Cu", "Cu2O", "CuO") and em.valences == (0, 1, 2)
    assert em.mu.shape == (3, em.energy.size)
    post = (em.energy > 9050) & (em.energy < 9100)
    assert np.allclose(em.mu[:, post].mean(axis=1), 1.0, atol=0.1)  # normalized
    assert np.allclose(em.mixture([0.5, 0.5, 0.0]), 0.5 * (em.mu[0] + em.mu[1]))


def test_fractions_and_valence_along_x() -> None:
    s = GradientSample((20.0, 40.0), (0.5, 1.0))
    f = s.fractions(np.array([0.0, 20.0, 30.0, 40.0, 60.0]))
    assert np.allclose(f.sum(axis=1), 1.0)
    assert f[0] == pytest.approx([1, 0, 0], abs=1e-6)
    assert f[1, :2] == pytest.approx([0.5, 0.5], abs=1e-6)
    assert f[4] == pytest.approx([0, 0, 1], abs=1e-6)
    v = s.valence(np.linspace(0, 60, 200))
    assert np.all(np.diff(v) >= -1e-12) and v[0] < 0.01 and v[-1] > 1.99
    with pytest.raises(ValueError):
        GradientSample((10.0,), (1.0,))


def test_random_samples_respect_the_phase_widths() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = GradientSample.random(rng)
        b = (0.0, *s.boundaries, s.length)
        assert min(np.diff(b)) >= 8.0
        assert all(0.1 <= w <= 1.5 for w in s.widths)


def test_a_runengine_scan_of_the_gradient_is_annotated() -> None:
    """Cu metal, Cu2O and CuO spots: the edge position moves as the end members say."""
    rng = np.random.default_rng(3)
    beam = PhotonBeam()
    stage = GradientStage(sample=GradientSample((20.0, 40.0), (0.2, 0.2)), rng=rng)
    ic, mono = IonChambers(stage=stage, beam=beam), EnergyAxis(beam=beam)
    cb = AnnotatingCallback(Pipeline(Settings(), discover()))
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(cb)
    starts = []
    RE.subscribe(lambda n, d: starts.append(d) if n == "start" else None)
    spec = QuantitySpec.only("edge_area")
    areas = []
    for x in (5.0, 30.0, 55.0):
        (uid,) = RE(gradient_xas_scan(ic, mono, stage, x, md={"agent_suggestion_uid": "u"}))
        (a,) = cb.wait_for(uid, timeout=60)
        assert a["element"] == "Cu" and a["edge"] == "K" and a["sample"] == "Cu gradient"
        areas.append(spec.extract(a).value)
    cb.close()
    assert starts[1]["sample_position"] == {"x": 30.0}
    assert starts[1]["agent_suggestion_uid"] == "u"
    assert starts[2]["sample_truth"]["fractions"]["CuO"] > 0.99
    cu, cu2o, cuo = areas
    assert cu2o < cu < cuo  # the Cu(I) 1s→4p shoulder pulls Cu2O's area below the metal's
    assert cuo - cu2o > 1.5


def test_comparison_on_a_few_samples_and_its_plot(tmp_path) -> None:
    r = measure_response(QuantitySpec(), n_fractions=21, repeats=6, seed=2)
    assert r.values.shape == (2, 21, 6) and r.source == "edge_area"
    assert np.isfinite(r.values).all() and 0 < r.noise() < 0.5
    steps = []
    c = compare(n_samples=3, response=r, seed=2, max_scans=41, kmeans_budget=30, eval_step=4,
                progress=lambda *step: steps.append(step))
    assert steps == [("samples", 1, 3), ("samples", 2, 3), ("samples", 3, 3)]
    assert c.precision >= 2 / 3
    assert max(c.ours_scans) < 41
    table = c.table()
    assert "uniform grid" in table and "k-means (bmm-agents)" in table and "ours" in table
    png = plot(c, tmp_path / "cmp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(json.dumps(c.as_dict(), default=float))["n_samples"] == 3


def test_compare_command_writes_json(tmp_path, capsys) -> None:
    class Args:
        samples, tolerance, seed, quantity = 2, 1.0, 4, "valence.value"
        plot, json, eval_step = "-", tmp_path / "c.json", 8

    run_command(Args())
    out, err = capsys.readouterr()
    assert "ours (boundary posterior)" in out
    # minutes of work show progress on stderr: response tables (4 sessions), then samples
    lines = [x for x in err.splitlines() if x.startswith("[compare-agents]")]
    assert len(lines) == 4 + 2 and "1/4" in lines[0] and "s left" in lines[0]
    assert "2/2" in lines[-1] and "left" not in lines[-1]
    assert json.loads((tmp_path / "c.json").read_text())["tolerance_mm"] == 1.0


def test_the_committed_end_members_are_rebuilt_from_the_measured_spectra(tmp_path) -> None:
    from pathlib import Path

    from edgestream_agent.make_fixture import build

    source = Path(__file__).parents[1] / "data" / "measured-cu-k"
    fresh = EndMembers.load(build(source, tmp_path))
    committed = EndMembers.load()
    assert fresh.phases == committed.phases
    assert np.array_equal(fresh.energy, committed.energy)
    assert np.allclose(fresh.mu, committed.mu, atol=1e-6)  # stored as float32
    assert (tmp_path / "LICENSE.xraylarch").exists()
