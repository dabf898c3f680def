"""mu(E) from intensities."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.errors import BadSpectrum
from edgestream.physics import mu_fluorescence, mu_transmission


def test_transmission_and_fluorescence_batched():
    i0 = np.array([[100.0, 200.0], [50.0, 10.0]])
    it = np.array([[10.0, 100.0], [50.0, 1.0]])
    np.testing.assert_allclose(mu_transmission(i0, it), np.log(i0 / it))
    np.testing.assert_allclose(mu_fluorescence(i0, it), it / i0)
    # a shared i0 row broadcasts over a batch
    assert mu_transmission(i0[0], it).shape == (2, 2)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_transmission_needs_positive_finite_intensities(bad):
    with pytest.raises(BadSpectrum):
        mu_transmission([1.0, 2.0], [1.0, bad])
    with pytest.raises(BadSpectrum):
        mu_transmission([bad, 2.0], [1.0, 1.0])


def test_fluorescence_allows_zero_counts_but_not_zero_i0():
    np.testing.assert_allclose(mu_fluorescence([2.0, 4.0], [0.0, -1.0]), [0.0, -0.25])
    for bad in (0.0, -3.0, np.nan):
        with pytest.raises(BadSpectrum):
            mu_fluorescence([bad, 1.0], [1.0, 1.0])


def test_mismatched_shapes_and_overflow():
    with pytest.raises(BadSpectrum):
        mu_transmission(np.ones(3), np.ones(4))
    with pytest.raises(BadSpectrum):
        mu_fluorescence([1e-300], [1e300])
