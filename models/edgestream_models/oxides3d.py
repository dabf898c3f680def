"""Binary (and a few spinel) oxides of the 3d elements Ti...Zn for FEFF10 K-edge spectra.

Built like :mod:`edgestream_models.prototypes` (the same :class:`Prototype` class: space group
in pymatgen's default setting, ITA origin choice 1 where there are two; lattice constants in
Å; Wyckoff coordinates), with ``cu_sites`` holding the absorber labels of any element
(``Fe1`` → (CN, motif)). Room-temperature structures from the literature named in ``source``;
where the real phase is non-stoichiometric or the values were rounded, ``approximate`` is set
and ``note`` says how.

Formal valences: the charge-balance value of each site; spinels carry site valences
(``SITE_VALENCE``: magnetite's octahedral site is Fe2.5 on average, Co3O4 has Co(II) on the
tetrahedral and Co(III) on the octahedral site). Labels from bond valence can replace these
later without rerunning FEFF (labels are not part of the input).

Coverage by element and valence: Ti(II, III, IV), V(II, III, IV), Cr(III, IV), Mn(II, IV),
Fe(II, III, 2.5), Co(II, III), Ni(II), Zn(II); the other families are in
:mod:`compounds3d` and :mod:`salts3d`, the variants in :func:`elements3d.variants`.
"""

from __future__ import annotations

from edgestream_models.prototypes import Prototype

_CUB = (90.0, 90.0, 90.0)
_HEX = (90.0, 90.0, 120.0)
_OCT = (6, "octahedral")
_TET = (4, "tetrahedral")


def _rocksalt(el: str, valence: float, a: float, source: str, note: str = "") -> Prototype:
    return Prototype(f"{el.lower()}o_rocksalt", f"{el}O", f"{el}O, B1 (rock salt)", source,
                     "Fm-3m", (a, a, a, *_CUB), (el, "O"), ((0, 0, 0), (.5, .5, .5)),
                     (f"{el}1", "O1"), valence, f"{el}({_roman(valence)})",
                     {f"{el}1": _OCT}, note, approximate=bool(note))


def _corundum(el: str, a: float, c: float, z: float, x: float, source: str,
              note: str = "") -> Prototype:
    # R-3c, hexagonal axes: M 12c (0, 0, z), O 18e (x, 0, 1/4); the MO6 octahedron is
    # trigonally distorted (3 short + 3 long M-O)
    return Prototype(f"{el.lower()}2o3_corundum", f"{el}2O3", f"{el}2O3, corundum", source,
                     "R-3c", (a, a, c, *_HEX), (el, "O"), ((0, 0, z), (x, 0, .25)),
                     (f"{el}1", "O1"), 3.0, f"{el}(III)", {f"{el}1": _OCT}, note,
                     approximate=bool(note))


def _rutile(el: str, a: float, c: float, x: float, source: str, note: str = "") -> Prototype:
    # P4_2/mnm: M 2a (0, 0, 0), O 4f (x, x, 0)
    return Prototype(f"{el.lower()}o2_rutile", f"{el}O2", f"{el}O2, rutile", source,
                     "P4_2/mnm", (a, a, c, *_CUB), (el, "O"), ((0, 0, 0), (x, x, 0)),
                     (f"{el}1", "O1"), 4.0, f"{el}({_roman(4.0)})", {f"{el}1": _OCT}, note,
                     approximate=bool(note))


def _spinel(name: str, formula: str, a_el: str, b_el: str, a: float, x: float,
            valence: float, source: str, note: str = "") -> Prototype:
    # Fd-3m origin choice 1: A 8a (0, 0, 0) tetrahedral, B 16d (5/8, 5/8, 5/8) octahedral,
    # O 32e (x, x, x) with x = u(origin 2) + 1/8
    a_lab, b_lab = f"{a_el}1", (f"{b_el}2" if b_el == a_el else f"{b_el}1")
    return Prototype(name, formula, f"{formula}, spinel", source, "Fd-3m", (a, a, a, *_CUB),
                     (a_el, b_el, "O"), ((0, 0, 0), (5 / 8, 5 / 8, 5 / 8), (x, x, x)),
                     (a_lab, b_lab, "O1"), valence, "mixed" if a_el == b_el else
                     f"{b_el}({_roman(valence)})", {a_lab: _TET, b_lab: _OCT}, note,
                     approximate=bool(note))


def _roman(v: float) -> str:
    return {2.0: "II", 3.0: "III", 4.0: "IV"}.get(v, f"{v:g}")


_RS = "rock-salt lattice constant (Wyckoff, Crystal Structures vol. 1, 1963)"
OXIDES: tuple[Prototype, ...] = (
    # --- rock salt MO, M(II)
    _rocksalt("Ti", 2.0, 4.177, "a = 4.177 Å, cubic TiO", "real TiO has ~15 % ordered "
              "vacancies on both sublattices; here the ideal rock salt"),
    _rocksalt("V", 2.0, 4.062, "a = 4.062 Å, cubic VO", "VO is non-stoichiometric (VO0.8-1.3) "
              "with vacancies; here the ideal rock salt"),
    _rocksalt("Mn", 2.0, 4.4448, f"a = 4.4448 Å; {_RS}"),
    _rocksalt("Fe", 2.0, 4.3088, "a = 4.3088 Å, wüstite", "real wüstite is Fe1-xO "
              "(x ≈ 0.05) with Fe(III) defect clusters; here the ideal rock salt"),
    _rocksalt("Co", 2.0, 4.2615, f"a = 4.2615 Å; {_RS}"),
    _rocksalt("Ni", 2.0, 4.1771, f"a = 4.1771 Å; {_RS}"),
    # --- wurtzite ZnO, Zn(II) tetrahedral
    Prototype("zno_wurtzite", "ZnO", "ZnO, B4 (wurtzite, zincite)", "a = 3.2498, c = 5.2066 "
              "Å, u = 0.3819 (Kisi & Elcombe, Acta Cryst C45 (1989) 1867)", "P6_3mc",
              (3.2498, 3.2498, 5.2066, *_HEX), ("Zn", "O"), ((1 / 3, 2 / 3, 0),
                                                              (1 / 3, 2 / 3, 0.3819)),
              ("Zn1", "O1"), 2.0, "Zn(II)", {"Zn1": _TET}),
    # --- corundum M2O3, M(III)
    _corundum("Ti", 5.157, 13.61, 0.3447, 0.3130, "a = 5.157, c = 13.61 Å, Ti z = 0.3447, O x "
              "= 0.313 (Ti2O3 at room temperature, rounded literature values)",
              "coordinates rounded"),
    _corundum("V", 4.952, 14.003, 0.3463, 0.3120, "a = 4.952, c = 14.003 Å, V z = 0.3463, O x "
              "= 0.312 (paramagnetic metallic V2O3 at room temperature, rounded)",
              "coordinates rounded"),
    _corundum("Cr", 4.9588, 13.5942, 0.34748, 0.30614, "a = 4.9588, c = 13.5942 Å, Cr z = "
              "0.34748, O x = 0.30614 (eskolaite; Newnham & de Haan, Z. Kristallogr. 117 "
              "(1962) 235)"),
    _corundum("Fe", 5.0356, 13.7489, 0.35530, 0.3059, "a = 5.0356, c = 13.7489 Å, Fe z = "
              "0.3553, O x = 0.3059 (hematite; Blake et al., Am. Mineral. 51 (1966) 123)"),
    # --- rutile MO2, M(IV)
    _rutile("Ti", 4.5937, 2.9587, 0.30478, "a = 4.5937, c = 2.9587 Å, O x = 0.30478 (rutile; "
            "Howard et al., Acta Cryst B47 (1991) 462)"),
    _rutile("V", 4.5546, 2.8514, 0.3001, "a = 4.5546, c = 2.8514 Å, O x = 0.3001 (metallic "
            "rutile VO2 above 341 K; McWhan et al., PRB 10 (1974) 490)",
            "the room-temperature phase is monoclinic M1 with V-V dimers; here the rutile "
            "phase"),
    _rutile("Cr", 4.4190, 2.9154, 0.3030, "a = 4.419, c = 2.915 Å, O x ≈ 0.303 (CrO2, "
            "rounded literature values)", "O x rounded"),
    _rutile("Mn", 4.3983, 2.8730, 0.3046, "a = 4.3983, c = 2.8730 Å, O x = 0.3046 "
            "(pyrolusite β-MnO2; Bolzan et al., Aust. J. Chem. 46 (1993) 939)"),
    # --- anatase TiO2 (I4_1/amd origin 1: Ti 4a (0, 0, 0), O 8e (0, 0, z))
    Prototype("tio2_anatase", "TiO2", "TiO2, anatase", "a = 3.7845, c = 9.5143 Å, O z = "
              "0.2081 (origin 1; Howard et al., Acta Cryst B47 (1991) 462)", "I4_1/amd",
              (3.7845, 3.7845, 9.5143, *_CUB), ("Ti", "O"), ((0, 0, 0), (0, 0, 0.2081)),
              ("Ti1", "O1"), 4.0, "Ti(IV)", {"Ti1": _OCT}),
    # --- spinels
    _spinel("fe3o4_spinel", "Fe3O4", "Fe", "Fe", 8.3967, 0.3799, 8 / 3, "a = 8.3967 Å, u = "
            "0.2549 (origin 2) (magnetite; Fleet, Acta Cryst B37 (1981) 917)"),
    _spinel("co3o4_spinel", "Co3O4", "Co", "Co", 8.0837, 0.3881, 8 / 3, "a = 8.084 Å, u = "
            "0.2631 (origin 2) (Co3O4, rounded literature values)", "u rounded"),
    _spinel("znfe2o4_spinel", "ZnFe2O4", "Zn", "Fe", 8.441, 0.3850, 3.0, "a = 8.441 Å, u ≈ "
            "0.260 (origin 2) (franklinite, normal spinel; rounded literature values)",
            "u rounded; real ZnFe2O4 has a few per cent inversion"),
    _spinel("zncr2o4_spinel", "ZnCr2O4", "Zn", "Cr", 8.327, 0.3867, 3.0, "a = 8.327 Å, u ≈ "
            "0.2617 (origin 2) (ZnCr2O4 normal spinel; rounded literature values)",
            "u rounded"),
)
# Site valences where they differ from the prototype's (spinels): name → label → valence
SITE_VALENCE: dict[str, dict[str, float]] = {
    "fe3o4_spinel": {"Fe1": 3.0, "Fe2": 2.5},
    "co3o4_spinel": {"Co1": 2.0, "Co2": 3.0},
    "znfe2o4_spinel": {"Zn1": 2.0, "Fe1": 3.0},
    "zncr2o4_spinel": {"Zn1": 2.0, "Cr1": 3.0},
}


def absorbing_elements(p: Prototype) -> list[str]:
    """The 3d elements of ``p`` that have absorber labels (``cu_sites``)."""
    return list(dict.fromkeys(lab.rstrip("0123456789") for lab in p.cu_sites))
