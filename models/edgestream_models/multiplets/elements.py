"""The battery metals' L2,3 multiplet sets (Mn, Fe, Co, Ni): the crystal fields each
configuration is computed in, and the literature facts that place the spectra on an absolute
energy scale.

Every valence these elements commonly take has 3d holes (Mn(II) d5 .. Ni(III) d7), so the
whole L2,3 white line is a multiplet: unlike Cu, no single-particle FEFF10 part is needed.
Ionic configurations only (``solve.solve_ionic``): charge transfer changes the satellites
and the L3/L2 ratio by tens of per cent but not which multiplet a valence shows, and the
spread of Slater reductions (0.6-0.9) stands in for covalency, as in the ligand-field
multiplet practice (de Groot, Coord. Chem. Rev. 249, 31 (2005)).
"""

from __future__ import annotations

import itertools

from edgestream_models.multiplets.grid import ELEMENT_CONFIGS, SLATER_SCALES, Params

ELEMENTS = tuple(ELEMENT_CONFIGS)

# L3 and L2 edges of the metals (eV; X-ray Data Booklet, Bearden & Burr): the L2 - L3 gap is
# the continuum step's spin-orbit splitting (``spectrum.edge_step``)
METAL_L3_EV = {"Mn": 638.7, "Fe": 706.8, "Co": 778.1, "Ni": 852.7}
METAL_L2_EV = {"Mn": 649.9, "Fe": 719.9, "Co": 793.2, "Ni": 870.0}
SPIN_ORBIT_EV = {el: round(METAL_L2_EV[el] - METAL_L3_EV[el], 2) for el in ELEMENTS}

# Energy of the strongest L3 maximum by valence (eV), from the oxide reference spectra of the
# literature; each parameter set's white line is put there (``calibration``). The chemical
# shift between valences is about 1.5 eV per step in all four elements:
# - Mn: MnO 640.0, Mn2O3 641.5, MnO2 642.6 (Gilbert et al., J. Phys. Chem. A 107, 2839
#   (2003); Garvie & Craven, Phys. Chem. Minerals 21, 191 (1994): the same ~1.2-1.8 eV steps
#   in EELS);
# - Fe: FeO / Fe2+ 708.0, Fe2O3 / Fe3+ 709.6 (van Aken & Liebscher, Phys. Chem. Minerals 29,
#   188 (2002): Fe3+ L3 maximum 1.6-1.8 eV above Fe2+);
# - Co: CoO 778.9, LiCoO2 / Co3+ 780.4 (de Groot et al.; Co2+ and Co3+ references of the
#   cathode literature);
# - Ni: NiO 853.2, LiNiO2 / Ni3+ 854.9 (the Ni3+ shoulder moves above the Ni2+ peak by about
#   1.5-2 eV).
# White lines of different compounds of one valence scatter by a few tenths of an eV around
# these; the data set draws ``COMPOUND_SPREAD_EV`` and the EELS training ±2 eV on top.
L3_PEAK_EV = {
    "Mn": {2.0: 640.0, 3.0: 641.5, 4.0: 642.6},
    "Fe": {2.0: 708.0, 3.0: 709.6},
    "Co": {2.0: 778.9, 3.0: 780.4},
    "Ni": {2.0: 853.2, 3.0: 854.9},
}
COMPOUND_SPREAD_EV = 0.4

# Above the first strong L3 line, sticks further than this belong to L2 (about 0.7 of the
# 2p spin-orbit splitting: the L3 multiplets of d5 reach ~6 eV above their onset, Mn's L2
# starts ~11 eV above it)
L2_SPLIT_EV = {"Mn": 8.0, "Fe": 9.5, "Co": 11.0, "Ni": 12.5}

# where the tetrahedral site is common: Mn2+ (spinels' A site), Fe2+/Fe3+ (spinels,
# silicates), Co2+ (spinels, zeolites), Ni2+ (rare but known: NiCr2O4)
TETRAHEDRAL = {("Mn", "d5"), ("Fe", "d6"), ("Fe", "d5"), ("Co", "d7"), ("Ni", "d8")}


def crystal_fields(element: str, config: str) -> list[tuple[str, float, float]]:
    """(symmetry, 10Dq, distortion) of one configuration: octahedra from weak to strong
    field (10Dq 0.6-2.6 eV: both sides of the high-/low-spin crossover of d4-d7 at 80 % of
    the atomic Slater integrals), Jahn-Teller and other tetragonally elongated octahedra
    (Mn(III) d4, low-spin Ni(III) d7, distorted sites of every valence), tetrahedra where
    the element takes them (10Dq(Td) about 4/9 of the octahedral one), 12 per Slater
    scale."""
    fields = [("oh", t, 0.0) for t in (0.6, 1.0, 1.4, 1.8, 2.2, 2.6)]
    fields += [("d4h", t, d) for t in (1.2, 2.0) for d in (0.3, 0.8)]
    if (element, config) in TETRAHEDRAL:
        fields += [("td", t, 0.0) for t in (0.4, 0.7)]
    else:
        fields += [("d4h", 1.6, 0.5), ("oh", 3.0, 0.0)]
    return fields


def element_grid(element: str) -> list[Params]:
    """Every parameter set of one element: each configuration's crystal fields over the
    Slater scales (``grid.SLATER_SCALES``)."""
    return [Params(config, s, t, d, k, element=element)
            for config in ELEMENT_CONFIGS[element]
            for (s, t, d), k in itertools.product(crystal_fields(element, config),
                                                  SLATER_SCALES)]
