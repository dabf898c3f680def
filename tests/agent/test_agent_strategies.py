"""The other strategies: grid, uncertainty/novelty, the bmm-agents k-means baseline, and
the stop/continue rule for repeated scans."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream_agent.kmeans import KMeansStrategy, kmeans
from edgestream_agent.strategies import (
    Bounds,
    GridStrategy,
    MeanConverged,
    Measurements,
    UncertaintyStrategy,
    novelty,
)


def m(x, y, sigma=None, spectra=None) -> Measurements:
    return Measurements(np.asarray(x, float), np.asarray(y, float),
                        None if sigma is None else np.asarray(sigma, float),
                        None if spectra is None else np.asarray(spectra, float))


def test_grid_walks_its_points_then_stops() -> None:
    g = GridStrategy(Bounds(0, 10), 5)
    assert [p.position for p in g.suggest(m([], []), 2)] == [0.0, 2.5]
    done = m([0, 2.5, 5, 7.5, 10], [0] * 5)
    assert g.suggest(done, 1) == [] and g.done(done)


def test_uncertainty_goes_where_nothing_is_known() -> None:
    s = UncertaintyStrategy(Bounds(0, 60), length_scale=3.0, sigma_floor=0.05, n_seed=0)
    x = [0, 5, 10, 15, 20, 50, 55, 60]
    (p,) = s.propose(m(x, np.zeros(8)), 1)
    assert 25 < p.position < 45


def test_uncertainty_follows_reported_model_uncertainty() -> None:
    s = UncertaintyStrategy(Bounds(0, 60), length_scale=3.0, sigma_floor=0.01, n_seed=0)
    x = np.arange(0, 61, 3.0)
    sigma = np.where(np.abs(x - 42) < 2, 0.8, 0.01)
    (p,) = s.propose(m(x, np.zeros(x.size), sigma=sigma), 1)
    assert abs(p.position - 42) < 4


def test_uncertainty_follows_spectral_novelty() -> None:
    s = UncertaintyStrategy(Bounds(0, 60), length_scale=3.0, sigma_floor=0.05, n_seed=0,
                            w_novelty=2.0)
    x = np.arange(0, 61, 3.0)
    spectra = np.tile(np.linspace(0, 1, 10), (x.size, 1))
    spectra[7] += 0.5  # one odd spectrum at x = 21
    assert novelty(spectra).argmax() == 7
    batch = s.propose(m(x, np.zeros(x.size), spectra=spectra), 2)
    assert abs(batch[0].position - 21) < 3
    assert abs(batch[1].position - batch[0].position) > 2  # a batch spreads out
    assert len(s.describe(m(x, np.zeros(x.size), spectra=spectra))["x"]) > 50


def test_kmeans_finds_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(c, 0.1, (20, 3)) for c in (0.0, 5.0, 10.0)])
    centers, dist = kmeans(data, 3, rng)
    assert sorted(np.round(centers[:, 0]).tolist()) == [0.0, 5.0, 10.0]
    assert dist.shape == (60, 3) and dist.min(axis=1).max() < 1.0


def test_kmeans_baseline_as_bmm_agents_runs_it() -> None:
    """Distance to the nearest centre, degree-5 fit over x, a draw ∝ the fit."""
    rng = np.random.default_rng(1)
    s = KMeansStrategy(Bounds(0, 60), 3, rng, min_step=0.5)
    x = np.linspace(0, 60, 13)
    spectra = np.where(x[:, None] < 20, 0.0, np.where(x[:, None] < 40, 1.0, 2.0)) + \
        rng.normal(0, 0.01, (13, 4))
    spectra[6] += 0.6  # one spectrum far from every centre: the proxy peaks near x = 30
    cand, fit = s.landscape(m(x, np.zeros(13), spectra=spectra))
    assert cand[0] == 0 and cand[-1] == pytest.approx(59.5)
    assert abs(cand[np.argmax(fit)] - 30) < 10
    props = s.propose(m(x, np.zeros(13), spectra=spectra), 5)
    assert len(props) == 5 and len({p.position for p in props}) == 5
    assert all(0 <= p.position < 60 for p in props)
    assert all(round(p.position / 0.5) not in {round(v / 0.5) for v in x} for p in props)
    with pytest.raises(ValueError):
        s.landscape(m(x, np.zeros(13)))


def test_mean_converged_stop_rule() -> None:
    rule = MeanConverged(tolerance=0.05, min_scans=3, window=3)
    rng = np.random.default_rng(2)
    values = list(rng.normal(1.0, 0.1, 2))
    assert not rule.update(np.array(values))
    n = 2
    while not rule.update(np.array(values)):
        values.append(rng.normal(1.0, 0.1))
        n += 1
        assert n < 50
    assert abs(np.mean(values) - 1.0) < 0.1
    assert np.std(values, ddof=1) / np.sqrt(len(values)) <= 0.05
    assert MeanConverged(0.01, max_scans=4).update(np.array([0.0, 1.0, 0.0, 1.0]))
