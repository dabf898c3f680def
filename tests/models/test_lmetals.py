"""The battery metals' L2,3 multiplets (Mn, Fe, Co, Ni): parameter sets, the physics of one
exact diagonalization, and the energy scale the training puts them on."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("edrixs")

from edgestream_models.multiplets import calibration
from edgestream_models.multiplets.elements import (
    ELEMENTS,
    L2_SPLIT_EV,
    L3_PEAK_EV,
    METAL_L3_EV,
    SPIN_ORBIT_EV,
    element_grid,
)
from edgestream_models.multiplets.grid import ELEMENT_CONFIGS, Params, default_grid
from edgestream_models.multiplets.solve import solve
from edgestream_models.multiplets.spectrum import broaden, flatten, l2_mask, main_l3


def test_cu_keys_do_not_move_with_the_element_field():
    # the archived Cu entries are found by key: adding the element must not rename them
    p = default_grid()[0]
    assert p.element == "Cu"
    assert p.key() == Params(**{k: v for k, v in p.as_dict().items() if k != "element"}).key()
    assert Params("d5", "oh", 1.0, element="Mn").key() != Params("d5", "oh", 1.0,
                                                                 element="Fe").key()


@pytest.mark.parametrize("element", ELEMENTS)
def test_every_valence_is_spanned_in_several_fields(element):
    sets = element_grid(element)
    assert len(sets) == len(set(sets)) == 48 * len(ELEMENT_CONFIGS[element])
    for config, (valence, n_d) in ELEMENT_CONFIGS[element].items():
        mine = [p for p in sets if p.config == config]
        assert {p.valence for p in mine} == {valence} and {p.n_d for p in mine} == {n_d}
        assert {"oh", "d4h"} <= {p.symmetry for p in mine}
        assert max(p.ten_dq for p in mine if p.symmetry == "oh") >= 2.6  # low spin reached
    assert 0 < SPIN_ORBIT_EV[element] < 20 and L2_SPLIT_EV[element] < SPIN_ORBIT_EV[element]
    peaks = list(L3_PEAK_EV[element].values())
    assert peaks == sorted(peaks) and peaks[0] > METAL_L3_EV[element]


@pytest.mark.parametrize("config,holes", [("d8", 2), ("d7", 3)])
def test_ni_multiplet_counts_holes_and_splits_l3_from_l2(config, holes):
    p = Params(config, "oh", 1.4, element="Ni")
    e, w = flatten(solve(p), 300.0)
    # the dipole sum rule: the intensity is the number of 3d holes
    assert w.sum() == pytest.approx(holes, rel=1e-6)
    l2 = l2_mask(e, w, L2_SPLIT_EV["Ni"])
    # L2 from the calculation: its strongest line about 3/2 zeta(2p) above L3's (Ni 17.3 eV)
    gap = e[l2][np.argmax(w[l2])] - e[~l2][np.argmax(w[~l2])]
    assert gap == pytest.approx(SPIN_ORBIT_EV["Ni"], abs=2.0)
    # high-spin Ni(II) has more than the statistical 2/3 of its weight in L3
    assert w[~l2].sum() / w.sum() > 0.67 if config == "d8" else True


def test_calibration_puts_the_white_line_on_the_literature_peak():
    p = Params("d8", "oh", 1.4, element="Ni")
    s = solve(p)
    shift = calibration.offset(s, 2.0, L3_PEAK_EV["Ni"][2.0], L2_SPLIT_EV["Ni"])
    e, w = flatten(s, calibration.REFERENCE_TEMPERATURE)
    grid = np.arange(840.0, 890.0, 0.02)
    y = broaden(e + shift, w, grid, *calibration.REFERENCE_WIDTHS, L2_SPLIT_EV["Ni"])
    assert main_l3(grid, y, L2_SPLIT_EV["Ni"]) == pytest.approx(L3_PEAK_EV["Ni"][2.0], abs=0.03)
