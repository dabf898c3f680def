"""Per-element FEFF10 offset from the simulated metal's edge (calib3d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgestream_models import calib3d

XMU_TI = Path(__file__).resolve().parent / "data" / "xmu_ti_hcp_k.dat"


def _edge(energy: np.ndarray, e0: float, width: float = 1.5) -> np.ndarray:
    return 0.5 + np.arctan((energy - e0) / width) / np.pi


def test_offset_of_a_synthetic_edge_is_tabulated_minus_inflection():
    e = np.linspace(7080.0, 7180.0, 301)          # coarse, like FEFF's grid
    out = calib3d.metal_offset("Fe", [e], [_edge(e, 7121.3)])
    assert out["edge"] == pytest.approx(7112.0, abs=1.0)
    assert out["e0_feff"] == pytest.approx(7121.3, abs=0.06)
    assert out["offset"] == pytest.approx(out["edge"] - 7121.3, abs=0.06)


def test_weighted_mean_of_sites():
    """α-Mn-like: the multiplicity-weighted mean puts the edge nearer the heavy sites."""
    e1, e2 = np.linspace(6500, 6600, 400), np.linspace(6505, 6610, 500)
    mus = [_edge(e1, 6549, 3.0), _edge(e2, 6551, 3.0)]
    even = calib3d.metal_offset("Mn", [e1, e2], mus)
    heavy = calib3d.metal_offset("Mn", [e1, e2], mus, [2, 24])
    assert even["e0_feff"] == pytest.approx(6550, abs=0.1)
    assert heavy["e0_feff"] > even["e0_feff"] + 0.5
    grid, mu = calib3d.mean_spectrum([e1, e2], [_edge(e1, 6548), _edge(e2, 6552)])
    assert grid[0] == pytest.approx(6505) and grid[-1] < 6600 + 1e-6 and mu.shape == grid.shape
    with pytest.raises(ValueError):
        calib3d.mean_spectrum([e1, e1 + 200], [e1, e1])   # no common range
    with pytest.raises(ValueError):
        calib3d.mean_spectrum([], [])


def test_ti_metal_sample_offset_is_a_few_ev_down():
    """The committed FEFF10 α-Ti spectrum: its edge sits a few eV above Ti's tabulated K
    edge (4966 eV), as FEFF10's K edges of the 3d metals do (-7 to -11 eV measured on the
    finished metal runs)."""
    from edgestream_models import feff10

    e, _, mu = feff10.parse_xmu(XMU_TI)
    out = calib3d.metal_offset("Ti", [e], [mu])
    assert -15.0 < out["offset"] < 0.0
    assert out["e0_feff"] + out["offset"] == pytest.approx(4966.0, abs=0.01)
