"""Fixture loading, FEFF energy shift and extension, XAS and EELS measurement models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgestream_sim.spectra import (
    EELS_MODELS,
    FEFF9_ENERGY_SHIFT_EV,
    SCAN_RANGE_EV,
    EelsAxis,
    EelsSimulator,
    Segment,
    XasConditions,
    XasSimulator,
    feff10_eels_models,
    fixture_path,
    fly_energy_axis,
    layered_fractions,
    load_fixture,
)

GRID = np.arange(SCAN_RANGE_EV[0], SCAN_RANGE_EV[1] + 0.05, 0.1)


def half_step(energy: np.ndarray, mu: np.ndarray) -> float:
    """First energy where the normalized μ reaches 0.5 (eV)."""
    return float(energy[np.argmax(mu >= 0.5)])


@pytest.fixture(scope="module")
def library():
    return {ref.formula: ref for ref in load_fixture()}


def test_fixture_is_small_and_licensed():
    path = fixture_path()
    assert path.stat().st_size < 50_000
    assert (
        "BSD" in (path.parent / "LICENSE").read_text()
        or "Redistribution" in (path.parent / "LICENSE").read_text()
    )
    assert "make_fixture" in (path.parent / "README.md").read_text()


def test_fixture_contents(library):
    assert set(library) == {"Cu2O", "CuO", "Cu4O3", "CuSO4", "KCuO2", "La2CuO4", "NaCuO2", "LiCuO2"}
    assert library["Cu2O"].material_id == "mp-361"
    assert library["KCuO2"].valence == 3
    assert library["Cu4O3"].valence == 1 and library["Cu4O3"].cu_o_coordination == 2
    for ref in library.values():
        assert ref.energy_feff.shape == ref.mu.shape == (173,)
        assert np.all(np.diff(ref.energy_feff) > 0)
        assert ref.truth()["valence"] == ref.valence


def test_shift_puts_edges_near_cu_k(library):
    for ref in library.values():
        raw = half_step(ref.energy_feff, ref.mu)
        shifted = half_step(ref.energy(), ref.mu)
        assert shifted == pytest.approx(raw + FEFF9_ENERGY_SHIFT_EV, abs=1e-3)
        assert 8979.0 < shifted < 8990.0, ref.formula
    # Cu2O's 1s->4p shoulder lands where measured Cu2O shows it (8982-8983 eV)
    cu2o = library["Cu2O"]
    window = (cu2o.energy() > 8980) & (cu2o.energy() < 8984)  # a local maximum
    shoulder = cu2o.energy()[window][np.argmax(cu2o.mu[window])]
    assert shoulder == pytest.approx(8982.5, abs=0.5)


def test_extension_is_smooth_and_covers_scan_range(library):
    for ref in library.values():
        mu = ref.normalized_mu(GRID)
        assert np.all(np.isfinite(mu))
        assert mu[0] < 1e-3  # pre-edge tail decayed
        assert np.max(np.abs(np.diff(mu))) < 0.05  # no jumps at the joins (0.1 eV grid)
        post = mu[ref.energy()[-1] < GRID]
        assert np.ptp(post) < 1e-9 and 0.9 < post[0] < 1.1  # flat, oscillation free
        inside = (ref.energy()[0] < GRID) & (ref.energy()[-1] - 30 > GRID)
        np.testing.assert_allclose(
            mu[inside], np.interp(GRID[inside], ref.energy(), ref.mu), atol=1e-6
        )


def test_transmission_edge_step_and_offset(library):
    ref = library["CuO"]
    rng = np.random.default_rng(1)
    e = np.linspace(*SCAN_RANGE_EV, 601)
    t = np.arange(e.size, dtype=float)
    mus = {}
    for offset in (0.0, 2.5):
        cond = XasConditions(edge_step=1.3, energy_offset_ev=offset)
        counts = XasSimulator(ref, cond, rng).measure(e, t, 1.0)
        assert set(counts) == {"I0", "It", "If", "Ir"}
        assert all(c.shape == e.shape for c in counts.values())
        mus[offset] = np.log(counts["I0"] / counts["It"])
    mu = mus[0.0]
    pre = np.polyval(np.polyfit(e[e < 8940], mu[e < 8940], 1), 9080)
    assert mu[np.argmin(np.abs(e - 9080))] - pre == pytest.approx(1.3, rel=0.15)
    # an offset of +2.5 eV moves the edge up by 2.5 eV (half-height crossing)
    level = 0.5 * (mu[e < 8940].mean() + mu[(e > 9050) & (e < 9100)].mean())
    cross = {
        k: float(np.interp(level, v[(e > 8970) & (e < 9000)], e[(e > 8970) & (e < 9000)]))
        for k, v in mus.items()
    }
    assert cross[2.5] - cross[0.0] == pytest.approx(2.5, abs=0.6)


def test_i0_drifts_slowly():
    cond = XasConditions(drift_amplitude=0.03, drift_period_s=400.0)
    sim = XasSimulator(load_fixture()[0], cond, np.random.default_rng(2))
    e = np.full(400, 8900.0)
    i0 = sim.measure(e, np.arange(400.0), 1.0)["I0"]
    assert 0.04 < (i0.max() - i0.min()) / i0.mean() < 0.08


def test_fly_axis():
    up = fly_energy_axis(8779, 9379, 100, descending=False)
    down = fly_energy_axis(8779, 9379, 100, descending=True)
    assert np.all(np.diff(up) > 0) and np.all(np.diff(down) < 0)
    assert up[0] == 8779 and up[-1] == pytest.approx(9379)
    assert np.diff(up)[0] < np.diff(up)[50]  # denser at the ends


def edge_only(compound: str) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free EELS edge signal after a power-law fit to the pre-edge (eV, counts)."""
    sim = EelsSimulator(EelsAxis(), np.random.default_rng(0), edge_jump=0.4,
                        models=EELS_MODELS)
    loss = sim.axis.loss()
    counts = sim.expected({compound: 1.0})
    pre = (loss > 890) & (loss < 925)
    r, log_a = np.polyfit(np.log(loss[pre]), np.log(counts[pre]), 1)
    return loss, counts - np.exp(log_a) * loss**r


@pytest.mark.parametrize(("compound", "peak"), [("CuO", 931.0), ("Cu2O", 933.5)])
def test_eels_white_lines(compound, peak):
    loss, edge = edge_only(compound)
    window = (loss > 925) & (loss < 945)
    assert loss[window][np.argmax(edge[window])] == pytest.approx(peak, abs=0.3)


def test_eels_metal_is_step_only():
    loss, edge = edge_only("Cu")
    step = edge[(loss > 940) & (loss < 945)].mean()
    assert edge[(loss > 925) & (loss < 945)].max() < 1.2 * step
    assert EELS_MODELS["Cu"].white_line is None


def test_feff10_eels_models_are_the_fixture_l23_spectra():
    """The default microscope spectra: FEFF10 L3 + half an L3 19.9 eV up, broadened, one per
    compound, read once."""
    models = feff10_eels_models()
    assert feff10_eels_models() is models
    assert {c: m.valence for c, m in models.items()} == {"Cu": 0, "Cu2O": 1, "CuO": 2}
    loss = np.arange(915.0, 1000.0, 0.1)
    for m in models.values():
        y = m.shape(loss)
        assert y[loss < 925].max() < 0.1                                   # no edge yet
        at = lambda e: float(np.interp(e, loss, y))  # noqa: B023, E731
        assert 0.5 < at(945) < 1.3 and at(975) > at(945)                   # L2 adds a step
    sim = EelsSimulator(EelsAxis(), np.random.default_rng(0))
    assert sim.models is models


def test_eels_axis_noise_and_row():
    axis = EelsAxis(offset=880.0, dispersion=0.1, n_channels=1024)
    assert axis.loss()[0] == 880.0 and axis.loss()[-1] == pytest.approx(982.3)
    sim = EelsSimulator(axis, np.random.default_rng(3))
    spec = sim.spectrum("CuO")
    assert spec.dtype == np.uint32 and spec.shape == (1024,)
    segs = [Segment("Cu", 0, 3), Segment("CuO", 4, 9)]
    fractions = layered_fractions(segs, 10)
    np.testing.assert_allclose(sum(fractions.values()), 1.0)
    assert fractions["Cu"][0] > 0.99 and fractions["CuO"][9] > 0.99
    row = sim.row(fractions)
    assert row.shape == (10, 1024) and row.dtype == np.uint32
    # power-law background: counts fall ~E^-3 before the edge
    mean = sim.expected({"Cu": 1.0})
    assert mean[0] / mean[400] == pytest.approx((920.0 / 880.0) ** 3, rel=1e-3)


def test_fixture_builder_coordination():
    from edgestream_sim.make_fixture import cu_o_coordination

    poscar = "CuO2\n1.0\n3.8 0 0\n0 3.8 0\n0 0 3.8\nCu O\n1 1\ndirect\n0 0 0 Cu\n0.5 0 0 O\n"
    assert cu_o_coordination(poscar, 0) == 2  # O at +-1.9 A along x
    with pytest.raises(ValueError, match="not Cu"):
        cu_o_coordination(poscar, 1)


MEASURED = Path(__file__).parents[1] / "data" / "measured-cu-k"


@pytest.mark.skipif(not (MEASURED / "manifest.json").exists(), reason="no measured spectra")
def test_shift_matches_measured_spectra():
    from edgestream_sim.make_fixture import fit_shift

    fitted = fit_shift(MEASURED)
    assert len(fitted) == 5  # four Cu2O/CuO spectra and the mean
    assert fitted["mean"] == pytest.approx(FEFF9_ENERGY_SHIFT_EV, abs=0.3)
