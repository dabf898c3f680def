"""Fluorides, chlorides, sulfides, carbonates and hydroxides of the 3d elements Ti...Zn.

Same conventions as :mod:`edgestream_models.compounds3d` (``proto``: absorber label ->
(formal valence, (CN, geometry family)); literature in ``source``; ``approximate`` with a
``note`` where a free coordinate was fitted to a published bond length or borrowed from an
isostructural compound). Pyrite-type disulfides hold S2 2- dimers (``CHARGE_OVERRIDE``: S -1).
"""

from __future__ import annotations

import math

from edgestream_models.compounds3d import CHARGE_OVERRIDE, OCT, TET, proto
from edgestream_models.prototypes import Prototype

_CUB = (90.0, 90.0, 90.0)
_HEX = (90.0, 90.0, 120.0)


def _rutile_f2(el: str, a: float, c: float, x: float, source: str, note: str = "") -> Prototype:
    # P4_2/mnm: M 2a (0, 0, 0), F 4f (x, x, 0)
    return proto(f"{el.lower()}f2_rutile", f"{el}F2", f"{el}F2, rutile type", source,
                 "P4_2/mnm", (a, a, c, *_CUB), (el, "F"), ((0, 0, 0), (x, x, 0)),
                 (f"{el}1", "F1"), {f"{el}1": (2.0, OCT)}, note)


def _cdcl2(el: str, a: float, c: float, d: float, source: str) -> Prototype:
    # R-3m hexagonal axes: M 3a (0, 0, 0), Cl 6c (0, 0, z); M-Cl^2 = a^2/3 + ((1/3 - z) c)^2
    z = 1 / 3 - math.sqrt(d**2 - a**2 / 3) / c
    return proto(f"{el.lower()}cl2_cdcl2", f"{el}Cl2", f"{el}Cl2, CdCl2 type", source, "R-3m",
                 (a, a, c, *_HEX), (el, "Cl"), ((0, 0, 0), (0, 0, z)), (f"{el}1", "Cl1"),
                 {f"{el}1": (2.0, OCT)}, f"Cl z = {z:.4f} fitted to M-Cl = {d} Å")


def _cdi2(el: str, x_el: str, a: float, c: float, d: float, source: str,
          fitted: bool = True) -> Prototype:
    # P-3m1: M 1a (0, 0, 0), X 2d (1/3, 2/3, z); M-X^2 = a^2/3 + (z c)^2
    z = math.sqrt(d**2 - a**2 / 3) / c
    formula = f"{el}{x_el}2"
    return proto(f"{formula.lower()}_cdi2", formula, f"{formula}, CdI2 type", source, "P-3m1",
                 (a, a, c, *_HEX), (el, x_el), ((0, 0, 0), (1 / 3, 2 / 3, z)),
                 (f"{el}1", f"{x_el}1"), {f"{el}1": (4.0 if x_el == "S" else 2.0, OCT)},
                 f"{x_el} z = {z:.4f} fitted to M-{x_el} = {d} Å" if fitted else "")


def _vf3(el: str, a: float, c: float, d: float, source: str) -> Prototype:
    # R-3c hexagonal axes (VF3 type): M 6b (0, 0, 0), F 18e (x, 0, 1/4); six equal M-F,
    # d^2 = a^2 ((x - 1/2)^2 + 1/12) + c^2/144, solved for x < 1/2
    x = 0.5 - math.sqrt(d**2 - a**2 / 12 - c**2 / 144) / a
    return proto(f"{el.lower()}f3_vf3", f"{el}F3", f"{el}F3, VF3 type", source, "R-3c",
                 (a, a, c, *_HEX), (el, "F"), ((0, 0, 0), (x, 0, .25)), (f"{el}1", "F1"),
                 {f"{el}1": (3.0, OCT)}, f"F x = {x:.4f} fitted to M-F = {d} Å")


def _rocksalt(el: str, x_el: str, valence: float, a: float, source: str,
              note: str = "") -> Prototype:
    # Fm-3m: M 4a (0, 0, 0), X 4b (1/2, 1/2, 1/2)
    formula = f"{el}{x_el}"
    return proto(f"{formula.lower()}_rocksalt", formula, f"{formula}, rock salt", source,
                 "Fm-3m", (a, a, a, *_CUB), (el, x_el), ((0, 0, 0), (.5, .5, .5)),
                 (f"{el}1", f"{x_el}1"), {f"{el}1": (valence, OCT)}, note)


def _pyrite(el: str, a: float, x: float, source: str, note: str = "") -> Prototype:
    # Pa-3: M 4a (0, 0, 0), S 8c (x, x, x); S2 2- dimers
    name = f"{el.lower()}s2_pyrite"
    CHARGE_OVERRIDE[name] = {"S": -1}
    return proto(name, f"{el}S2", f"{el}S2, pyrite type (S2 dimers)", source, "Pa-3",
                 (a, a, a, *_CUB), (el, "S"), ((0, 0, 0), (x, x, x)), (f"{el}1", "S1"),
                 {f"{el}1": (2.0, OCT)}, note)


def _nias(el: str, a: float, c: float, source: str, note: str = "") -> Prototype:
    # P6_3/mmc: M 2a (0, 0, 0), S 2c (1/3, 2/3, 1/4)
    return proto(f"{el.lower()}s_nias", f"{el}S", f"{el}S, NiAs type", source, "P6_3/mmc",
                 (a, a, c, *_HEX), (el, "S"), ((0, 0, 0), (1 / 3, 2 / 3, .25)),
                 (f"{el}1", "S1"), {f"{el}1": (2.0, OCT)}, note)


def _calcite(el: str, a: float, c: float, source: str, d_co: float = 1.286) -> Prototype:
    # R-3c hexagonal axes: M 6b (0, 0, 0), C 6a (0, 0, 1/4), O 18e (x, 0, 1/4), C-O = x a
    x = round(d_co / a, 4)
    return proto(f"{el.lower()}co3_calcite", f"{el}CO3", f"{el}CO3, calcite type", source,
                 "R-3c", (a, a, c, *_HEX), (el, "C", "O"), ((0, 0, 0), (0, 0, .25), (x, 0, .25)),
                 (f"{el}1", "C1", "O1"), {f"{el}1": (2.0, OCT)},
                 f"O x = {x} from C-O = {d_co} Å")


def _brucite(el: str, a: float, c: float, d: float, source: str) -> Prototype:
    # P-3m1: M 1a (0, 0, 0), O 2d (1/3, 2/3, z), H 2d (1/3, 2/3, z + 0.97 Å / c)
    z = math.sqrt(d**2 - a**2 / 3) / c
    return proto(f"{el.lower()}oh2_brucite", f"{el}(OH)2", f"{el}(OH)2, brucite type", source,
                 "P-3m1", (a, a, c, *_HEX), (el, "O", "H"),
                 ((0, 0, 0), (1 / 3, 2 / 3, z), (1 / 3, 2 / 3, z + .97 / c)),
                 (f"{el}1", "O1", "H1"), {f"{el}1": (2.0, OCT)},
                 f"O z = {z:.4f} fitted to M-O = {d} Å; O-H 0.97 Å along c")


SALTS: tuple[Prototype, ...] = (
    # --- rutile-type difluorides
    _rutile_f2("Mn", 4.8734, 3.3099, .3050, "a = 4.8734, c = 3.3099 Å, F x = 0.305 (MnF2, "
               "Baur & Khan, Acta Cryst B27 (1971) 2133)"),
    _rutile_f2("Fe", 4.6966, 3.3091, .3011, "a = 4.6966, c = 3.3091 Å, F x ≈ 0.301 (FeF2, "
               "rounded)", "F x rounded"),
    _rutile_f2("Co", 4.6951, 3.1796, .3049, "a = 4.6951, c = 3.1796 Å, F x ≈ 0.305 (CoF2, "
               "rounded)", "F x rounded"),
    _rutile_f2("Ni", 4.6506, 3.0836, .3024, "a = 4.6506, c = 3.0836 Å, F x ≈ 0.302 (NiF2, "
               "rounded)", "F x rounded"),
    _rutile_f2("Zn", 4.7034, 3.1335, .3033, "a = 4.7034, c = 3.1335 Å, F x ≈ 0.303 (ZnF2, "
               "rounded)", "F x rounded"),
    # --- dichlorides
    _cdcl2("Mn", 3.7106, 17.590, 2.59, "a = 3.7106, c = 17.59 Å, Mn-Cl 2.59 Å (MnCl2)"),
    _cdcl2("Fe", 3.593, 17.54, 2.50, "a = 3.593, c = 17.54 Å, Fe-Cl 2.50 Å (FeCl2)"),
    _cdcl2("Co", 3.544, 17.43, 2.46, "a = 3.544, c = 17.43 Å, Co-Cl 2.46 Å (CoCl2)"),
    _cdcl2("Ni", 3.4806, 17.3997, 2.43, "a = 3.4806, c = 17.400 Å, Ni-Cl 2.43 Å (NiCl2)"),
    _cdi2("Ti", "Cl", 3.561, 5.875, 2.52, "a = 3.561, c = 5.875 Å, Ti-Cl ≈ 2.52 Å (TiCl2, "
          "rounded)"),
    _cdi2("V", "Cl", 3.601, 5.835, 2.49, "a = 3.601, c = 5.835 Å, V-Cl ≈ 2.49 Å (VCl2, "
          "rounded)"),
    # --- sulfides
    _cdi2("Ti", "S", 3.4073, 5.6953, 2.429, "a = 3.4073, c = 5.6953 Å, S z = 0.2501 (TiS2; "
          "Ti-S 2.429 Å)", fitted=False),
    _pyrite("Fe", 5.4166, .3848, "a = 5.4166 Å, S x = 0.3848 (pyrite FeS2; Brostigen & "
            "Kjekshus, Acta Chem. Scand. 23 (1969) 2186)"),
    _pyrite("Co", 5.5385, .3899, "a = 5.5385 Å, S x ≈ 0.390 (cattierite CoS2, rounded)",
            "S x rounded"),
    _pyrite("Ni", 5.6873, .3948, "a = 5.6873 Å, S x ≈ 0.395 (vaesite NiS2, rounded)",
            "S x rounded"),
    _pyrite("Mn", 6.1014, .4012, "a = 6.1014 Å, S x ≈ 0.401 (hauerite MnS2, rounded)",
            "S x rounded"),
    _nias("Ni", 3.4395, 5.3514, "a = 3.4395, c = 5.3514 Å (α-NiS, NiAs type)"),
    _nias("Co", 3.367, 5.160, "a = 3.367, c = 5.160 Å (Co1-xS, NiAs type, rounded)",
          "Co vacancies of the real phase ignored"),
    _nias("Fe", 3.446, 5.877, "a = 3.446, c = 5.877 Å (high-temperature FeS, NiAs type)",
          "the room-temperature troilite is a √3 x 2 superstructure with Fe triangles"),
    _rocksalt("Mn", "S", 2.0, 5.2236, "a = 5.2236 Å (alabandite MnS)"),
    proto("znse_zincblende", "ZnSe", "stilleite ZnSe, zincblende B3", "a = 5.6684 Å (ZnSe)",
          "F-43m", (5.6684, 5.6684, 5.6684, *_CUB), ("Zn", "Se"), ((0, 0, 0), (.25, .25, .25)),
          ("Zn1", "Se1"), {"Zn1": (2.0, TET)}),
    # --- nitrides (rock salt, M(III))
    _rocksalt("Ti", "N", 3.0, 4.241, "a = 4.241 Å (osbornite TiN)"),
    _rocksalt("V", "N", 3.0, 4.139, "a = 4.139 Å (VN)"),
    _rocksalt("Cr", "N", 3.0, 4.149, "a = 4.149 Å (cubic CrN above 280 K)",
              "room-temperature CrN is cubic; its orthorhombic phase is below 280 K"),
    # --- trifluorides (VF3 type)
    _vf3("Ti", 5.139, 13.93, 1.97, "a ≈ 5.139, c ≈ 13.93 Å, Ti-F ≈ 1.97 Å (TiF3, rounded)"),
    _vf3("V", 5.170, 13.40, 1.94, "a ≈ 5.170, c ≈ 13.40 Å, V-F ≈ 1.94 Å (VF3, rounded)"),
    _vf3("Cr", 4.986, 13.21, 1.90, "a ≈ 4.986, c ≈ 13.21 Å, Cr-F ≈ 1.90 Å (CrF3, rounded)"),
    _vf3("Fe", 5.200, 13.32, 1.92, "a ≈ 5.200, c ≈ 13.32 Å, Fe-F ≈ 1.92 Å (FeF3, rounded)"),
    _vf3("Co", 5.040, 13.30, 1.89, "a ≈ 5.04, c ≈ 13.30 Å, Co-F ≈ 1.89 Å (CoF3, rounded)"),
    proto("zns_sphalerite", "ZnS", "sphalerite ZnS, zincblende B3", "a = 5.4093 Å (sphalerite)",
          "F-43m", (5.4093, 5.4093, 5.4093, *_CUB), ("Zn", "S"), ((0, 0, 0), (.25, .25, .25)),
          ("Zn1", "S1"), {"Zn1": (2.0, TET)}),
    proto("zns_wurtzite", "ZnS", "wurtzite ZnS, B4", "a = 3.8227, c = 6.2607 Å, u ≈ 0.375 "
          "(wurtzite-2H ZnS, rounded)", "P6_3mc", (3.8227, 3.8227, 6.2607, *_HEX), ("Zn", "S"),
          ((1 / 3, 2 / 3, 0), (1 / 3, 2 / 3, .375)), ("Zn1", "S1"), {"Zn1": (2.0, TET)},
          "ideal u = 3/8"),
    proto("cufes2_fe", "CuFeS2", "chalcopyrite, E1_1 (Fe site)", "a = 5.289, c = 10.423 Å, S "
          "8d x = 0.2574 (Hall & Stewart, Acta Cryst B29 (1973) 579)", "I-42d",
          (5.289, 5.289, 10.423, *_CUB), ("Cu", "Fe", "S"), ((0, 0, 0), (0, 0, .5),
                                                            (.2574, .25, .125)),
          ("Cu1", "Fe1", "S1"), {"Fe1": (3.0, TET)}),
    # --- carbonates (calcite type)
    _calcite("Mn", 4.7682, 15.6354, "a = 4.7682, c = 15.6354 Å (rhodochrosite MnCO3)"),
    _calcite("Fe", 4.6916, 15.3796, "a = 4.6916, c = 15.3796 Å (siderite FeCO3)"),
    _calcite("Co", 4.6581, 14.958, "a = 4.6581, c = 14.958 Å (spherocobaltite CoCO3)"),
    _calcite("Ni", 4.6117, 14.735, "a = 4.6117, c = 14.735 Å (NiCO3, gaspéite type)"),
    _calcite("Zn", 4.6526, 15.0257, "a = 4.6526, c = 15.0257 Å (smithsonite ZnCO3)"),
    # --- hydroxides (brucite type)
    _brucite("Mn", 3.322, 4.734, 2.20, "a = 3.322, c = 4.734 Å, Mn-O ≈ 2.20 Å (pyrochroite "
             "Mn(OH)2)"),
    _brucite("Fe", 3.262, 4.596, 2.14, "a = 3.262, c = 4.596 Å, Fe-O ≈ 2.14 Å (Fe(OH)2)"),
    _brucite("Co", 3.186, 4.653, 2.10, "a = 3.186, c = 4.653 Å, Co-O ≈ 2.10 Å (β-Co(OH)2)"),
    _brucite("Ni", 3.126, 4.605, 2.07, "a = 3.126, c = 4.605 Å, Ni-O ≈ 2.07 Å (theophrastite "
             "β-Ni(OH)2)"),
)
