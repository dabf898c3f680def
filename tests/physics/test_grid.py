"""Batched grid helpers against numpy's one-row equivalents."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.errors import BadSpectrum
from edgestream.physics import relative_grid, resample
from edgestream.physics.grid import (
    as_batch,
    gradient_rows,
    index_nearest,
    index_of,
    interp_rows,
    polyfit_rows,
    smooth_lorentzian,
)

RNG = np.random.default_rng(42)


def ragged_rows(n_rows=5, width=60):
    n_valid = RNG.integers(5, width + 1, n_rows)
    x = np.sort(RNG.uniform(0, 100, (n_rows, width)), axis=1)
    y = RNG.normal(size=(n_rows, width))
    return x, y, n_valid


def test_relative_grid_includes_stop_and_follows_e0():
    grid = relative_grid(np.array([8979.0, 8990.0]), 0.0, 35.0, 0.25)
    assert grid.shape == (2, 141)
    np.testing.assert_allclose(grid[:, -1], [9014.0, 9025.0])
    assert relative_grid(100.0, -10, 10, 3).tolist() == [[90, 93, 96, 99, 102, 105, 108]]
    with pytest.raises(ValueError):
        relative_grid(0.0, 10, 0, 1)


def test_resample_matches_np_interp_and_marks_outside_nan():
    energy = np.sort(RNG.uniform(0, 50, (3, 40)), axis=1)
    y = RNG.normal(size=(3, 40))
    grid = np.linspace(-5, 55, 121)
    out = resample(energy, y, grid)
    clamped = resample(energy, y, grid, outside="clamp")
    for i in range(3):
        expected = np.interp(grid, energy[i], y[i])
        np.testing.assert_allclose(clamped[i], expected, rtol=1e-12, atol=1e-12)
        outside = (grid < energy[i, 0]) | (grid > energy[i, -1])
        assert np.all(np.isnan(out[i, outside]))
        np.testing.assert_allclose(out[i, ~outside], expected[~outside], rtol=1e-12, atol=1e-12)


def test_resample_onto_per_spectrum_grids():
    energy = np.linspace(8900, 9100, 201)
    y = np.stack([np.sin(energy / 7), np.cos(energy / 5)])
    grid = relative_grid(np.array([8979.0, 8990.5]), -10, 10, 0.5)
    out = resample(energy, y, grid)
    for i in range(2):
        np.testing.assert_allclose(out[i], np.interp(grid[i], energy, y[i]), atol=1e-12)


def test_resample_rejects_bad_input():
    with pytest.raises(BadSpectrum):
        resample([1.0, 1.0, 2.0], [1.0, 2.0, 3.0], [1.5])
    with pytest.raises(BadSpectrum):
        resample([1.0, 2.0, 3.0], [1.0, np.nan, 3.0], [1.5])
    with pytest.raises(ValueError):
        resample([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.5], outside="zero")  # type: ignore[arg-type]


def test_as_batch_broadcasts_a_shared_axis_without_copying():
    energy = np.arange(5.0)
    e, y = as_batch(energy, np.ones((3, 5)))
    assert e.shape == y.shape == (3, 5) and np.shares_memory(e, energy)
    e, y = as_batch(energy, np.ones(5))
    assert y.shape == (1, 5)


def test_interp_rows_uses_only_each_rows_valid_points():
    x, y, n_valid = ragged_rows()
    q = np.sort(RNG.uniform(-10, 110, (len(x), 30)), axis=1)
    out = interp_rows(q, x, y, n_valid)
    for i, n in enumerate(n_valid):
        np.testing.assert_allclose(out[i], np.interp(q[i], x[i, :n], y[i, :n]), atol=1e-12)


def test_index_helpers_match_larch_definitions():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert index_of(x, np.array([0.5])).tolist() == [0]  # below the range
    assert index_of(x, np.array([3.0])).tolist() == [2]  # at or below
    assert index_of(x, np.array([3.7])).tolist() == [2]
    assert index_nearest(x, np.array([3.7])).tolist() == [3]
    assert index_nearest(x, np.array([2.5])).tolist() == [1]  # first of a tie


def test_gradient_rows_matches_np_gradient():
    _, y, n_valid = ragged_rows()
    grad = gradient_rows(y, n_valid)
    for i, n in enumerate(n_valid):
        np.testing.assert_allclose(grad[i, :n], np.gradient(y[i, :n]), atol=1e-12)


def test_polyfit_rows_matches_numpy_polynomial_fit():
    x = np.sort(RNG.uniform(8800, 9800, (4, 80)), axis=1)
    y = RNG.normal(size=(4, 80)) + 1e-3 * x
    lo, hi, degree = np.array([0, 10, 5, 40]), np.array([80, 50, 12, 80]), np.array([2, 1, 0, 3])
    fit = polyfit_rows(x, y, lo, hi, degree)
    raw = fit.raw(4)
    for i in range(4):
        ref = np.polynomial.Polynomial.fit(x[i, lo[i]:hi[i]], y[i, lo[i]:hi[i]], degree[i])
        np.testing.assert_allclose(fit(x)[i], ref(x[i]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(raw[i, :degree[i] + 1], ref.convert().coef, rtol=1e-6)
        assert np.all(raw[i, degree[i] + 1:] == 0)


def larch_smooth(x, y, sigma, xstep):
    """Larch's larch.math.smooth (Lorentzian form), transcribed with np.convolve."""
    xmin = xstep * int((min(x) - 5 * xstep) / xstep)
    xmax = xstep * int((max(x) + 5 * xstep) / xstep)
    npts = min(1 + int(abs(xmax - xmin + xstep * 0.1) / xstep), 50 * len(x))
    x0 = np.linspace(xmin, xmax, npts)
    y0 = np.interp(x0, x, y)
    sigma = sigma * (1.0 / xstep)
    wx = np.arange(2 * npts)
    win = 1.0 / (1 + ((wx - npts) / sigma) ** 2) / (np.pi * sigma)
    y1 = np.concatenate((y0[npts:0:-1], y0, y0[-1:-npts - 1:-1]))
    y2 = np.convolve(win / win.sum(), y1, mode="valid")
    return np.interp(x, x0, y2)


def test_smooth_lorentzian_matches_larchs_smooth():
    x, y, n_valid = ragged_rows(n_rows=4, width=150)
    x = x * 3 + 8900
    xstep = np.array([0.3, 0.37, 1.0, 0.05])
    out = smooth_lorentzian(x, y, n_valid, xstep)
    for i, n in enumerate(n_valid):
        expected = larch_smooth(x[i, :n], y[i, :n], xstep[i], xstep[i])
        np.testing.assert_allclose(out[i, :n], expected, rtol=1e-9, atol=1e-10)


def test_resample_on_a_shared_axis_equals_the_per_row_search():
    """A spectrum-image row's one axis (broadcast, one search for all rows) gives exactly
    what the same axis repeated per row (one search per row) gives."""
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 100, 300))
    y = rng.normal(size=(40, 300))
    grid = rng.uniform(-5, 105, (40, 77))
    shared = resample(x, y, grid)
    repeated = resample(np.tile(x, (40, 1)), y, grid)
    np.testing.assert_array_equal(shared, repeated)
    assert np.isnan(shared[grid < x[0]]).all() and not np.isnan(shared[(grid > x[0])
                                                                       & (grid < x[-1])]).any()
