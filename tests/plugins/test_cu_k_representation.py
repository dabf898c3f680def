"""The shared Cu K runtime code: representation, OOD reference, ensemble summaries."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.normalize import spectrum_batch
from edgestream_plugins.cu_k import (
    GRID,
    OodReference,
    class_summary,
    regression_summary,
    represent,
    represent_batch,
)
from edgestream_plugins.cu_k.similarity import (
    SHIFTS_EV,
    Whitening,
    profile,
    similarity,
    window,
)


def edge(e, e0=8984.0):
    return 0.5 + np.arctan((e - e0) / 1.5) / np.pi + 0.3 * np.exp(-0.5 * ((e - e0 - 9) / 3) ** 2)


def test_shared_axis_fast_path_equals_row_by_row():
    e = np.linspace(8950, 9060, 300)
    mu = np.stack([edge(e, 8980 + k) for k in range(4)])
    fast, cov_fast = represent(e, mu)
    slow, cov_slow = represent([e] * 4, list(mu))
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    np.testing.assert_allclose(cov_fast, cov_slow)
    assert fast.shape == (4, GRID.size) and fast.dtype == np.float32


def test_nan_points_dropped_and_ends_held():
    e = np.linspace(8975, 9020, 200)
    y = edge(e)
    y[50:55] = np.nan
    x, cov = represent([e], [y])
    assert np.isfinite(x).all()
    assert x[0, 0] == pytest.approx(y[0]) and x[0, -1] == pytest.approx(y[-1])
    assert cov[0] == pytest.approx(np.mean((GRID >= 8975) & (GRID <= 9020)))
    empty, cov0 = represent([e], [np.full(e.size, np.nan)])
    assert np.isnan(empty).all() and cov0[0] == 0


def test_batch_uses_absolute_energies():
    """Same spectrum, different e0 (Larch's choice): same absolute representation."""
    grid = np.arange(-20, 80.01, 0.5)
    rows, e0s = [], [8981.0, 8990.0]
    for e0 in e0s:
        rows.append(edge(e0 + grid))
    batch = spectrum_batch("Cu", "K", "xas_mu", grid, np.stack(rows), np.array(e0s))
    x, _ = represent_batch(batch)
    inside = (GRID >= 8971) & (GRID <= 9061)
    np.testing.assert_allclose(x[0, inside], x[1, inside], atol=1e-3)


def test_ood_reference_flags_far_spectra(tmp_path):
    rng = np.random.default_rng(0)
    e = GRID
    train = np.stack([edge(e, 8980 + rng.uniform(0, 8)) for _ in range(400)])
    train += rng.normal(0, 0.01, train.shape)
    ref = OodReference.fit(train[:300], train[300:], k=4)
    ref.save(tmp_path / "ood.npz")
    back = OodReference.load(tmp_path / "ood.npz")
    assert np.mean(back.score(train[300:]) <= 1.0) >= 0.99
    assert back.score(np.full((1, e.size), 0.5))[0] > 1
    assert back.score(train[:1] + rng.normal(0, 0.3, (1, e.size)))[0] > 1


def test_ensemble_summaries():
    mid, spread = regression_summary(np.array([[1.0, 1.2, 0.8], [0.1, 1.5, 0.2]]))
    assert mid[0] == pytest.approx(1.0) and spread[0] == pytest.approx(np.std([1, 1.2, 0.8]))
    # one straying member moves the reading to the next member, not by a third of its error
    assert mid[1] == pytest.approx(0.2) and spread[1] == pytest.approx(np.std([0.1, 1.5, 0.2]))
    p = np.array([[[0.7, 0.3], [0.5, 0.5]]])
    s = class_summary(p)
    assert s["top"][0] == 0 and s["probs"][0] == pytest.approx([0.6, 0.4])
    assert s["spread"][0] == pytest.approx(0.1)


def test_similarity_recovers_a_shift():
    lib = np.stack([edge(GRID, 8984.0), edge(GRID, 8984.0) * 0.8 + 0.1 * np.sin(GRID / 3)])
    query = edge(GRID, 8985.5)[None]
    sims, shifts = similarity(query, profile(lib, GRID), GRID)
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-3) and shifts[0, 0] == pytest.approx(1.5)
    assert sims[0, 1] < sims[0, 0] and SHIFTS_EV.max() == 3.0


def test_whitened_distance_with_identity_covariance_is_the_euclidean_one_over_shifts(tmp_path):
    """Identity covariance, no bias: minus the squared distance on the window points at the
    best shift; a shifted copy of a candidate scores (nearly) 0 at the right shift."""
    k = int(window(GRID).sum())
    whitening = Whitening.fit(np.eye(k), np.zeros(k), ridge=0.0)
    lib = np.stack([edge(GRID, 8984.0), edge(GRID, 8986.0) + 0.05])
    query = edge(GRID, 8985.5)[None]
    scores = whitening.scores(query, whitening.candidates(lib, GRID), GRID)
    assert scores[0, 0] == pytest.approx(0.0, abs=1e-4)               # +1.5 eV is a shift
    inside = window(GRID)
    direct = min(float(np.sum((np.interp(GRID + s, GRID, query[0]) - lib[1])[inside] ** 2))
                 for s in SHIFTS_EV)
    assert scores[0, 1] == pytest.approx(-direct, rel=1e-4)
    whitening.save(tmp_path / "w.npz")
    again = Whitening.load(tmp_path / "w.npz")
    assert np.array_equal(again.transform, whitening.transform)


def test_whitening_discounts_the_directions_the_covariance_says_are_unreliable():
    """A candidate off the query only where the covariance has large variance (an error the
    forward model is known to make there) outranks one off by a smaller amount elsewhere."""
    inside = window(GRID)
    k = int(inside.sum())
    variance = np.full(k, 1e-4)
    noisy = slice(0, k // 4)
    variance[noisy] = 1.0
    whitening = Whitening.fit(np.diag(variance), np.zeros(k), ridge=0.0)
    base = edge(GRID)
    far_where_unreliable, near_elsewhere = base.copy(), base.copy()
    far_where_unreliable[np.nonzero(inside)[0][noisy]] += 0.3
    near_elsewhere[np.nonzero(inside)[0][k // 2:]] += 0.03
    lib = np.stack([far_where_unreliable, near_elsewhere])
    scores = whitening.scores(base[None], whitening.candidates(lib, GRID), GRID,
                              shifts=np.zeros(1))
    assert scores[0, 0] > scores[0, 1]
    # plain squared distance would rank them the other way
    assert np.sum((lib[0] - base) ** 2) > np.sum((lib[1] - base) ** 2)


def test_batch_fast_path_equals_row_by_row():
    """The vectorized batch path (rows = one uniform axis moved by e0, NaN at the ends) gives
    what ``represent`` gives row by row."""
    rng = np.random.default_rng(3)
    grid = np.arange(-20, 80.01, 0.5)
    e0 = rng.uniform(8975, 8995, 20)
    norm = np.stack([edge(e + grid) + rng.normal(0, 0.01, grid.size) for e in e0])
    for i in range(20):
        norm[i, : rng.integers(0, 30)] = np.nan
        norm[i, grid.size - rng.integers(0, 60):] = np.nan
    batch = spectrum_batch("Cu", "K", "xas_mu", grid, norm, e0)
    fast, cov_fast = represent_batch(batch)
    slow, cov_slow = represent(list(e0[:, None] + grid[None, :]), list(norm))
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    np.testing.assert_allclose(cov_fast, cov_slow)


def test_refined_similarity_keeps_the_exact_top_candidates():
    """The coarse-then-fine search ranks the best candidates as the full search does."""
    rng = np.random.default_rng(3)
    centres = rng.uniform(8980.0, 8990.0, 300)
    lib = np.stack([edge(GRID, c) * (1 + 0.05 * np.sin(GRID / rng.uniform(2, 6)))
                    for c in centres])
    query = lib[:20] + rng.normal(0, 0.005, (20, GRID.size))
    query = np.stack([np.interp(GRID + rng.uniform(-2, 2), GRID, q) for q in query])
    full, full_shift = similarity(query, profile(lib, GRID), GRID)
    fast, fast_shift = similarity(query, profile(lib, GRID), GRID, refine=32)
    top = np.argsort(-full, axis=1)[:, :5]
    assert np.array_equal(top, np.argsort(-fast, axis=1)[:, :5])
    np.testing.assert_allclose(np.take_along_axis(fast, top, 1),
                               np.take_along_axis(full, top, 1), atol=1e-5)
    assert np.array_equal(np.take_along_axis(fast_shift, top, 1),
                          np.take_along_axis(full_shift, top, 1))
    assert np.all(fast <= full + 1e-5)  # the others keep a lower bound
