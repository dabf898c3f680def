"""Two-phase mixtures (``augment.mix``): the spectra and the targets mix with one fraction."""

from __future__ import annotations

import numpy as np

from edgestream_models.augment import mix


def test_mix_one_fraction_for_spectrum_and_targets() -> None:
    work = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    valence = np.array([0.0, 1.0, 2.0])
    classes = np.eye(3)
    w1, y1 = mix(work, valence, np.random.default_rng(3), 50)
    w2, y2 = mix(work, classes, np.random.default_rng(3), 50)
    np.testing.assert_array_equal(w1, w2)  # same draws
    assert y2.shape == (50, 3)
    np.testing.assert_allclose(y2.sum(axis=1), 1.0)  # fractions of a whole
    np.testing.assert_allclose(y2 @ valence, y1)  # the class fractions carry the mean valence
    np.testing.assert_allclose(w2, y2 @ work)  # each spectrum is its fractions' mixture


def test_mix_stays_inside_the_pool() -> None:
    work = np.arange(12.0).reshape(4, 3)
    _, y = mix(work, np.eye(4), np.random.default_rng(0), 200, pool=np.array([1, 2]))
    assert np.all(y[:, [0, 3]] == 0)
