"""The absolute energy scale of the multiplet spectra.

A 2p -> 3d exact diagonalization gives transition energies up to a constant, and that
constant moves with the parameters (edrixs sets the ionic d^n and 2p^5 d^n+1 levels apart by
the crystal-field energy of the hole, the charge-transfer sets by their Δ-dependent core
level): placed once per configuration, the white lines of Cu(II) spread over 925-935 eV. So
the calculation gives the shape and the literature the position: each parameter set's white
line (broadened with ``REFERENCE_WIDTHS``) is put where the literature puts the L3 maximum of
its valence, and the data set draws a spread of ``COMPOUND_SPREAD_EV`` around it.

Numbers from papers (no constant is fitted to a measured spectrum here):

- the Cu L3 edge of the metal is tabulated at 932.7 eV (``edgestream.physics`` edge table;
  the FEFF10 spectra are calibrated on it, ``ledge_data.calibration_shift``);
- the L3 white line of CuO (Cu(II), 3d9) lies about 1.5 eV below the metal edge, at about
  931.2 eV, and the first maximum of Cu2O (Cu(I)) about 1 eV above it, near 933.7 eV:
  Grioni et al., Phys. Rev. B 39, 1541 (1989), "Studies of copper valence states with Cu L3
  x-ray-absorption spectroscopy"; the same ordering (Cu(II) white line below the metal edge,
  Cu(I) above) in Jiang et al., J. Chem. Phys. 138, 024704 (2013) (Cu2O and CuO films);
- Cu(III) (NaCuO2, KCuO2, La2Li0.5Cu0.5O4 and Cu(III) complexes) has its L3 maximum 1.5 to
  2 eV above that of Cu(II): Grioni et al. (1989); DiMucci et al., J. Am. Chem. Soc. 141,
  18508 (2019), "The myth of d8 copper(III)". The low end is taken:
  the Cu(III) white line is a d9L state, close to Cu(II)'s.

Spread around these positions (sample, calibration of the monochromator or spectrometer) is
the training's job: the EELS simulation draws an energy-scale error of ±2 eV.
"""

from __future__ import annotations

import numpy as np

CU_METAL_L3_EV = 932.7
CUO_L3_PEAK_EV = 931.2          # Cu(II): CuO white line
CU2O_L3_PEAK_EV = 933.7         # Cu(I): first maximum of Cu2O (a check on the FEFF side)
CU3_SHIFT_EV = 1.5              # Cu(III) white line above Cu(II)
L3_PEAK_EV = {2.0: CUO_L3_PEAK_EV, 3.0: CUO_L3_PEAK_EV + CU3_SHIFT_EV}
# white lines of different compounds of one valence scatter around the values above; an
# assumed spread (uniform, ±eV), small next to the ±2 eV scale error the EELS training draws
COMPOUND_SPREAD_EV = 0.4
# broadening of the spectrum whose white line is placed (HWHM L3, HWHM L2, std; eV)
REFERENCE_WIDTHS = (0.3, 0.6, 0.25)
REFERENCE_TEMPERATURE = 300.0


def offset(sticks, valence: float, peak_ev: float | None = None,
           split: float | None = None) -> float:
    """eV to add to the relative energies of ``sticks`` (``solve.Sticks``) so that their
    white line sits at the literature's L3 maximum of ``valence`` (Cu), or at ``peak_ev``
    (another element, ``elements.L3_PEAK_EV``, with its ``split``)."""
    from edgestream_models.multiplets.spectrum import L2_SPLIT_EV, broaden, flatten, main_l3

    split = L2_SPLIT_EV if split is None else split
    e, w = flatten(sticks, REFERENCE_TEMPERATURE)
    grid = np.arange(e[w > 1e-3 * w.max()].min() - 10.0, e.max() + 10.0, 0.02)
    y = broaden(e, w, grid, *REFERENCE_WIDTHS, split)
    target = L3_PEAK_EV[float(valence)] if peak_ev is None else peak_ev
    return target - main_l3(grid, y, split)
