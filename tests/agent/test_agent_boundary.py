"""The boundary estimator every strategy is judged with, and our boundary-finding strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgestream_agent.boundary import Profile, boundaries_within, locate, split
from edgestream_agent.compare import Simulated, run
from edgestream_agent.gradient import GradientSample
from edgestream_agent.strategies import BoundaryStrategy, Bounds, Measurements

pytestmark = pytest.mark.timeout(120)


def steps(x: np.ndarray, b: tuple[float, ...], w: tuple[float, ...],
          levels: tuple[float, ...]) -> np.ndarray:
    y = np.full_like(x, levels[0], dtype=float)
    for c, width, lo, hi in zip(b, w, levels[:-1], levels[1:], strict=True):
        y += (hi - lo) * 0.5 * (1 + np.tanh(0.5 * (x - c) / width))
    return y


def test_profile_averages_repeated_positions() -> None:
    p = Profile.build(np.array([2.0, 1.0, 2.0]), np.array([1.0, 5.0, 3.0]), 0.1)
    assert p.x.tolist() == [1.0, 2.0]
    assert p.y.tolist() == [5.0, 2.0]
    assert p.n.tolist() == [1, 2]
    assert p.sigma[1] == pytest.approx(0.1 / np.sqrt(2))


@settings(max_examples=20, deadline=None)
@given(b1=st.floats(10, 25), w1=st.floats(0.05, 1.5), w2=st.floats(0.05, 1.5),
       extra=st.floats(0, 15), seed=st.integers(0, 10_000))
def test_dense_noisy_data_locate_both_boundaries(b1, w1, w2, extra, seed) -> None:
    """A dense grid through a non-monotone profile (Cu 0.5, Cu2O 0, CuO 2.5, like the
    edge-area quantity) gives both centres within 0.5 mm, as long as a plateau separates
    the two transitions (3 mm beyond their 1-99 % ranges, ±4.6 w), or within 3 posterior σ
    where the noise allows no better (a 1.5 mm wide step of 0.5 at σ 0.05 pins its
    centre to about ±0.2 mm, by least squares too)."""
    x = np.linspace(0, 60, 241)
    truth = (b1, b1 + 4.6 * (w1 + w2) + 3.0 + extra)
    y = steps(x, truth, (w1, w2), (0.5, 0.0, 2.5))
    y = y + np.random.default_rng(seed).normal(0, 0.05, x.size)
    found = locate(x, y, 2, 0.3, 0.05)
    assert [b.significant for b in found] == [True, True]
    for b, t in zip(found, truth, strict=True):
        assert abs(b.center - t) <= max(0.5, 3 * b.std), (b.center, b.std, t)


def test_credible_intervals_cover_the_truth() -> None:
    """Over noise realizations, the 95 % intervals hold the true centres most of the time."""
    x = np.linspace(0, 60, 61)
    truth = (21.3, 38.7)
    hits = 0
    for seed in range(20):
        y = steps(x, truth, (0.8, 0.4), (0.0, 1.0, 2.0))
        y = y + np.random.default_rng(seed).normal(0, 0.1, x.size)
        for b, t in zip(locate(x, y, 2, 0.5, 0.1), truth, strict=True):
            lo, hi = b.interval(0.95)
            hits += lo <= t <= hi
    assert hits >= 34  # of 40: coverage at least 85 %


def test_wide_transition_through_another_level_is_one_boundary() -> None:
    """The wide Cu2O→CuO rise passes the Cu level: still one boundary, not two."""
    x = np.linspace(0, 60, 61)
    y = steps(x, (20.0, 45.0), (0.2, 3.0), (0.5, 0.0, 2.5))
    found = locate(x, y, 2, 0.5, 0.02)
    assert boundaries_within(found, (20.0, 45.0), 0.5), [b.center for b in found]


def test_split_shares_the_plateau_point_between_segments() -> None:
    x = np.array([0, 12, 24, 36, 48, 60.0])
    y = np.array([0.5, 0.5, 0.5, 0.0, 2.5, 2.5])
    p = Profile.build(x, y, 0.05)
    segs = split(p, np.full(6, 400.0), 2, 0.05, 6.0)
    assert segs == [(0, 4), (3, 6)]  # both segments hold x = 36 (the Cu2O point)


def test_a_sharp_step_between_two_points_is_uniform_over_the_bracket() -> None:
    x = np.array([0.0, 10.0, 20.0, 22.0, 30.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    (b,) = locate(x, y, 1, 0.5, 0.02)
    assert b.significant
    assert 20.0 <= b.center <= 22.0
    lo, hi = b.interval(0.95)
    assert lo < 20.4 and hi > 21.6  # the data cannot tell where in the gap
    assert b.p_within(0.5) < 0.8  # so it must not claim ±0.5 mm yet
    cand = np.linspace(20, 22, 41)
    assert abs(cand[np.argmax(b.acquisition(cand))] - 21.0) < 0.3  # bisect


def test_no_step_is_not_significant() -> None:
    x = np.linspace(0, 60, 7)
    found = locate(x, np.zeros(7) + np.array([0, 0.01, -0.01, 0, 0.02, 0, -0.02]), 1, 0.5,
                   0.05)
    assert not found[0].significant
    assert found[0].p_within(0.5) == 0.0


def test_boundary_strategy_stops_within_tolerance_on_random_samples(linear) -> None:
    """Ours on eight random samples, quantity linear in the fractions (a valence model)."""
    rng = np.random.default_rng(5)
    scans = []
    for i in range(8):
        sample = GradientSample.random(rng)
        measure = Simulated(sample, linear(noise=0.05), np.random.default_rng(i))
        strategy = BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05, max_scans=60)
        trace = run(strategy, measure, 60)
        assert strategy.done(trace.measurements())
        assert boundaries_within(strategy.posteriors(trace.measurements()),
                                 sample.boundaries, 0.5), (sample, trace.x)
        scans.append(len(trace.x))
    assert np.mean(scans) < 20, scans  # a 0.5 mm grid over 60 mm needs 61


def test_seeds_first_then_no_position_twice_in_a_row(linear) -> None:
    sample = GradientSample((20.0, 40.0), (0.1, 0.1))
    measure = Simulated(sample, linear(), np.random.default_rng(0))
    strategy = BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05, n_seed=5)
    trace = run(strategy, measure, 8)
    assert trace.x[:5] == pytest.approx([0, 15, 30, 45, 60])
    assert all(a != b for a, b in zip(trace.x[5:], trace.x[6:], strict=False))
    d = strategy.describe(trace.measurements())
    assert d["name"] == "boundary" and len(d["boundaries"]) == 2


def test_strategy_refuses_nothing_on_empty_measurements() -> None:
    strategy = BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05)
    empty = Measurements(np.array([]), np.array([]))
    assert [p.position for p in strategy.suggest(empty, 2)] == [0.0, 12.0]
    assert not strategy.done(empty)
