"""White line and pre-edge centroid on synthetic normalized spectra."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.errors import BadSpectrum
from edgestream.physics import edge_features
from edgestream.physics.features import PRE_EDGE_WINDOW, WHITE_LINE_WINDOW

ENERGY = np.arange(8920.0, 9100.0, 0.2)


def normalized(e0, pre_edge_at=None, white_line=0.6, width=1.0, noise=0.0, seed=0):
    """Arctan edge (step 1 at e0), Gaussian white line at e0+6 eV, optional pre-edge peak."""
    rng = np.random.default_rng(seed)
    y = 0.5 + np.arctan((ENERGY - e0) / width) / np.pi
    y += white_line * np.exp(-0.5 * ((ENERGY - e0 - 6) / 2.5) ** 2)
    if pre_edge_at is not None:
        y += 0.1 * np.exp(-0.5 * ((ENERGY - e0 - pre_edge_at) / 0.8) ** 2)
    return y + rng.normal(0, noise, ENERGY.shape)


def test_documented_windows_are_the_defaults():
    assert WHITE_LINE_WINDOW == (0.0, 30.0) and PRE_EDGE_WINDOW == (-15.0, -2.0)
    f = edge_features(ENERGY, normalized(8980.0), 8980.0)
    assert f.white_line_window == WHITE_LINE_WINDOW and f.pre_edge_window == PRE_EDGE_WINDOW


def test_white_line_and_pre_edge_centroid_batched():
    e0s = np.array([8979.0, 8985.0, 8992.0])
    positions = [-6.0, -8.0, -10.0]
    norm = np.stack([normalized(e, p, noise=0.003, seed=i)
                     for i, (e, p) in enumerate(zip(e0s, positions, strict=True))])
    f = edge_features(ENERGY, norm, e0s)
    for i, e0 in enumerate(e0s):
        clean = normalized(e0, positions[i])
        above = (ENERGY - e0 >= 0) & (ENERGY - e0 <= 30)
        peak = ENERGY[above][np.argmax(clean[above])]
        assert f.white_line_energy[i] == pytest.approx(peak, abs=0.5)
        assert f.white_line_height[i] == pytest.approx(clean[above].max(), abs=0.02)
        assert f.pre_edge_centroid[i] == pytest.approx(e0 + positions[i], abs=0.2)
        assert 0.04 < f.pre_edge_height[i] <= 0.11


def test_no_pre_edge_peak_gives_nan():
    for width in (0.5, 1.0, 2.0):
        f = edge_features(ENERGY, normalized(8980.0, None, width=width, noise=0.003), 8980.0)
        assert np.isnan(f.pre_edge_centroid[0]) and np.isnan(f.pre_edge_height[0])
        assert np.isfinite(f.white_line_energy[0])


def test_first_strong_maximum_not_the_highest():
    e0 = 8980.0
    y = normalized(e0, white_line=0.0)
    y += 0.50 * np.exp(-0.5 * ((ENERGY - e0 - 5) / 1.5) ** 2)
    y += 0.55 * np.exp(-0.5 * ((ENERGY - e0 - 18) / 1.5) ** 2)
    y += 0.10 * np.exp(-0.5 * ((ENERGY - e0 - 1) / 0.3) ** 2)  # weak shoulder: not "strong"
    f = edge_features(ENERGY, y, e0)
    assert f.white_line_energy[0] == pytest.approx(e0 + 5, abs=0.4)


def test_still_rising_spectrum_has_no_white_line():
    e0 = 8980.0
    y = 0.5 + np.arctan((ENERGY - e0) / 1.0) / np.pi + 0.01 * (ENERGY - e0).clip(0)
    assert np.isnan(edge_features(ENERGY, y, e0).white_line_energy[0])


def test_white_line_window_without_data_is_rejected():
    with pytest.raises(BadSpectrum):
        edge_features(ENERGY, normalized(8980.0), 9500.0)
