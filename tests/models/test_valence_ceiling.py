"""The valence-ceiling measurement finds valence where spectra carry it, and not where not."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from edgestream_models.valence_ceiling import edge_position, measure


def synthetic(carry: bool, n: int = 360, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    grid = np.arange(8980.0, 9060.0, 0.25)
    valence = rng.choice([1.0, 2.0, 3.0], n)
    e0 = 9000.0 + (2.0 * valence if carry else rng.normal(0, 2, n))
    mu = 1 / (1 + np.exp(-(grid[None, :] - e0[:, None]) / 0.8))
    mu += rng.normal(0, 0.01, mu.shape)
    part = np.where(np.arange(n) % 4 == 0, "test", "train")
    return {"grid": grid, "mu": mu, "valence": valence, "part": part}


def test_edge_position_is_the_steepest_rise():
    d = synthetic(True)
    e0 = edge_position(d["grid"], d["mu"])
    assert np.abs(e0 - (9000.0 + 2.0 * d["valence"])).max() <= 1.0
    assert np.median(np.abs(e0 - (9000.0 + 2.0 * d["valence"]))) <= 0.25


def test_valence_in_the_spectra_is_found_and_noise_is_not():
    found = measure(synthetic(True), n_trees=20)
    assert found["absolute_grid"]["regression"]["test_mae"] < 0.1
    assert found["absolute_grid"]["classification"]["balanced_accuracy"] > 0.95
    blind = measure(synthetic(False), n_trees=20)
    assert blind["absolute_grid"]["regression"]["test_mae"] > 0.5
    assert blind["constant"]["test_mae"] > 0.5
