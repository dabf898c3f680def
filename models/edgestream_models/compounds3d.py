"""Ternary oxides and oxo-salts of the 3d elements Ti...Zn for FEFF10 K-edge spectra.

Families: perovskites AMO3 (cubic Pm-3m, rhombohedral R-3c, orthorhombic Pbnm), spinels
AB2O4 (Fd-3m, origin choice 1), layered LiMO2/NaMO2 (α-NaFeO2, R-3m), olivines LiMPO4 and
M2SiO4, ilmenites MTiO3, layered oxyhydroxides MOOH, V2O5, bixbyite Mn2O3 and K2CrO4.

Built like :mod:`edgestream_models.oxides3d` (:class:`Prototype`: space group in pymatgen's
setting, Wyckoff coordinates, lattice constants in Å from the literature named in ``source``).
``cu_sites`` maps each absorber label to (expected CN, geometry family) in the classes of
:mod:`edgestream_models.motifs`; ``SITE_VALENCE`` holds every absorber site's formal valence
(charge balance with the usual ion charges, :data:`ION_CHARGE`). Where coordinates were
borrowed from an isostructural compound, fitted to a published bond length, or the real phase
is distorted or disordered, ``approximate`` is set and ``note`` says how.
"""

from __future__ import annotations

import math

from edgestream_models.prototypes import Prototype

_CUB = (90.0, 90.0, 90.0)
_HEX = (90.0, 90.0, 120.0)
OCT = (6, "octahedral")
TET = (4, "tetrahedral")
SQP = (5, "square_pyramidal")
# formal charges of the ions that are not absorbers (S is S2- unless a prototype overrides)
ION_CHARGE = {"H": 1, "Li": 1, "Na": 1, "K": 1, "Mg": 2, "Ca": 2, "Sr": 2, "Ba": 2, "Al": 3,
              "La": 3, "Y": 3, "Ga": 3, "C": 4, "Si": 4, "P": 5, "Cu": 1, "O": -2, "F": -1,
              "Cl": -1, "S": -2, "Se": -2, "N": -3}
SITE_VALENCE: dict[str, dict[str, float]] = {}   # prototype name -> absorber label -> valence
CHARGE_OVERRIDE: dict[str, dict[str, int]] = {}  # prototype name -> species -> charge


def roman(v: float) -> str:
    """``3.0`` -> ``"III"``; a fractional valence -> ``"mixed"``."""
    names = {0.0: "0", 1.0: "I", 2.0: "II", 3.0: "III", 4.0: "IV", 5.0: "V", 6.0: "VI"}
    return names.get(float(v), "mixed")


def proto(name: str, formula: str, description: str, source: str, spacegroup: str,
          lattice: tuple[float, ...], species: tuple[str, ...],
          coords: tuple[tuple[float, float, float], ...], labels: tuple[str, ...],
          sites: dict[str, tuple[float, tuple[int, str]]], note: str = "",
          ops: tuple = ()) -> Prototype:
    """A prototype whose absorber sites are ``label -> (formal valence, (CN, family))``;
    registers the site valences in ``SITE_VALENCE``; ``note`` marks it approximate."""
    SITE_VALENCE[name] = {lab: float(v) for lab, (v, _) in sites.items()}
    first = next(iter(sites))
    valence = sites[first][0]
    el = first.rstrip("0123456789")
    return Prototype(name, formula, description, source, spacegroup, tuple(lattice),
                     species, coords, labels, valence, f"{el}({roman(valence)})",
                     {lab: cn for lab, (_, cn) in sites.items()}, note, approximate=bool(note),
                     explicit_ops=ops)


def _cubic_perovskite(a_el: str, m_el: str, valence: float, a: float, source: str,
                      anion: str = "O", note: str = "") -> Prototype:
    # Pm-3m: M 1a (0, 0, 0), A 1b (1/2, 1/2, 1/2), X 3d (1/2, 0, 0)
    formula = f"{a_el}{m_el}{anion}3"
    return proto(f"{formula.lower()}_perovskite", formula, f"{formula}, cubic perovskite",
                 source, "Pm-3m", (a, a, a, *_CUB), (m_el, a_el, anion),
                 ((0, 0, 0), (.5, .5, .5), (.5, 0, 0)), (f"{m_el}1", f"{a_el}1", f"{anion}1"),
                 {f"{m_el}1": (valence, OCT)}, note)


def _rhombo_perovskite(m_el: str, a: float, c: float, d_mo: float, source: str) -> Prototype:
    # R-3c hexagonal axes: La 6a (0, 0, 1/4), M 6b (0, 0, 0), O 18e (x, 0, 1/4); the six
    # M-O bonds are equal, d = sqrt((x - 1/2)^2 a^2 + a^2/12 + c^2/144)... solved for x
    x = 0.5 - math.sqrt(max(d_mo**2 - a**2 / 12 - c**2 / 144, 0.0)) / a
    formula = f"La{m_el}O3"
    return proto(f"la{m_el.lower()}o3_r3c", formula, f"{formula}, rhombohedral perovskite "
                 "(a-a-a- tilts)", source, "R-3c", (a, a, c, *_HEX), ("La", m_el, "O"),
                 ((0, 0, .25), (0, 0, 0), (x, 0, .25)), ("La1", f"{m_el}1", "O1"),
                 {f"{m_el}1": (3.0, OCT)}, f"O x = {x:.4f} fitted to M-O = {d_mo} Å")


def _pbnm_perovskite(a_el: str, m_el: str, valence: float, lattice: tuple[float, ...],
                     a_xy: tuple[float, float], o1: tuple[float, float],
                     o2: tuple[float, float, float], source: str, note: str = "") -> Prototype:
    # Pbnm: A 4c (x, y, 1/4), M 4b (1/2, 0, 0), O1 4c (x, y, 1/4), O2 8d (x, y, z)
    formula = f"{a_el}{m_el}O3"
    return proto(f"{formula.lower()}_pbnm", formula, f"{formula}, orthorhombic perovskite "
                 "(GdFeO3 type)", source, "Pbnm", (*lattice, *_CUB), (a_el, m_el, "O", "O"),
                 ((*a_xy, .25), (.5, 0, 0), (*o1, .25), o2), (f"{a_el}1", f"{m_el}1", "O1",
                                                                  "O2"),
                 {f"{m_el}1": (valence, OCT)}, note)


def _spinel(a_el: str, b_el: str, va: float, vb: float, a: float, u: float, source: str,
            note: str = "", name: str = "") -> Prototype:
    # Fd-3m origin 1: A 8a (0, 0, 0) tetrahedral, B 16d (5/8, 5/8, 5/8) octahedral,
    # O 32e (x, x, x), x = u (origin 2) + 1/8
    formula = f"{a_el}{b_el}2O4"
    sites = {lab: v for lab, v in ((f"{a_el}1", (va, TET)), (f"{b_el}1", (vb, OCT)))
             if lab.rstrip("1") not in ION_CHARGE}
    sites = dict(sorted(sites.items(), key=lambda kv: kv[1][1][0], reverse=True))
    return proto(name or f"{formula.lower()}_spinel", formula, f"{formula}, normal spinel",
                 source, "Fd-3m", (a, a, a, *_CUB), (a_el, b_el, "O"),
                 ((0, 0, 0), (5 / 8, 5 / 8, 5 / 8), (u + .125,) * 3),
                 (f"{a_el}1", f"{b_el}1", "O1"), sites, note)


def _layered(a_el: str, m_el: str, a: float, c: float, d_mo: float, source: str,
             note: str) -> Prototype:
    # α-NaFeO2 (R-3m hexagonal axes): M 3a (0, 0, 0), A 3b (0, 0, 1/2), O 6c (0, 0, z);
    # M-O^2 = a^2/3 + ((1/3 - z) c)^2, solved for z
    z = 1 / 3 - math.sqrt(d_mo**2 - a**2 / 3) / c
    formula = f"{a_el}{m_el}O2"
    return proto(f"{formula.lower()}_layered", formula, f"{formula}, layered α-NaFeO2 type",
                 source, "R-3m", (a, a, c, *_HEX), (m_el, a_el, "O"),
                 ((0, 0, 0), (0, 0, .5), (0, 0, z)), (f"{m_el}1", f"{a_el}1", "O1"),
                 {f"{m_el}1": (3.0, OCT)}, f"O z = {z:.4f} fitted to M-O = {d_mo} Å; {note}")


def _oxyhydroxide(m_el: str, a: float, layer: float, d_mo: float, source: str) -> Prototype:
    # one MO2 layer per cell (P3m1): M 1a (0, 0, 0), O1 1b (1/3, 2/3, z), O2 1c (2/3, 1/3, -z),
    # H 1b on O1 at 0.97 Å, pointing into the gap
    z = math.sqrt(d_mo**2 - a**2 / 3) / layer
    formula = f"{m_el}OOH"
    return proto(f"{m_el.lower()}ooh_layered", formula, f"{formula}, layered oxyhydroxide",
                 source, "P3m1", (a, a, layer, *_HEX), (m_el, "O", "O", "H"),
                 ((0, 0, 0), (1 / 3, 2 / 3, z), (2 / 3, 1 / 3, -z),
                  (1 / 3, 2 / 3, z + .97 / layer)),
                 (f"{m_el}1", "O1", "O2", "H1"), {f"{m_el}1": (3.0, OCT)},
                 f"one layer per cell (stacking of the real 3R phase not kept), O z = {z:.4f} "
                 f"fitted to M-O = {d_mo} Å, H 0.97 Å above O1 along c")


def _olivine_lmpo(m_el: str, a: float, b: float, c: float, source: str,
                  note: str = "") -> Prototype:
    # Pnma: Li 4a (0, 0, 0), M 4c, P 4c, O1 4c, O2 4c, O3 8d; LiFePO4's coordinates
    # (Streltsov et al., Acta Cryst B49 (1993) 147)
    formula = f"Li{m_el}PO4"
    return proto(f"li{m_el.lower()}po4_olivine", formula, f"{formula}, olivine (triphylite)",
                 source, "Pnma", (a, b, c, *_CUB), ("Li", m_el, "P", "O", "O", "O"),
                 ((0, 0, 0), (.28222, .25, .97472), (.09486, .25, .41820),
                  (.09678, .25, .74279), (.45710, .25, .20602), (.16558, .04646, .28478)),
                 ("Li1", f"{m_el}1", "P1", "O1", "O2", "O3"), {f"{m_el}1": (2.0, OCT)}, note)


def _m2sio4(m_el: str, a: float, b: float, c: float, source: str, note: str = "") -> Prototype:
    # Pbnm olivine: M1 4a (0, 0, 0), M2 4c; fayalite's coordinates (Kudoh & Takeda, Physica
    # B 140 (1986) 333; AMCSD 0014999)
    formula = f"{m_el}2SiO4"
    return proto(f"{m_el.lower()}2sio4_olivine", formula, f"{formula}, olivine", source,
                 "Pbnm", (a, b, c, *_CUB), (m_el, m_el, "Si", "O", "O", "O"),
                 ((0, 0, 0), (.986, .2802, .25), (.4301, .0974, .25), (.7679, .0916, .25),
                  (.2104, .4541, .25), (.2881, .1649, .038)),
                 (f"{m_el}1", f"{m_el}2", "Si1", "O1", "O2", "O3"),
                 {f"{m_el}1": (2.0, OCT), f"{m_el}2": (2.0, OCT)}, note)


def _ilmenite(m_el: str, a: float, c: float, source: str, note: str = "") -> Prototype:
    # M 6c (0, 0, z), Ti 6c (0, 0, z'), O 18f; FeTiO3's coordinates (Yamanaka et al.,
    # Phys. Chem. Miner. 34 (2007) 307; AMCSD 0009082)
    formula = f"{m_el}TiO3"
    sites = {lab: v for lab, v in ((f"{m_el}1", (2.0, OCT)), ("Ti1", (4.0, OCT)))
             if lab[:-1] not in ION_CHARGE}
    return proto(f"{m_el.lower()}tio3_ilmenite", formula, f"{formula}, ilmenite", source, "R-3",
                 (a, a, c, *_HEX), (m_el, "Ti", "O"),
                 ((0, 0, .35543), (0, 0, .14643), (.31717, .02351, .24498)),
                 (f"{m_el}1", "Ti1", "O1"), sites, note)


def _k2cro4() -> Prototype:
    # β-K2SO4 type (Pnma). K and Cr on K2SO4's sites (McGinnety, Inorg. Chem. 11 (1972)
    # 2920; a = 7.476, b = 5.763, c = 10.071 Å); each O moved along its S-O direction so that
    # Cr-O = 1.65 Å in K2CrO4's cell
    a, b, c = 7.662, 5.919, 10.391
    cr = (.2329, .25, .4200)
    k2so4 = (7.476, 5.763, 10.071)
    oxygens = []
    for o in ((.0378, .25, .4160), (.2962, .25, .5577), (.3013, .0409, .3521)):
        v = [(o[k] - cr[k]) * k2so4[k] for k in range(3)]
        n = math.sqrt(sum(x * x for x in v))
        oxygens.append(tuple(round(cr[k] + v[k] * 1.65 / n / (a, b, c)[k], 5) for k in range(3)))
    return proto("k2cro4", "K2CrO4", "K2CrO4 (tarapacaite), β-K2SO4 type", "a = 7.662, b = "
                 "5.919, c = 10.391 Å (K2CrO4); atom sites of β-K2SO4 (McGinnety 1972)",
                 "Pnma", (a, b, c, *_CUB), ("K", "K", "Cr", "O", "O", "O"),
                 ((.6742, .25, .4105), (.9894, .25, .7005), cr, *oxygens),
                 ("K1", "K2", "Cr1", "O1", "O2", "O3"), {"Cr1": (6.0, TET)},
                 "K2SO4's sites with the CrO4 tetrahedron expanded to Cr-O = 1.65 Å")


# Pmmn origin choice 2 (ITA No. 59): x,y,z; -x+½,-y+½,z; -x,y+½,-z; x+½,-y,-z and inversion
_PMMN2 = tuple((sg, t) for s0, t0 in (((1, 1, 1), (0, 0, 0)), ((-1, -1, 1), (.5, .5, 0)),
                                      ((-1, 1, -1), (0, .5, 0)), ((1, -1, -1), (.5, 0, 0)))
               for sg, t in ((s0, t0), (tuple(-x for x in s0), t0)))
_PC = "pseudocubic approximation of the orthorhombic room-temperature phase"
COMPOUNDS: tuple[Prototype, ...] = (
    # --- cubic perovskites AMO3 and fluoroperovskites KMF3
    _cubic_perovskite("Sr", "Ti", 4.0, 3.905, "a = 3.905 Å, SrTiO3 (cubic at room "
                      "temperature)"),
    _cubic_perovskite("Ba", "Ti", 4.0, 4.006, "a = 4.006 Å, cubic BaTiO3 above 393 K",
                      note="room-temperature BaTiO3 is tetragonal (Ti off-centre)"),
    _cubic_perovskite("Sr", "V", 4.0, 3.842, "a = 3.842 Å, SrVO3 (cubic)"),
    _cubic_perovskite("Sr", "Cr", 4.0, 3.818, "a = 3.818 Å, SrCrO3 (cubic, high-pressure "
                      "synthesis)"),
    _cubic_perovskite("Sr", "Mn", 4.0, 3.806, "a = 3.806 Å, cubic SrMnO3 (metastable "
                      "polymorph; the stable one is 4H hexagonal)"),
    _cubic_perovskite("Sr", "Fe", 4.0, 3.851, "a = 3.851 Å, SrFeO3 (cubic)"),
    _cubic_perovskite("Sr", "Co", 4.0, 3.836, "a = 3.836 Å, SrCoO3 (cubic, fully oxidized)"),
    _cubic_perovskite("K", "Mn", 2.0, 4.1897, "a = 4.1897 Å, KMnF3 (cubic at room "
                      "temperature)", "F"),
    _cubic_perovskite("K", "Fe", 2.0, 4.122, "a = 4.122 Å, KFeF3 (cubic)", "F"),
    _cubic_perovskite("K", "Co", 2.0, 4.069, "a = 4.069 Å, KCoF3 (cubic)", "F"),
    _cubic_perovskite("K", "Ni", 2.0, 4.014, "a = 4.014 Å, KNiF3 (cubic)", "F"),
    _cubic_perovskite("K", "Zn", 2.0, 4.055, "a = 4.055 Å, KZnF3 (cubic)", "F"),
    _cubic_perovskite("La", "Ti", 3.0, 3.96, "a ≈ 3.96 Å, LaTiO3 pseudocubic cell",
                      note=_PC),
    _cubic_perovskite("La", "V", 3.0, 3.92, "a ≈ 3.92 Å, LaVO3 pseudocubic cell", note=_PC),
    # --- rhombohedral and orthorhombic perovskites
    _rhombo_perovskite("Ni", 5.4573, 13.1462, 1.933, "a = 5.4573, c = 13.1462 Å, Ni-O = "
                       "1.933 Å (LaNiO3; García-Muñoz et al., PRB 46 (1992) 4414)"),
    _rhombo_perovskite("Co", 5.4437, 13.0907, 1.925, "a = 5.4437, c = 13.0907 Å, Co-O = "
                       "1.925 Å (LaCoO3 at room temperature, rounded literature values)"),
    _pbnm_perovskite("La", "Mn", 3.0, (5.5367, 5.7473, 7.6929), (.9922, .0490),
                     (.0745, .4874), (.7256, .3066, .0384), "a = 5.5367, b = 5.7473, c = "
                     "7.6929 Å (Pbnm; LaMnO3, Rodríguez-Carvajal et al., PRB 57 (1998) "
                     "R3189), Jahn-Teller ordered Mn-O 1.91/1.97/2.18 Å",
                     "coordinates rounded to 4 digits"),
    _pbnm_perovskite("La", "Fe", 3.0, (5.5563, 5.5663, 7.8545), (.9929, .0296),
                     (.0716, .4863), (.7185, .2843, .0391), "a = 5.5563, b = 5.5663, c = "
                     "7.8545 Å (Pbnm; LaFeO3, rounded literature values)", "rounded"),
    _pbnm_perovskite("La", "Cr", 3.0, (5.477, 5.514, 7.755), (.9961, .0183),
                     (.0697, .4928), (.7204, .2799, .0362), "a = 5.477, b = 5.514, c = 7.755 "
                     "Å (Pbnm; LaCrO3, rounded literature values)", "rounded"),
    _pbnm_perovskite("Ca", "Ti", 4.0, (5.3796, 5.4423, 7.6401), (.9935, .0349),
                     (.0707, .4842), (.7111, .2884, .0371), "a = 5.3796, b = 5.4423, c = "
                     "7.6401 Å (Pbnm; CaTiO3 perovskite, Sasaki et al., Acta Cryst C43 "
                     "(1987) 1668)", "coordinates rounded"),
    # --- spinels (normal; inversion ignored)
    _spinel("Li", "Mn", 1.0, 3.5, 8.2468, .2631, "a = 8.2468 Å, u = 0.2631 (LiMn2O4 at room "
            "temperature, rounded literature values)", "Mn3+/Mn4+ disordered: every Mn 3.5"),
    _spinel("Mn", "Fe", 2.0, 3.0, 8.511, .2615, "a = 8.511 Å, u ≈ 0.2615 (jacobsite MnFe2O4, "
            "rounded)", "~20 % inversion in the real phase ignored"),
    _spinel("Fe", "Cr", 2.0, 3.0, 8.378, .2624, "a = 8.378 Å, u ≈ 0.2624 (chromite FeCr2O4, "
            "rounded)", "u rounded"),
    _spinel("Co", "Cr", 2.0, 3.0, 8.332, .2636, "a = 8.332 Å, u ≈ 0.2636 (CoCr2O4, rounded)",
            "u rounded"),
    _spinel("Mn", "Cr", 2.0, 3.0, 8.437, .2645, "a = 8.437 Å, u ≈ 0.2645 (MnCr2O4, rounded)",
            "u rounded"),
    _spinel("Ni", "Cr", 2.0, 3.0, 8.318, .2605, "a = 8.318 Å, u ≈ 0.2605 (cubic NiCr2O4 above "
            "310 K, rounded)", "room-temperature NiCr2O4 is tetragonal (Jahn-Teller Ni)"),
    _spinel("Zn", "Al", 2.0, 3.0, 8.0848, .2636, "a = 8.0848 Å, u = 0.2636 (gahnite ZnAl2O4)"),
    _spinel("Co", "Al", 2.0, 3.0, 8.1068, .2643, "a = 8.1068 Å, u ≈ 0.2643 (CoAl2O4, "
            "rounded)", "u rounded; a few per cent inversion ignored"),
    _spinel("Fe", "Al", 2.0, 3.0, 8.1534, .2642, "a = 8.1534 Å, u ≈ 0.264 (hercynite FeAl2O4, "
            "rounded)", "u rounded; inversion ignored"),
    _spinel("Mg", "V", 2.0, 3.0, 8.42, .2599, "a = 8.42 Å, u ≈ 0.260 (MgV2O4, rounded)",
            "u rounded"),
    _spinel("Zn", "V", 2.0, 3.0, 8.41, .2600, "a = 8.41 Å, u ≈ 0.260 (ZnV2O4, rounded)",
            "u rounded"),
    _spinel("Zn", "Co", 2.0, 3.0, 8.095, .2627, "a = 8.095 Å, u ≈ 0.263 (ZnCo2O4, low-spin "
            "Co(III), rounded)", "u rounded"),
    _spinel("Mg", "Cr", 2.0, 3.0, 8.333, .2612, "a = 8.333 Å, u ≈ 0.261 (magnesiochromite "
            "MgCr2O4, rounded)", "u rounded"),
    _spinel("Zn", "Ga", 2.0, 3.0, 8.335, .2610, "a = 8.335 Å, u ≈ 0.261 (ZnGa2O4, rounded)",
            "u rounded"),
    _spinel("Mg", "Ti", 2.0, 3.0, 8.509, .2611, "a = 8.509 Å, u ≈ 0.261 (MgTi2O4 cubic phase, "
            "rounded)", "u rounded"),
    # --- layered LiMO2 / NaFeO2
    _layered("Li", "Co", 2.8156, 14.0542, 1.921, "a = 2.8156, c = 14.0542 Å, Co-O = 1.921 Å "
             "(LiCoO2, Akimoto et al., J. Solid State Chem. 141 (1998) 298)", "ideal order"),
    _layered("Li", "Ni", 2.8783, 14.1998, 1.970, "a = 2.8783, c = 14.1998 Å, Ni-O = 1.97 Å "
             "(LiNiO2, rounded literature values)", "Li/Ni mixing and local Jahn-Teller "
             "distortion ignored"),
    _layered("Li", "Cr", 2.899, 14.41, 1.99, "a = 2.899, c = 14.41 Å, Cr-O ≈ 1.99 Å (LiCrO2, "
             "rounded)", "rounded"),
    _layered("Li", "V", 2.84, 14.80, 2.00, "a ≈ 2.84, c ≈ 14.80 Å, V-O ≈ 2.00 Å (LiVO2 above "
             "its 460 K trimerization, rounded)", "V-V trimers of the room-temperature phase "
             "ignored"),
    _layered("Na", "Cr", 2.974, 15.96, 1.99, "a = 2.974, c = 15.96 Å, Cr-O ≈ 1.99 Å (NaCrO2, "
             "rounded)", "rounded"),
    _layered("Na", "Fe", 3.022, 16.09, 2.02, "a = 3.022, c = 16.09 Å, Fe-O ≈ 2.02 Å (α-NaFeO2, "
             "rounded)", "rounded"),
    # --- layered oxyhydroxides MOOH
    _oxyhydroxide("Co", 2.851, 4.38, 1.90, "a = 2.851 Å, layer spacing 4.38 Å, Co-O 1.90 Å "
                  "(heterogenite CoOOH, rounded literature values)"),
    _oxyhydroxide("Ni", 2.82, 4.80, 1.90, "a ≈ 2.82 Å, layer spacing ≈ 4.8 Å, Ni-O ≈ 1.90 Å "
                  "(β-NiOOH, rounded literature values)"),
    _oxyhydroxide("Cr", 2.98, 4.45, 1.98, "a ≈ 2.98 Å, layer spacing ≈ 4.45 Å, Cr-O ≈ 1.98 Å "
                  "(grimaldiite CrOOH, rounded literature values)"),
    # --- olivines
    _olivine_lmpo("Fe", 10.332, 6.010, 4.692, "a = 10.332, b = 6.010, c = 4.692 Å (LiFePO4, "
                  "Streltsov et al., Acta Cryst B49 (1993) 147)"),
    _olivine_lmpo("Mn", 10.446, 6.104, 4.744, "a = 10.446, b = 6.104, c = 4.744 Å (LiMnPO4)",
                  "LiFePO4's fractional coordinates"),
    _olivine_lmpo("Co", 10.20, 5.92, 4.70, "a = 10.20, b = 5.92, c = 4.70 Å (LiCoPO4)",
                  "LiFePO4's fractional coordinates"),
    _olivine_lmpo("Ni", 10.03, 5.85, 4.68, "a = 10.03, b = 5.85, c = 4.68 Å (LiNiPO4)",
                  "LiFePO4's fractional coordinates"),
    _m2sio4("Fe", 4.822, 10.488, 6.094, "a = 4.822, b = 10.488, c = 6.094 Å (Pbnm; fayalite, "
            "Kudoh & Takeda, Physica B 140 (1986) 333)"),
    _m2sio4("Mn", 4.90, 10.60, 6.26, "a ≈ 4.90, b ≈ 10.60, c ≈ 6.26 Å (tephroite Mn2SiO4)",
            "fayalite's fractional coordinates"),
    _m2sio4("Co", 4.78, 10.30, 6.00, "a ≈ 4.78, b ≈ 10.30, c ≈ 6.00 Å (Co2SiO4)",
            "fayalite's fractional coordinates"),
    _m2sio4("Ni", 4.73, 10.12, 5.91, "a ≈ 4.73, b ≈ 10.12, c ≈ 5.91 Å (liebenbergite "
            "Ni2SiO4)", "fayalite's fractional coordinates"),
    # --- ilmenites MTiO3
    _ilmenite("Fe", 5.0881, 14.091, "a = 5.0881, c = 14.091 Å (FeTiO3, Yamanaka et al., Phys. "
              "Chem. Miner. 34 (2007) 307)"),
    _ilmenite("Mn", 5.137, 14.283, "a = 5.137, c = 14.283 Å (pyrophanite MnTiO3)",
              "ilmenite's fractional coordinates"),
    _ilmenite("Co", 5.066, 13.918, "a = 5.066, c = 13.918 Å (CoTiO3)",
              "ilmenite's fractional coordinates"),
    _ilmenite("Ni", 5.030, 13.79, "a = 5.030, c = 13.79 Å (NiTiO3)",
              "ilmenite's fractional coordinates"),
    _ilmenite("Zn", 5.078, 13.927, "a = 5.078, c = 13.927 Å (ilmenite-type ZnTiO3)",
              "ilmenite's fractional coordinates"),
    _ilmenite("Mg", 5.054, 13.898, "a = 5.054, c = 13.898 Å (geikielite MgTiO3)",
              "ilmenite's fractional coordinates"),
    # --- V(V), Mn(III), Cr(VI)
    proto("v2o5", "V2O5", "V2O5 (shcherbinaite), layers of VO5 square pyramids", "a = 11.512, "
          "b = 3.564, c = 4.368 Å, V (0.10118, 1/4, 0.89131), O1 (0.1043, 1/4, 0.5313), O3 "
          "(1/4, 1/4, 0.001) (Pmmn origin 2; Enjalbert & Galy, Acta Cryst C42 (1986) 1467)",
          "Pmmn", (11.512, 3.564, 4.368, *_CUB), ("V", "O", "O", "O"),
          ((.10118, .25, .89131), (.1043, .25, .5313), (-.0689, .25, .0031), (.25, .25, .001)),
          ("V1", "O1", "O2", "O3"), {"V1": (5.0, SQP)},
          "O2 placed to reproduce the published V-O distances (1.88 x2, 2.02 Å)", _PMMN2),
    proto("mn2o3_bixbyite", "Mn2O3", "α-Mn2O3, bixbyite", "a = 9.4157 Å (cubic α-Mn2O3 "
          "above 300 K, Geller, Acta Cryst B27 (1971) 821); In2O3's coordinates (Marezio, Acta "
          "Cryst 20 (1966) 723)", "Ia-3", (9.4157, 9.4157, 9.4157, *_CUB), ("Mn", "Mn", "O"),
          ((.25, .25, .25), (-.0336, 0, .25), (.3905, .1529, .3817)), ("Mn1", "Mn2", "O1"),
          {"Mn1": (3.0, OCT), "Mn2": (3.0, OCT)}, "In2O3's fractional coordinates; the "
          "room-temperature phase is orthorhombic with Jahn-Teller distorted Mn"),
    _k2cro4(),
    # YVO4, zircon type (I4_1/amd origin 1 = origin 2 - (0, 1/4, -1/8)): Y 4a, V 4b, O 16h
    proto("yvo4_zircon", "YVO4", "YVO4 (wakefieldite-(Y)), zircon type, VO4 tetrahedra",
          "a = 7.1183, c = 6.2893 Å, O (0, 0.4346, 0.2013) in origin 2 (YVO4, rounded "
          "literature values)", "I4_1/amd", (7.1183, 7.1183, 6.2893, *_CUB), ("Y", "V", "O"),
          ((0, .5, .25), (0, 0, .5), (0, .1846, .3263)), ("Y1", "V1", "O1"),
          {"V1": (5.0, TET)}, "O coordinates rounded"),
)
