"""Parity with Larch's own pre_edge (xraylarch 2026.3.1, all defaults) on real spectra.

References: ``larch_e0``/``larch_edge_step`` in each data set's manifest.json, and Larch's
``norm``/``flat`` arrays over [e0 - 20, e0 + 80] eV in tests/data/larch_pre_edge_reference.npz,
made by tests/physics/make_larch_reference.py. Larch is never imported here.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.physics import pre_edge

from .conftest import manifest_entries

KEYS = [f"{s}/{e['file']}" for s, e in manifest_entries()]
E0_TOLERANCE = 0.5  # eV, the parity target
NORM_TOLERANCE = 0.02  # normalized units, the parity target
# What the port actually achieves (rounding only); a regression guard well above it.
EXACT = 1e-8


@pytest.fixture(scope="module")
def results(real_spectra):
    return {k: pre_edge(s.energy, s.mu) for k, s in real_spectra.items()}


def test_reference_covers_every_file(larch_reference):
    assert len(KEYS) == 20
    for key in KEYS:
        assert f"{key}/norm" in larch_reference


@pytest.mark.parametrize("key", KEYS)
def test_e0_and_edge_step_match_manifest(key, real_spectra, results):
    manifest, result = real_spectra[key].manifest, results[key]
    assert abs(result.e0[0] - manifest["larch_e0"]) <= E0_TOLERANCE
    assert abs(result.e0[0] - manifest["larch_e0"]) < 1e-3  # manifest rounds to 1 meV
    # the manifest keeps 6 significant digits
    assert result.edge_step[0] == pytest.approx(manifest["larch_edge_step"], rel=1e-5)


@pytest.mark.parametrize("key", KEYS)
def test_norm_and_flat_match_larch(key, real_spectra, results, larch_reference):
    spectrum, result = real_spectra[key], results[key]
    start = int(larch_reference[f"{key}/i0"])
    ref_norm = larch_reference[f"{key}/norm"]
    ref_flat = larch_reference[f"{key}/flat"]
    window = slice(start, start + len(ref_norm))
    e0 = larch_reference[f"{key}/scalars"][0]
    rel = spectrum.energy[window] - e0
    assert rel.min() >= -20 and rel.max() <= 80 and len(ref_norm) > 20
    d_norm = np.abs(result.norm[0, window] - ref_norm).max()
    d_flat = np.abs(result.flat[0, window] - ref_flat).max()
    assert d_norm < NORM_TOLERANCE and d_flat < NORM_TOLERANCE
    assert d_norm < EXACT and d_flat < EXACT


@pytest.mark.parametrize("key", KEYS)
def test_resolved_ranges_match_larch(key, results, larch_reference):
    e0, step, pre1, pre2, norm1, norm2, nnorm = larch_reference[f"{key}/scalars"]
    r = results[key]
    assert r.e0[0] == pytest.approx(e0, abs=1e-9)
    assert r.edge_step[0] == pytest.approx(step, rel=1e-9)
    np.testing.assert_allclose(
        [r.pre1[0], r.pre2[0], r.norm1[0], r.norm2[0], r.nnorm[0]],
        [pre1, pre2, norm1, norm2, nnorm], atol=1e-9,
    )


def test_batch_of_real_spectra_matches_single_calls(real_spectra):
    # the three APS 13-BM-D Cu standards share one energy grid
    keys = [k for k in real_spectra if "APS13BMD" in k]
    energy = real_spectra[keys[0]].energy
    assert all(np.array_equal(real_spectra[k].energy, energy) for k in keys)
    batch = pre_edge(energy, np.stack([real_spectra[k].mu for k in keys]))
    for i, key in enumerate(keys):
        single = pre_edge(energy, real_spectra[key].mu)
        for name in ("e0", "edge_step", "pre1", "pre2", "norm1", "norm2", "nnorm",
                     "pre_edge_coefs", "norm_coefs", "pre_edge", "post_edge", "norm", "flat"):
            np.testing.assert_allclose(
                getattr(batch, name)[i], getattr(single, name)[0], rtol=1e-10, atol=1e-12,
                err_msg=f"{key}: {name}",
            )


def test_batch_with_per_spectrum_energies_matches_single_calls(real_spectra):
    # different beamlines, elements and edges in one batch: 300 points of each
    keys = sorted(real_spectra)[::3]
    energy = np.stack([real_spectra[k].energy[:300] for k in keys])
    mu = np.stack([real_spectra[k].mu[:300] for k in keys])
    batch = pre_edge(energy, mu)
    for i in range(len(keys)):
        single = pre_edge(energy[i], mu[i])
        np.testing.assert_allclose(batch.e0[i], single.e0[0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(batch.norm[i], single.norm[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(batch.flat[i], single.flat[0], rtol=1e-10, atol=1e-12)
        assert batch.nnorm[i] == single.nnorm[0]
