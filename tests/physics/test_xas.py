"""pre_edge/find_e0: documented defaults, input checks, synthetic edges, batching."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from edgestream.errors import BadSpectrum, TooFewPoints
from edgestream.physics import find_e0, pre_edge
from edgestream.physics import smooth as smooth_module
from edgestream.physics.xas import MAX_NNORM, MIN_POINTS, TINY_ENERGY, PreEdgeResult


def synthetic(energy, e0=8980.0, step=1.5, width=1.5, slope=-2e-4, offset=0.3, noise=0.0,
              seed=0):
    """A smooth edge: a sloped line plus an arctan step of known height at e0."""
    rng = np.random.default_rng(seed)
    mu = offset + slope * (energy - e0) + step * (0.5 + np.arctan((energy - e0) / width) / np.pi)
    return mu + rng.normal(0.0, noise, np.shape(energy))


GRID = np.arange(8800.0, 9600.0 + 1e-9, 2.0)


def test_signature_defaults_are_the_documented_ones():
    params = inspect.signature(pre_edge).parameters
    assert {k: p.default for k, p in params.items() if k not in ("energy", "mu")} == {
        "e0": None, "step": None, "pre1": None, "pre2": None, "norm1": None, "norm2": None,
        "nnorm": None, "npre": 1, "nvict": 0,
    }
    doc = " ".join(inspect.getdoc(pre_edge).split())
    for phrase in (
        "pre1: None: the 2nd energy point minus e0, rounded to a multiple of 5 eV (2 eV when"
        " the edge is within 20 points of the start); never below the first point",
        "pre2: None: pre1 / 2",
        "norm2: None: last energy minus e0, rounded to a multiple of 5 eV",
        "norm1: None: min(25, norm2 / 15 rounded to a multiple of 5 eV); at most norm2 - 2",
        "nnorm: post-edge polynomial degree, 0..5. None: 2 if norm2 - norm1 >= 300 eV,"
        " 1 if >= 30 eV, else 0",
        "npre: 1 (line)",
        "e0: eV, scalar or per spectrum. None, or a value outside [energy[1], energy[-2]]:",
    ):
        assert phrase in doc, phrase


def test_default_ranges_follow_the_documented_rules():
    r = pre_edge(GRID, synthetic(GRID))
    e0 = r.e0[0]
    assert e0 == pytest.approx(8980.0, abs=2.0)
    pre1 = 5 * round((GRID[1] - e0) / 5)
    assert r.pre1[0] == max(pre1, GRID[0] - e0)
    assert r.pre2[0] == r.pre1[0] / 2
    norm2 = 5 * round((GRID[-1] - e0) / 5)
    assert r.norm2[0] == min(norm2, GRID[-1] - e0)
    assert r.norm1[0] == min(25, 5 * round(r.norm2[0] / 15))
    assert r.nnorm[0] == 2  # norm2 - norm1 = 595 eV >= 300
    assert r.npre[0] == 1 and r.nvict[0] == 0


@pytest.mark.parametrize(("stop", "nnorm", "norm1"), [(200, 1, 25), (40, 0, 15)])
def test_nnorm_and_norm1_shrink_with_the_post_edge_range(stop, nnorm, norm1):
    energy = GRID[: np.searchsorted(GRID, 8980 + stop, side="right")]
    r = pre_edge(energy, synthetic(energy))
    assert r.norm2[0] == min(5 * round((energy[-1] - r.e0[0]) / 5), energy[-1] - r.e0[0])
    assert r.norm1[0] == norm1
    assert r.nnorm[0] == nnorm


def test_pre1_rounds_to_2_ev_when_the_edge_is_near_the_start():
    energy = np.arange(8950.0, 9300.0, 2.0)  # edge within 20 points of the start
    r = pre_edge(energy, synthetic(energy))
    ie0 = int(np.argmin(np.abs(energy - r.e0[0])))
    assert ie0 <= 20
    assert r.pre1[0] == max(2 * round((energy[1] - r.e0[0]) / 2), energy[0] - r.e0[0])


def test_short_pre_edge_range_falls_back_to_a_constant():
    r = pre_edge(GRID, synthetic(GRID), pre1=-20.0, pre2=-17.0)
    assert r.npre[0] == 0 and r.pre_edge_coefs[0, 1] == 0.0
    assert np.ptp(r.pre_edge[0]) == 0.0


def test_recovers_a_known_edge_step_and_e0():
    for step in (0.05, 1.0, 3.0):
        r = pre_edge(GRID, synthetic(GRID, step=step, noise=0.002 * step))
        assert r.e0[0] == pytest.approx(8980.0, abs=2.0)  # on a 2 eV grid
        assert r.edge_step[0] == pytest.approx(step, rel=0.03)
        above = GRID > 9030
        assert np.abs(r.norm[0, above] - 1).max() < 0.05
        assert np.abs(r.norm[0, GRID < 8950]).max() < 0.05


def test_user_parameters_are_used_and_returned():
    r = pre_edge(GRID, synthetic(GRID), e0=8981.0, step=2.0, pre1=-150, pre2=-40, norm1=60,
                 norm2=500, nnorm=3)
    assert r.e0[0] == 8981.0 and r.edge_step[0] == 2.0
    assert (r.pre1[0], r.pre2[0], r.norm1[0], r.norm2[0], r.nnorm[0]) == (-150, -40, 60, 500, 3)
    assert r.norm_coefs.shape == (1, MAX_NNORM + 1) and np.all(r.norm_coefs[0, 4:] == 0)


def test_e0_outside_the_data_is_replaced_by_find_e0():
    mu = synthetic(GRID)
    assert pre_edge(GRID, mu, e0=100.0).e0[0] == find_e0(GRID, mu)[0]


def test_flat_equals_norm_below_e0_and_removes_post_edge_curvature():
    mu = synthetic(GRID) + 1e-6 * (GRID - 8980) ** 2 * (GRID > 8980)
    r = pre_edge(GRID, mu)
    ie0 = int(np.argmin(np.abs(GRID - r.e0[0])))
    np.testing.assert_array_equal(r.flat[0, :ie0], r.norm[0, :ie0])
    residue = (r.post_edge[0] - r.pre_edge[0]) / r.edge_step[0]
    np.testing.assert_allclose(r.flat[0, ie0:], r.norm[0, ie0:] - residue[ie0:] + residue[ie0])
    assert np.abs(r.flat[0, GRID > 9050] - 1).max() < np.abs(r.norm[0, GRID > 9050] - 1).max()


def test_result_is_frozen_and_keeps_the_batch_axis():
    r = pre_edge(GRID, synthetic(GRID))
    assert isinstance(r, PreEdgeResult)
    assert r.e0.shape == (1,) and r.norm.shape == (1, len(GRID))
    assert r.pre_edge_coefs.shape == (1, 2)
    with pytest.raises(AttributeError):
        r.e0 = None  # type: ignore[misc]


def test_batch_equals_single_calls_on_a_shared_grid():
    e0s = [8975.0, 8980.0, 8991.0, 9010.0]
    mu = np.stack([synthetic(GRID, e0=e, step=s, noise=0.003, seed=i)
                   for i, (e, s) in enumerate(zip(e0s, [0.5, 1, 2, 3], strict=True))])
    batch = pre_edge(GRID, mu)
    for i in range(len(e0s)):
        single = pre_edge(GRID, mu[i])
        assert batch.e0[i] == single.e0[0]
        np.testing.assert_allclose(batch.norm[i], single.norm[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(batch.flat[i], single.flat[0], rtol=1e-10, atol=1e-12)


def test_chunked_smoothing_gives_the_same_e0(monkeypatch):
    mu = np.stack([synthetic(GRID, e0=8970 + 7 * i, noise=0.01, seed=i) for i in range(6)])
    expected = find_e0(GRID, mu)
    monkeypatch.setattr(smooth_module, "_FFT_BUDGET", 1000)
    np.testing.assert_array_equal(find_e0(GRID, mu), expected)


def test_an_early_glitch_is_not_taken_for_the_edge():
    mu = synthetic(GRID)
    mu[5] += 5.0  # in the first 5% of points
    assert pre_edge(GRID, mu).e0[0] == pytest.approx(8980.0, abs=2.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_rejected(bad):
    mu = synthetic(GRID)
    mu[10] = bad
    with pytest.raises(BadSpectrum):
        pre_edge(GRID, mu)
    energy = GRID.copy()
    energy[10] = bad
    with pytest.raises(BadSpectrum):
        pre_edge(energy, synthetic(GRID))


def test_decreasing_energy_is_rejected():
    energy = GRID.copy()
    energy[[10, 11]] = energy[[11, 10]]
    with pytest.raises(BadSpectrum, match="monotonic"):
        pre_edge(energy, synthetic(GRID))


def test_repeated_energies_are_nudged_like_larch():
    energy = GRID.copy()
    energy[100] = energy[99]  # one repeated reading, well above the edge
    r = pre_edge(energy, synthetic(GRID))
    assert np.all(np.isfinite(r.norm))
    assert r.e0[0] == pytest.approx(8980.0, abs=2.0)
    assert TINY_ENERGY == 0.0005


def test_too_few_points_and_shape_mismatch():
    energy = GRID[60:60 + MIN_POINTS - 1]
    with pytest.raises(TooFewPoints):
        pre_edge(energy, synthetic(energy))
    energy = GRID[60:60 + MIN_POINTS]
    assert np.isfinite(pre_edge(energy, synthetic(energy)).e0[0])
    with pytest.raises(BadSpectrum):
        pre_edge(GRID[:-1], synthetic(GRID))
    with pytest.raises(BadSpectrum):
        pre_edge(np.stack([GRID] * 3), np.stack([synthetic(GRID)] * 2))
