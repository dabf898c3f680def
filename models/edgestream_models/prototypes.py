"""Non-oxide Cu structures for FEFF10 training spectra, built from space group + Wyckoff sites.

Each :class:`Prototype` holds its space group (pymatgen's default setting, ITA origin choice 1
where there are two), lattice constants (Å, degrees) and Wyckoff coordinates from the
literature named in ``source``, with a site label per Wyckoff position (``Cu1``, ``S2`` ...).
Where the literature structure is disordered or was not at hand it is approximated, and
``note`` says how (``approximate=True``): Cu2S and Cu2Se (ordered antifluorite), CuCN
(ordered chains), CuSe (covellite coordinates), CuF2, CuCl2 and CuBr2 (anion position fitted to
the published Cu–X bond lengths, so the first shell is right and the rest close).

Formal valence convention: the charge-balance average over the Cu sites with the usual anion
charges (S2-, Se2-, halide-, N3-, CN-; dimers S2 2- and Se2 2-; Fe3+ in chalcopyrite; 0 in
metals and intermediates). Covellite CuS and klockmannite CuSe have 2 of 6 anions as
dimers, so every Cu site gets 4/3 (their Cu is Cu(I)-like by XPS/XAS; the label is the formal
average, not a site-resolved oxidation state) and ``valence_class`` "mixed".

Expected coordination (``cu_sites``: label → (CN, motif)) is the known prototype's, in the
classes of :mod:`edgestream_models.labels` (linear, trigonal, tetrahedral, square_planar,
square_pyramidal, octahedral, other; elongated Jahn–Teller octahedra count as octahedral);
12-, 10- and 8-coordinate metal sites are "other".

Variants (:func:`variants`) add diversity: isotropic strains (``STRAINS``), and displaced
supercells (every lattice vector ≥ ``SUPERCELL_MIN`` Å, Gaussian displacements of σ per
Cartesian component, random strain), seeded from the prototype and variant names.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STRAINS = (-0.04, -0.02, 0.02, 0.04)      # isotropic linear strains of the strain variants
N_DISPLACED = 5                           # displaced variants per prototype
DISPLACED_STRAIN = (-0.04, 0.04)          # uniform range of their strain
DISPLACED_SIGMA = (0.02, 0.05)            # Å, uniform range of their σ per Cartesian component
SITES_PER_LABEL = 2                       # absorbers per Cu label in a displaced variant
SUPERCELL_MIN = 7.0                       # Å, minimum lattice vector length of displaced cells
Op = tuple[tuple[int, int, int], tuple[float, float, float]]  # diagonal signs, translation


@dataclass(frozen=True)
class Prototype:
    name: str
    formula: str
    description: str
    source: str
    spacegroup: str
    lattice: tuple[float, float, float, float, float, float]   # a, b, c (Å), α, β, γ (deg)
    species: tuple[str, ...]
    coords: tuple[tuple[float, float, float], ...]
    labels: tuple[str, ...]
    valence: float
    valence_class: str
    cu_sites: dict[str, tuple[int, str]]
    note: str = ""
    approximate: bool = False
    explicit_ops: tuple[Op, ...] = field(default=())  # build with these ops (CuF2: P2_1/n)

    @property
    def material(self) -> str:
        return f"proto:{self.name}"

    def structure(self) -> Any:
        """The conventional cell as a pymatgen ``Structure`` with a ``label`` site property."""
        from pymatgen.core import Lattice, Structure

        lat = Lattice.from_parameters(*self.lattice)
        # exact zeros instead of cos(90°) ~ 1e-16, so feff.inp (and its hash) has no noise
        lat = Lattice(np.where(np.abs(lat.matrix) < 1e-9, 0.0, lat.matrix))
        if self.explicit_ops:
            species, coords, labels = [], [], []
            for sp, xyz, lab in zip(self.species, self.coords, self.labels, strict=True):
                orbit = _orbit(xyz, self.explicit_ops)
                species += [sp] * len(orbit)
                coords += orbit
                labels += [lab] * len(orbit)
            s = Structure(lat, species, coords, site_properties={"label": labels})
        else:
            s = Structure.from_spacegroup(self.spacegroup, lat, list(self.species),
                                          [list(c) for c in self.coords],
                                          site_properties={"label": list(self.labels)})
        # special positions exactly (1/3 rather than 0.33333333), for a noise-free feff.inp
        frac = s.frac_coords
        snap = np.round(frac * 48) / 48
        frac = np.mod(np.where(np.abs(frac - snap) < 1e-6, snap, frac), 1.0)
        return Structure(lat, s.species, frac, site_properties=s.site_properties)


def _orbit(xyz: tuple[float, float, float], ops: tuple[Op, ...]) -> list[list[float]]:
    """Distinct images of fractional ``xyz`` under diagonal operations (signs, translation)."""
    out: list[np.ndarray] = []
    for signs, shift in ops:
        p = np.mod(np.multiply(signs, xyz) + shift, 1.0)
        if not any(np.allclose(np.mod(p - q + 0.5, 1.0) - 0.5, 0, atol=1e-4) for q in out):
            out.append(p)
    return [list(map(float, p)) for p in out]


# P2_1/n (ITA No. 14, cell choice 2): x,y,z; -x+½,y+½,-z+½; -x,-y,-z; x+½,-y+½,z+½
_P21N: tuple[Op, ...] = (((1, 1, 1), (0, 0, 0)), ((-1, 1, -1), (.5, .5, .5)),
                         ((-1, -1, -1), (0, 0, 0)), ((1, -1, 1), (.5, .5, .5)))
_CUB = (90.0, 90.0, 90.0)
_HEX = (90.0, 90.0, 120.0)


def _cubic(a: float) -> tuple[float, ...]:
    return (a, a, a, *_CUB)


P = Prototype
PROTOTYPES: tuple[Prototype, ...] = (
    # --- Cu(0): metal, alloys, intermetallics
    P("cu_fcc", "Cu", "copper metal, A1 (fcc)", "a = 3.6149 Å, Straumanis & Yu, Acta Cryst A25 "
      "(1969) 676", "Fm-3m", _cubic(3.6149), ("Cu",), ((0, 0, 0),), ("Cu1",), 0.0, "Cu(0)",
      {"Cu1": (12, "other")}),
    P("cu3au", "Cu3Au", "ordered Cu3Au, L1_2 (auricupride)", "a = 3.7493 Å, ordered Cu3Au "
      "(Pearson's Handbook)", "Pm-3m", _cubic(3.7493), ("Au", "Cu"), ((0, 0, 0), (0, .5, .5)),
      ("Au1", "Cu1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cuau_l10", "CuAu", "ordered CuAu I, L1_0 (tP2 cell)", "fct a = 3.966, c = 3.673 Å (CuAu "
      "I); tP2 a = 3.966/√2", "P4/mmm", (2.8044, 2.8044, 3.673, *_CUB), ("Cu", "Au"),
      ((0, 0, 0), (.5, .5, .5)), ("Cu1", "Au1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cuzn_b2", "CuZn", "β'-brass, B2 (CsCl)", "a = 2.9539 Å, ordered β'-CuZn at room "
      "temperature", "Pm-3m", _cubic(2.9539), ("Cu", "Zn"), ((0, 0, 0), (.5, .5, .5)),
      ("Cu1", "Zn1"), 0.0, "Cu(0)", {"Cu1": (8, "other")}),
    P("cual2", "CuAl2", "θ-CuAl2, C16", "a = 6.067, c = 4.877 Å, Al 8h x = 0.1581 (θ phase, "
      "Meetsma et al., Acta Cryst C45 (1989) 285)", "I4/mcm", (6.067, 6.067, 4.877, *_CUB),
      ("Cu", "Al"), ((0, 0, .25), (.1581, .6581, 0)), ("Cu1", "Al1"), 0.0, "Cu(0)",
      {"Cu1": (10, "other")}),
    P("mgcu2", "MgCu2", "MgCu2 Laves phase, C15", "a = 7.035 Å; Mg 8a, Cu 16d (origin choice "
      "1)", "Fd-3m", _cubic(7.035), ("Mg", "Cu"), ((0, 0, 0), (5 / 8, 5 / 8, 5 / 8)),
      ("Mg1", "Cu1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cu3pt", "Cu3Pt", "ordered Cu3Pt, L1_2", "a = 3.696 Å (ordered Cu3Pt; literature lattice "
      "constant, rounded)", "Pm-3m", _cubic(3.696), ("Pt", "Cu"), ((0, 0, 0), (0, .5, .5)),
      ("Pt1", "Cu1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cu3pd", "Cu3Pd", "ordered Cu3Pd, L1_2", "a = 3.718 Å (ordered Cu3Pd; literature lattice "
      "constant, rounded)", "Pm-3m", _cubic(3.718), ("Pd", "Cu"), ((0, 0, 0), (0, .5, .5)),
      ("Pd1", "Cu1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cuau3", "CuAu3", "ordered CuAu3, L1_2 (Cu on the cube corners)", "a = 3.98 Å (ordered "
      "CuAu3; literature lattice constant, rounded)", "Pm-3m", _cubic(3.98), ("Cu", "Au"),
      ((0, 0, 0), (0, .5, .5)), ("Cu1", "Au1"), 0.0, "Cu(0)", {"Cu1": (12, "other")}),
    P("cu3ni", "Cu3Ni", "Cu-Ni solid solution (25 at.% Ni) approximated as ordered L1_2",
      "a = 3.592 Å (Vegard's law between Cu 3.615 and Ni 3.524 Å)", "Pm-3m", _cubic(3.592),
      ("Ni", "Cu"), ((0, 0, 0), (0, .5, .5)), ("Ni1", "Cu1"), 0.0, "Cu(0)",
      {"Cu1": (12, "other")}, "a random fcc alloy in reality; ordered L1_2 stands in for it",
      approximate=True),
    P("cupd_b2", "CuPd", "ordered β-CuPd, B2 (CsCl)", "a = 2.988 Å (β-CuPd; literature lattice "
      "constant, rounded)", "Pm-3m", _cubic(2.988), ("Cu", "Pd"), ((0, 0, 0), (.5, .5, .5)),
      ("Cu1", "Pd1"), 0.0, "Cu(0)", {"Cu1": (8, "other")}),
    P("cube_b2", "CuBe", "β'-CuBe, B2 (CsCl)", "a = 2.70 Å (CuBe B2; literature lattice "
      "constant, rounded)", "Pm-3m", _cubic(2.70), ("Cu", "Be"), ((0, 0, 0), (.5, .5, .5)),
      ("Cu1", "Be1"), 0.0, "Cu(0)", {"Cu1": (8, "other")}),
    P("cuzr_b2", "CuZr", "B2 CuZr (the high-temperature austenite of the Cu-Zr shape-memory "
      "alloys)", "a = 3.256 Å (B2 CuZr; literature lattice constant, rounded)", "Pm-3m",
      _cubic(3.256), ("Cu", "Zr"), ((0, 0, 0), (.5, .5, .5)), ("Cu1", "Zr1"), 0.0, "Cu(0)",
      {"Cu1": (8, "other")}),
    P("cu2mnal", "Cu2MnAl", "Heusler alloy Cu2MnAl, L2_1", "a = 5.949 Å; Cu 8c, Mn 4a, Al 4b "
      "(Cu2MnAl Heusler phase; literature lattice constant, rounded)", "Fm-3m", _cubic(5.949),
      ("Mn", "Al", "Cu"), ((0, 0, 0), (.5, .5, .5), (.25, .25, .25)), ("Mn1", "Al1", "Cu1"),
      0.0, "Cu(0)", {"Cu1": (8, "other")}),
    P("cacu5", "CaCu5", "CaCu5, D2_d (hexagonal; two Cu sites)", "a = 5.091, c = 4.086 Å; Ca 1a, "
      "Cu 2c and 3g (CaCu5 structure type; literature lattice constants, rounded)", "P6/mmm",
      (5.091, 5.091, 4.086, *_HEX), ("Ca", "Cu", "Cu"), ((0, 0, 0), (1 / 3, 2 / 3, 0),
                                                        (.5, 0, .5)),
      ("Ca1", "Cu1", "Cu2"), 0.0, "Cu(0)", {"Cu1": (12, "other"), "Cu2": (12, "other")}),
    # --- Cu(I): chalcogenides, halides, nitride, cyanide
    P("cu2s_digenite", "Cu2S", "high digenite / high chalcocite approximated as ordered "
      "antifluorite", "a = 5.567 Å (high digenite Cu9S5, cubic subcell)", "Fm-3m",
      _cubic(5.567), ("S", "Cu"), ((0, 0, 0), (.25, .25, .25)), ("S1", "Cu1"), 1.0, "Cu(I)",
      {"Cu1": (4, "tetrahedral")}, "Cu disordered over tetrahedral and trigonal sites in the "
      "real phase; here all Cu on the antifluorite 8c site", True),
    P("cu2se_beta", "Cu2Se", "β-Cu2Se (berzelianite) as ordered antifluorite",
      "a = 5.85 Å (β-Cu2Se above 414 K)", "Fm-3m", _cubic(5.85), ("Se", "Cu"),
      ((0, 0, 0), (.25, .25, .25)), ("Se1", "Cu1"), 1.0, "Cu(I)", {"Cu1": (4, "tetrahedral")},
      "Cu disordered in the real phase; here all Cu on 8c", True),
    P("cufes2", "CuFeS2", "chalcopyrite, E1_1", "a = 5.289, c = 10.423 Å, S 8d x = 0.2574 "
      "(Hall & Stewart, Acta Cryst B29 (1973) 579)", "I-42d", (5.289, 5.289, 10.423, *_CUB),
      ("Cu", "Fe", "S"), ((0, 0, 0), (0, 0, .5), (.2574, .25, .125)), ("Cu1", "Fe1", "S1"),
      1.0, "Cu(I)", {"Cu1": (4, "tetrahedral")}, "formally Cu+ Fe3+ (S2-)2"),
    P("cucl", "CuCl", "nantokite, zincblende B3", "a = 5.4202 Å", "F-43m", _cubic(5.4202),
      ("Cu", "Cl"), ((0, 0, 0), (.25, .25, .25)), ("Cu1", "Cl1"), 1.0, "Cu(I)",
      {"Cu1": (4, "tetrahedral")}),
    P("cubr", "CuBr", "γ-CuBr, zincblende B3", "a = 5.6955 Å", "F-43m", _cubic(5.6955),
      ("Cu", "Br"), ((0, 0, 0), (.25, .25, .25)), ("Cu1", "Br1"), 1.0, "Cu(I)",
      {"Cu1": (4, "tetrahedral")}),
    P("cui", "CuI", "marshite γ-CuI, zincblende B3", "a = 6.0507 Å", "F-43m", _cubic(6.0507),
      ("Cu", "I"), ((0, 0, 0), (.25, .25, .25)), ("Cu1", "I1"), 1.0, "Cu(I)",
      {"Cu1": (4, "tetrahedral")}),
    P("cu3n", "Cu3N", "Cu3N, anti-ReO3 (D0_9)", "a = 3.815 Å (Juza & Hahn 1939)", "Pm-3m",
      _cubic(3.815), ("N", "Cu"), ((0, 0, 0), (.5, 0, 0)), ("N1", "Cu1"), 1.0, "Cu(I)",
      {"Cu1": (2, "linear")}),
    P("cucn_ht", "CuCN", "HT-CuCN, AgCN type: linear -Cu-C≡N- chains on a hexagonal lattice",
      "R3m hexagonal axes a ≈ 5.94, c ≈ 4.85 Å; Cu–C = Cu–N = 1.85, C–N = 1.15 Å (Hibble et "
      "al., Inorg. Chem. 41 (2002) 4990)", "R3m", (5.94, 5.94, 4.85, *_HEX),
      ("Cu", "C", "N"), ((0, 0, 0), (0, 0, .3814), (0, 0, .6186)), ("Cu1", "C1", "N1"), 1.0,
      "Cu(I)", {"Cu1": (2, "linear")}, "head-to-tail C/N disorder replaced by ordered chains "
      "(R3m instead of R-3m); lattice constants rounded", True),
    # --- mixed: covellite-type (Cu3 (S2)2 S formally)
    P("cus_covellite", "CuS", "covellite, B18", "a = 3.7938, c = 16.341 Å; S2 4e z = 0.06337, "
      "Cu2 4f z = 0.10733 (Evans & Konnert, Am. Mineral. 61 (1976) 996)", "P6_3/mmc",
      (3.7938, 3.7938, 16.341, *_HEX), ("S", "Cu", "S", "Cu"),
      ((1 / 3, 2 / 3, .25), (1 / 3, 2 / 3, .75), (0, 0, .06337), (1 / 3, 2 / 3, .10733)),
      ("S1", "Cu1", "S2", "Cu2"), 4 / 3, "mixed",
      {"Cu1": (3, "trigonal"), "Cu2": (4, "tetrahedral")}, "formal average of Cu3(S2)S"),
    P("cuse_klockmannite", "CuSe", "klockmannite β-CuSe, covellite type",
      "hexagonal subcell a = 3.94, c = 17.25 Å", "P6_3/mmc", (3.94, 3.94, 17.25, *_HEX),
      ("Se", "Cu", "Se", "Cu"),
      ((1 / 3, 2 / 3, .25), (1 / 3, 2 / 3, .75), (0, 0, .06337), (1 / 3, 2 / 3, .10733)),
      ("Se1", "Cu1", "Se2", "Cu2"), 4 / 3, "mixed",
      {"Cu1": (3, "trigonal"), "Cu2": (4, "tetrahedral")},
      "covellite's fractional coordinates on klockmannite's subcell; formal average", True),
    # --- Cu(II): halides
    P("cuf2", "CuF2", "CuF2, Jahn-Teller distorted rutile (P2_1/n)", "a = 3.2973, b = 4.5624, "
      "c = 4.5992 Å, β = 96.663°; Cu–F 1.917 ×2, 1.932 ×2, 2.300 ×2 Å (Burns & Hawthorne, "
      "Acta Cryst C47 (1991))", "P2_1/n", (3.2973, 4.5624, 4.5992, 90.0, 96.663, 90.0),
      ("Cu", "F"), ((0, 0, 0), (.0413, .2805, .3123)), ("Cu1", "F1"), 2.0, "Cu(II)",
      {"Cu1": (6, "octahedral")}, "F position fitted to the published Cu–F distances", True,
      _P21N),
    P("cucl2", "CuCl2", "anhydrous CuCl2: chains of edge-sharing CuCl4 squares, layered (4+2)",
      "a = 6.9038, b = 3.2995, c = 6.8190 Å, β = 122.197°; Cu–Cl 2.26 ×4, 2.96 ×2 Å",
      "C2/m", (6.9038, 3.2995, 6.8190, 90.0, 122.197, 90.0), ("Cu", "Cl"),
      ((0, 0, 0), (.5041, 0, .2287)), ("Cu1", "Cl1"), 2.0, "Cu(II)",
      {"Cu1": (6, "octahedral")}, "Cl position fitted to the published Cu–Cl distances", True),
    P("cubr2", "CuBr2", "CuBr2, CuCl2 type (4+2)", "a = 7.214, b = 3.470, c = 7.080 Å, "
      "β = 119.6°; Cu–Br 2.40 ×4, 3.18 ×2 Å (Helmholz, JACS 69 (1947) 886)", "C2/m",
      (7.214, 3.470, 7.080, 90.0, 119.6, 90.0), ("Cu", "Br"), ((0, 0, 0), (.5066, 0, .2375)),
      ("Cu1", "Br1"), 2.0, "Cu(II)", {"Cu1": (6, "octahedral")},
      "Br position fitted to the published Cu–Br distances", True),
    P("kcuf3", "KCuF3", "KCuF3, Jahn-Teller ordered perovskite", "a = 5.855, c = 7.852 Å, F2 "
      "8h x = 0.228 (Okazaki & Suemune, J. Phys. Soc. Jpn. 16 (1961) 176)", "I4/mcm",
      (5.855, 5.855, 7.852, *_CUB), ("K", "Cu", "F", "F"),
      ((0, 0, .25), (0, .5, 0), (0, .5, .25), (.228, .728, 0)), ("K1", "Cu1", "F1", "F2"),
      2.0, "Cu(II)", {"Cu1": (6, "octahedral")}),
)

# Oxide references, for the FEFF10 energy calibration only (not in the non-oxide set).
OXIDE_REFERENCES: tuple[Prototype, ...] = (
    P("cu2o_cuprite", "Cu2O", "cuprite (experimental cell; MP's mp-361 is PBE-relaxed)",
      "a = 4.2696 Å; O 2a, Cu 4b (origin choice 1)", "Pn-3m", _cubic(4.2696), ("O", "Cu"),
      ((0, 0, 0), (.25, .25, .25)), ("O1", "Cu1"), 1.0, "Cu(I)", {"Cu1": (2, "linear")}),
    P("cuo_tenorite", "CuO", "tenorite, monoclinic C2/c", "a = 4.6837, b = 3.4226, "
      "c = 5.1288 Å, β = 99.54°, O 4e y = 0.4184 (Åsbrink & Norrby, Acta Cryst B26 (1970) 8)",
      "C2/c", (4.6837, 3.4226, 5.1288, 90.0, 99.54, 90.0), ("Cu", "O"),
      ((.25, .25, 0), (0, .4184, .25)), ("Cu1", "O1"), 2.0, "Cu(II)",
      {"Cu1": (4, "square_planar")}),
)
del P


def get(name: str) -> Prototype:
    """A prototype or oxide reference by name."""
    for p in PROTOTYPES + OXIDE_REFERENCES:
        if p.name == name:
            return p
    raise KeyError(f"unknown prototype {name!r}")


def inequivalent_cu_sites(structure: Any, symprec: float = 0.01) -> list[int]:
    """First index of each symmetry-equivalent group of Cu sites (SpacegroupAnalyzer)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sym = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
    return sorted(g[0] for g in sym.equivalent_indices if structure[g[0]].specie.symbol == "Cu")


@dataclass(frozen=True)
class Variant:
    prototype: Prototype
    name: str                                   # "base", "s-0.04", "d00", ...
    structure: Any
    strain: float                               # isotropic linear strain
    sigma: float                                # Å, displacement σ per Cartesian component
    absorbers: tuple[tuple[int, str], ...]      # (site index, Cu label)


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16)


def strained(structure: Any, strain: float) -> Any:
    """Copy with the lattice scaled by ``1 + strain`` (fractional coordinates kept)."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(structure.lattice.matrix * (1.0 + strain)), structure.species,
                     structure.frac_coords, site_properties=structure.site_properties)


def displaced(structure: Any, sigma: float, rng: np.random.Generator) -> Any:
    """Copy with Gaussian displacements (σ in Å per Cartesian component) of every site."""
    from pymatgen.core import Structure

    cart = structure.cart_coords + rng.normal(0.0, sigma, size=(len(structure), 3))
    return Structure(structure.lattice, structure.species, cart, coords_are_cartesian=True,
                     site_properties=structure.site_properties)


def supercell(structure: Any, min_length: float = SUPERCELL_MIN) -> Any:
    """Copy repeated along each lattice vector until it is at least ``min_length`` Å long."""
    scale = [max(1, math.ceil(min_length / n)) for n in structure.lattice.abc]
    return structure.copy().make_supercell(scale, in_place=False)


def variants(proto: Prototype, strains: tuple[float, ...] = STRAINS,
             n_displaced: int = N_DISPLACED) -> Iterator[Variant]:
    """The base structure, its strain variants and its displaced variants (module docstring).

    Base and strained structures keep their symmetry: one absorber per inequivalent Cu site.
    Displaced supercells have no symmetry left: ``SITES_PER_LABEL`` absorbers per Cu label
    (its first and last site in the supercell), each a distinct site.
    """
    base = proto.structure()
    labels = base.site_properties["label"]
    sym = tuple((i, labels[i]) for i in inequivalent_cu_sites(base))
    yield Variant(proto, "base", base, 0.0, 0.0, sym)
    for e in strains:
        yield Variant(proto, f"s{e:+.2f}", strained(base, e), e, 0.0, sym)
    big = supercell(base)
    big_labels = big.site_properties["label"]
    for k in range(n_displaced):
        name = f"d{k:02d}"
        rng = np.random.default_rng(_seed(proto.name, name))
        e = float(rng.uniform(*DISPLACED_STRAIN))
        sigma = float(rng.uniform(*DISPLACED_SIGMA))
        s = displaced(strained(big, e), sigma, rng)
        absorbers: list[tuple[int, str]] = []
        for lab in dict.fromkeys(lab for _, lab in sym):
            idx = [i for i, x in enumerate(big_labels) if x == lab]
            absorbers += [(i, lab) for i in dict.fromkeys((idx[0], idx[-1]))][:SITES_PER_LABEL]
        yield Variant(proto, name, s, round(e, 5), round(sigma, 5), tuple(absorbers))


def site_labels(variant: Variant, label: str) -> dict[str, Any]:
    """Labels stored with a job: prototype, material, valence, expected coordination, ..."""
    p = variant.prototype
    cn, motif = p.cu_sites[label]
    out = {"group": "prototype", "prototype": p.name, "material": p.material,
           "variant": variant.name, "formula": p.formula, "description": p.description,
           "source": p.source, "formal_valence": round(p.valence, 4),
           "valence_class": p.valence_class, "cu_label": label, "cn_expected": cn,
           "motif_expected": motif, "strain": variant.strain, "sigma_disp": variant.sigma,
           "approximate": p.approximate, "note": p.note}
    if p.name == "cu_fcc" and variant.name == "base":
        out["calibration"] = "Cu foil"
    return out


def count_sites(protos: tuple[Prototype, ...] = PROTOTYPES) -> int:
    """Number of distinct absorbing sites over all prototypes and their variants."""
    return sum(len(v.absorbers) for p in protos for v in variants(p))
