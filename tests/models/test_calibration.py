"""Energy calibration: the shift fit recovers known shifts; FEFF9 against measured standards.

Needs only numpy and edgestream (measured standards: ``tests/data/measured-cu-k``); the FEFF9
check reads ``../shared/data/omnixas-cu-k`` and skips without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgestream_models import calibration

MEASURED = Path(__file__).resolve().parents[1] / "data" / "measured-cu-k"


@pytest.fixture(scope="module")
def standards() -> list[dict]:
    return calibration.measured_standards(MEASURED)


def test_standards_are_foil_calibrated(standards: list[dict]) -> None:
    assert sorted(s["formula"] for s in standards) == ["Cu", "Cu", "Cu2O", "Cu2O", "CuO", "CuO"]
    foils = [s for s in standards if s["formula"] == "Cu"]
    for foil in foils:                           # each foil is its own session reference
        assert foil["e0"] == pytest.approx(8979.0, abs=0.05)
    for s in standards:
        assert np.nanmean(s["flat"][s["energy"] > 9050]) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("known", [7.3, -4.37, 12.0])
@pytest.mark.parametrize("file", ["cu1_Cu2O_cuprite_APS13BMD_2008.txt",
                                  "cu2_CuO_HASYLAB_2001.txt"])
def test_recovers_synthetic_shift(standards: list[dict], file: str, known: float) -> None:
    """A measured spectrum moved by ``known`` eV is put back by a shift of ``-known``."""
    std = next(s for s in standards if s["file"] == file)
    e_sim = std["energy"] + known                 # 'simulation': features `known` eV too high
    fit = calibration.fit_shift(std["energy"], std["flat"], e_sim, std["flat"])
    assert fit.shift == pytest.approx(-known, abs=0.05)
    assert fit.rmse < 0.01


def test_recovers_shift_on_a_coarser_axis(standards: list[dict]) -> None:
    std = next(s for s in standards if s["file"].startswith("cu1_Cu2O_cuprite"))
    e_sim = np.arange(8960.0, 9140.0, 0.7)        # FEFF-like: its own, coarser points
    y_sim = np.interp(e_sim - 5.55, std["energy"], std["flat"])
    fit = calibration.fit_shift(std["energy"], std["flat"], e_sim, y_sim)
    assert fit.shift == pytest.approx(-5.55, abs=0.1)


def test_uncovered_window_costs_inf() -> None:
    e = np.linspace(8950.0, 9020.0, 200)
    cost = calibration.alignment_cost(e, np.tanh(e - 8980), e, np.tanh(e - 8980),
                                      shifts=np.array([0.0, 20.0]))
    assert np.isinf(cost[0]) and np.isfinite(cost[1])


def test_feff9_shift(standards: list[dict]) -> None:
    if not (calibration.OMNIXAS_ROOT / "spectra.npz").exists():
        pytest.skip("OmniXAS spectra absent")
    result = calibration.calibrate(calibration.feff9_references(), standards)
    assert result["n_pairs"] == 4
    assert -7.5 < result["shift_ev"] < -5.5      # measured here: -6.37 ± 0.52 eV
    assert result["spread_ev"] < 1.0


def test_feff10_shifts_follow_the_reference_valence(tmp_path):
    """Without SCF, FEFF10 needs a shift per chemistry: Cu fcc, Cu2O and CuO pairs give one
    each, and a site's shift is interpolated in its formal valence."""
    from edgestream_models.calibration import shift_for_valence, valence_shifts

    pairs = [{"reference": "Cu:proto:cu_fcc", "shift": -4.4},
             {"reference": "Cu:proto:cu_fcc", "shift": -4.0},
             {"reference": "Cu2O:lit:cu2o_cuprite", "shift": -0.2},
             {"reference": "CuO:lit:cuo_tenorite", "shift": 2.5}]
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"feff10": {"shift_ev": -0.65, "pairs": pairs}}))
    shifts = valence_shifts("feff10", path)
    assert shifts == pytest.approx({0.0: -4.2, 1.0: -0.2, 2.0: 2.5})
    got = shift_for_valence(np.array([0.0, 1.0, 1.5, 2.0, 3.0, np.nan]), shifts, -0.65)
    np.testing.assert_allclose(got, [-4.2, -0.2, 1.15, 2.5, 2.5, -0.65])
    assert shift_for_valence(np.array([1.0]), {}, -0.65).tolist() == [-0.65]
