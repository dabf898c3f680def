"""EELS power-law background and edge-step normalization on synthetic Cu L2,3 spectra."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.errors import BadSpectrum, TooFewPoints
from edgestream.physics import (
    find_edge_onset,
    fit_power_law,
    normalize_eels,
    subtract_power_law,
)
from edgestream.physics.eels import POST_WINDOW, PRE_WINDOW

LOSS = np.arange(850.0, 1100.0, 0.25)
ONSET = 931.0  # Cu L3


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def edge(loss, onset=ONSET, step=2.0e4):
    """L3 and L2 steps (2:1) with white lines: a CuO-like L2,3 edge of continuum ``step``.

    Logistic steps: their tails vanish within a few eV, so the background window holds only
    background and the fit can be judged against the true A and r.
    """
    l3 = (2 / 3) * sigmoid((loss - onset) / 0.4)
    l2 = (1 / 3) * sigmoid((loss - onset - 19.6) / 0.4)
    white = 3.0 * np.exp(-0.5 * ((loss - onset - 0.8) / 1.2) ** 2)
    white += 1.5 * np.exp(-0.5 * ((loss - onset - 20.4) / 1.2) ** 2)
    return step * (l3 + l2 + white / 3)


def spectra(amplitudes, exponents, steps, onsets, seed=0):
    rng = np.random.default_rng(seed)
    clean = np.stack([a * LOSS**-r + edge(LOSS, o, s)
                      for a, r, s, o in zip(amplitudes, exponents, steps, onsets, strict=True)])
    return clean, rng.poisson(clean).astype(float)


def test_power_law_fit_is_exact_without_noise():
    counts = 3.0e12 * LOSS**-3.1
    fit = fit_power_law(LOSS, counts, (870.0, 920.0))
    assert fit.amplitude[0] == pytest.approx(3.0e12, rel=1e-9)
    assert fit.exponent[0] == pytest.approx(3.1, rel=1e-12)
    assert fit.window.tolist() == [[870.0, 920.0]] and fit.n_points[0] == 201
    assert fit.A is fit.amplitude and fit.r is fit.exponent
    np.testing.assert_allclose(subtract_power_law(LOSS, counts, fit.amplitude, fit.exponent),
                               0.0, atol=1e-6 * counts.max())


def test_batched_fit_with_noise_recovers_background_and_step():
    exponents = [2.8, 3.2, 3.6]
    amplitudes = [2e5 * 850.0**r for r in exponents]  # 2e5 counts at 850 eV
    steps = [1.5e4, 2.0e4, 3.0e4]
    onsets = [930.0, 931.0, 933.5]
    _, counts = spectra(amplitudes, exponents, steps, onsets)
    result = normalize_eels(LOSS, counts, np.array(onsets))
    np.testing.assert_allclose(result.r, exponents, atol=0.05)
    # A and r are strongly correlated; the background they predict is what matters
    for i, (a, r) in enumerate(zip(amplitudes, exponents, strict=True)):
        np.testing.assert_allclose(result.background[i], a * LOSS**-r, rtol=0.015)
    true_step = [edge(LOSS[(LOSS - o >= 40) & (LOSS - o <= 60)], o, s).mean()
                 for o, s in zip(onsets, steps, strict=True)]
    np.testing.assert_allclose(result.step, true_step, rtol=0.05)  # Poisson noise
    post = (LOSS > 1000) & (LOSS < 1050)
    assert np.abs(result.norm[:, post].mean(axis=1) - 1).max() < 0.05
    np.testing.assert_allclose(result.pre_window[1], [ONSET - 50, ONSET - 5])
    np.testing.assert_allclose(result.post_window[1], [ONSET + 40, ONSET + 60])
    assert (PRE_WINDOW, POST_WINDOW) == ((-50.0, -5.0), (40.0, 60.0))


def test_batched_result_equals_single_calls():
    _, counts = spectra([2e5 * 850**3.0] * 2, [3.0, 3.3], [2e4, 1e4], [931.0, 932.0], seed=3)
    batch = normalize_eels(LOSS, counts, [931.0, 932.0])
    for i, onset in enumerate([931.0, 932.0]):
        single = normalize_eels(LOSS, counts[i], onset)
        np.testing.assert_allclose(batch.norm[i], single.norm[0], rtol=1e-10)
        np.testing.assert_allclose(batch.step[i], single.step[0], rtol=1e-10)


def test_explicit_windows_are_used():
    _, counts = spectra([2e5 * 850**3.0], [3.0], [2e4], [ONSET])
    result = normalize_eels(LOSS, counts, ONSET, pre_window=(860, 920), post_window=(980, 1000))
    assert result.pre_window.tolist() == [[860, 920]]
    assert result.post_window.tolist() == [[980, 1000]]


def test_default_pre_window_is_clipped_to_the_data():
    loss = LOSS[LOSS >= 900]
    _, counts = spectra([2e5 * 850**3.0], [3.0], [2e4], [ONSET])
    result = normalize_eels(loss, counts[:, LOSS >= 900], ONSET)
    assert result.pre_window[0, 0] == 900.0


def test_find_edge_onset_near_expected_and_unguided():
    _, counts = spectra([2e5 * 850**3.0] * 2, [3.0, 3.4], [2e4, 1e4], [931.0, 934.0], seed=5)
    found = find_edge_onset(LOSS, counts, expected=932.7)
    np.testing.assert_allclose(found, [931.0, 934.0], atol=1.0)
    np.testing.assert_allclose(find_edge_onset(LOSS, counts), [931.0, 934.0], atol=1.0)


def test_errors():
    _, counts = spectra([2e5 * 850**3.0], [3.0], [2e4], [ONSET])
    with pytest.raises(TooFewPoints):
        fit_power_law(LOSS, counts, (1200.0, 1300.0))
    with pytest.raises(ValueError):
        fit_power_law(LOSS, counts, (920.0, 870.0))
    with pytest.raises(BadSpectrum):  # no edge: the "post-edge" signal is background noise
        normalize_eels(LOSS, 2e5 * (LOSS / 850) ** -3.0, ONSET)
    with pytest.raises(BadSpectrum):
        find_edge_onset(LOSS, counts, expected=2000.0)
    bad = counts.copy()
    bad[0, 5] = np.nan
    with pytest.raises(BadSpectrum):
        normalize_eels(LOSS, bad, ONSET)


def _cu_l23_like(loss: np.ndarray, background: bool) -> np.ndarray:
    """A Cu(II)-like L2,3 edge: white lines below the steps' onsets, on a power law or not."""
    def step(onset: float) -> np.ndarray:
        return 0.5 + np.arctan((loss - onset) / 0.8) / np.pi

    lines = 4.0 * (np.exp(-0.5 * ((loss - 931.0) / 0.7) ** 2)
                   + 0.45 * np.exp(-0.5 * ((loss - 950.9) / 0.8) ** 2))
    edge = 1000.0 * (step(932.7) + 0.5 * step(952.6) + lines)
    return edge + (2e4 * (loss / 900.0) ** -3.0 if background else 0.0)


@pytest.mark.parametrize("start, background", [(931.0, True), (930.5, False), (925.0, False)])
def test_a_spectrum_starting_on_its_white_line_or_without_background_is_read(start, background):
    """Issue 32 item 3: starting on the white line, or background-subtracted as literature
    spectra are, it is normalized by a named fallback with a positive step, not refused."""
    loss = np.arange(start, 990.0, 0.25)
    counts = _cu_l23_like(loss, background)[None, :]
    onset = find_edge_onset(loss, counts, expected=932.7)
    r = normalize_eels(loss, counts, onset)
    assert r.step[0] > 0 and r.fallback[0] in ("lower_envelope", "short_pre_edge",
                                                "no_pre_edge")
    assert np.isfinite(r.norm).all()
    # the post-edge reads about 1 and nothing dips far below 0: the background is not over-
    # subtracted
    assert np.nanmin(r.norm) > -0.3


def test_the_lower_envelope_stays_under_every_point():
    loss = np.arange(931.0, 990.0, 0.25)
    counts = _cu_l23_like(loss, True)[None, :]
    r = normalize_eels(loss, counts, np.array([934.0]))
    assert r.fallback[0] == "lower_envelope"
    before_post = loss < r.post_window[0, 0]
    assert (r.background[0, before_post] <= counts[0, before_post] + 1e-9).all()


@pytest.mark.parametrize("noise", [0.0, 5.0])
def test_a_background_subtracted_spectrum_with_a_long_pre_edge_is_read(noise):
    """A literature spectrum already at about zero below its edge, with 40 eV of pre-edge:
    the power law fitted to that noise is no background (exponent in the hundreds, amplitude
    infinite); the lower envelope is taken instead of refusing it as too_few_points."""
    loss = np.arange(890.0, 990.0, 0.25)
    rng = np.random.default_rng(4)
    counts = (_cu_l23_like(loss, False) + 1.0 + noise * rng.standard_normal(loss.size))[None, :]
    onset = find_edge_onset(loss, counts, expected=932.7)
    r = normalize_eels(loss, counts, onset)
    assert r.fallback[0] == "lower_envelope" and r.step[0] > 0
    assert np.isfinite(r.norm).all() and np.nanmin(r.norm) > -0.3
    # the white line over the L2,3 step (1.5 x 1000 counts): about 3
    assert np.nanmax(r.norm) == pytest.approx(3.0, rel=0.15)
