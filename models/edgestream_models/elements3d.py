"""FEFF10 K-edge jobs for the 3d elements other than Cu (Ti, V, Cr, Mn, Fe, Co, Ni, Zn).

Three groups of absorbing sites, all with the Cu K card settings (:func:`feff10.make_job`
with ``absorber=``; cached under ``feff10/<Element>_K``):

- ``calibration``: the element's metal (``METALS``), built with pymatgen from space group,
  lattice constants and Wyckoff positions from the literature, so that the per-element FEFF10
  energy offset can be fitted on the tabulated K edge
  (:func:`edgestream.physics.edges.edge_energy`) the same way for every element. Mn is the
  real α-Mn (I-43m, 58 atoms, four inequivalent sites), not a cubic approximation: its four
  sites cost four runs.
- ``prototype``: the element's prototypes (:data:`PROTOTYPES`: binary oxides of
  :mod:`oxides3d`, ternary oxides and oxo-salts of :mod:`compounds3d`, halides, sulfides,
  nitrides, carbonates and hydroxides of :mod:`salts3d`) and its metal, each as the base
  structure, four isotropic strains and three displaced supercells (:func:`variants`), one
  job per inequivalent site of the element (two per site in a displaced cell).
- ``omnixas``: the co-cation sites of the OmniXAS Cu K structures (Materials Project
  oxides), one job per symmetry-inequivalent site of the element per structure
  (SpacegroupAnalyzer, symprec 0.01; ~8 s for all 2,697 structures), labelled by
  :mod:`labels3d` where its cache exists.

Job order (``feff10_jobs.jobs_3d``): calibration, then prototypes, then OmniXAS sites. Within
the prototypes (:func:`prototype_jobs`) every base structure of an element before any strain,
every strain before any displaced cell; within the OmniXAS sites (:func:`omnixas_order`)
confidently labelled sites first and cheap structures first, every structure's first
inequivalent site before its second one; both round-robin over the elements, so a run stopped
early is balanced across elements and covers as many materials as it can.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models import compounds3d, feff10, oxides3d, salts3d
from edgestream_models.omnixas import OMNIXAS_ROOT, load_structures
from edgestream_models.prototypes import (
    DISPLACED_SIGMA,
    DISPLACED_STRAIN,
    Prototype,
    displaced,
    strained,
    supercell,
)

ELEMENTS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Zn")
SYMPREC = 0.01  # Å, the tolerance prototypes.inequivalent_cu_sites uses for Cu

_CUB = (90.0, 90.0, 90.0)
_HEX = (90.0, 90.0, 120.0)
_WYCKOFF = ("Wyckoff, Crystal Structures vol. 1 (2nd ed., 1963); room-temperature lattice "
            "constant")


def _metal(el: str, structure_type: str, spacegroup: str,
           lattice: tuple[float, float, float, float, float, float],
           coords: tuple[tuple[float, float, float], ...], labels: tuple[str, ...],
           sites: dict[str, tuple[int, str]], source: str, note: str = "") -> Prototype:
    return Prototype(f"{el.lower()}_metal", el, f"{el} metal, {structure_type}", source,
                     spacegroup, lattice, (el,) * len(coords), coords, labels, 0.0,
                     f"{el}(0)", sites, note)


_HCP = ((1 / 3, 2 / 3, 0.25),)  # 2c of P6_3/mmc
_ORIGIN = ((0.0, 0.0, 0.0),)
# (CN, motif) of a close-packed or bcc metal site in labels' classes: 12 or 8 neighbours
# are "other". Zn (c/a = 1.856) has 6 neighbours at 2.66 Å and 6 at 2.91 Å.
METALS: dict[str, Prototype] = {p.formula: p for p in (
    _metal("Ti", "α-Ti, A3 (hcp)", "P6_3/mmc", (2.9508, 2.9508, 4.6855, *_HEX), _HCP,
           ("Ti1",), {"Ti1": (12, "other")}, f"a = 2.9508, c = 4.6855 Å; {_WYCKOFF}"),
    _metal("V", "A2 (bcc)", "Im-3m", (3.0240, 3.0240, 3.0240, *_CUB), _ORIGIN, ("V1",),
           {"V1": (8, "other")}, f"a = 3.0240 Å; {_WYCKOFF}"),
    _metal("Cr", "A2 (bcc)", "Im-3m", (2.8839, 2.8839, 2.8839, *_CUB), _ORIGIN, ("Cr1",),
           {"Cr1": (8, "other")}, f"a = 2.8839 Å; {_WYCKOFF}"),
    # α-Mn (A12, cI58): 2a, 8c (x,x,x), 24g (x,x,z) x2
    _metal("Mn", "α-Mn, A12 (cI58)", "I-43m", (8.9125, 8.9125, 8.9125, *_CUB),
           ((0.0, 0.0, 0.0), (0.31787, 0.31787, 0.31787), (0.35706, 0.35706, 0.03457),
            (0.08958, 0.08958, 0.28194)), ("Mn1", "Mn2", "Mn3", "Mn4"),
           {"Mn1": (16, "other"), "Mn2": (16, "other"), "Mn3": (13, "other"),
            "Mn4": (12, "other")},
           "a = 8.9125 Å (room temperature); positions: Bradley & Thewlis, Proc. R. Soc. A "
           "115 (1927) 456, as refined by Lawson et al., J. Appl. Phys. 76 (1994) 7049",
           "four inequivalent sites (multiplicities 2, 8, 24, 24): the calibration edge is "
           "their multiplicity-weighted mean"),
    _metal("Fe", "α-Fe, A2 (bcc)", "Im-3m", (2.8665, 2.8665, 2.8665, *_CUB), _ORIGIN,
           ("Fe1",), {"Fe1": (8, "other")}, f"a = 2.8665 Å; {_WYCKOFF}"),
    _metal("Co", "α-Co, A3 (hcp)", "P6_3/mmc", (2.5071, 2.5071, 4.0695, *_HEX), _HCP,
           ("Co1",), {"Co1": (12, "other")}, f"a = 2.5071, c = 4.0695 Å; {_WYCKOFF}"),
    _metal("Ni", "A1 (fcc)", "Fm-3m", (3.5240, 3.5240, 3.5240, *_CUB), _ORIGIN, ("Ni1",),
           {"Ni1": (12, "other")}, f"a = 3.5240 Å; {_WYCKOFF}"),
    _metal("Zn", "A3 (hcp, c/a 1.856)", "P6_3/mmc", (2.6649, 2.6649, 4.9468, *_HEX), _HCP,
           ("Zn1",), {"Zn1": (12, "other")}, f"a = 2.6649, c = 4.9468 Å; {_WYCKOFF}",
           "6 neighbours at 2.66 Å and 6 at 2.91 Å"),
)}


def parse_elements(text: str | Iterable[str]) -> list[str]:
    """``"Fe,Co"`` or ``["Fe"]`` (or ``"all"``) as element symbols of ``ELEMENTS``, in the
    given order; an unknown symbol is a ``ValueError`` that names the choices."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.lower() == "all":
            out += [e for e in ELEMENTS if e not in out]
            continue
        el = item[:1].upper() + item[1:].lower()
        if el not in ELEMENTS:
            raise ValueError(f"element {item!r}: one of {', '.join(ELEMENTS)} (or all)")
        if el not in out:
            out.append(el)
    return out


def inequivalent_sites(structure: Any, element: str, symprec: float = SYMPREC
                       ) -> list[tuple[int, int]]:
    """``(first index, multiplicity)`` of each symmetry-equivalent group of ``element``'s
    sites, by first index."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sym = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
    return sorted((g[0], len(g)) for g in sym.equivalent_indices
                  if structure[g[0]].specie.symbol == element)


# every prototype with absorbers of the 3d elements (the metals run as calibration jobs)
PROTOTYPES: tuple[Prototype, ...] = oxides3d.OXIDES + compounds3d.COMPOUNDS + salts3d.SALTS
# isotropic strains of each prototype, in run order (the ±2 % ones were the first set)
STRAINS = (-0.02, 0.02, -0.04, 0.04)
N_DISPLACED = 3  # displaced supercells per prototype, as the Cu K set (feff10_jobs)
# more for the elements with the fewest prototypes and OmniXAS sites (issue 31: >= 250 each)
N_DISPLACED_BY_ELEMENT = {"Cr": 5}
SITES_PER_LABEL = 2  # absorbers per inequivalent site in a displaced supercell


def site_valence(p: Prototype, label: str) -> float:
    """Formal valence of the absorber site ``label`` of ``p`` (the prototype's own when no
    site valence is registered)."""
    for table in (oxides3d.SITE_VALENCE, compounds3d.SITE_VALENCE):
        if label in table.get(p.name, {}):
            return float(table[p.name][label])
    return float(p.valence)


def absorbing_elements(p: Prototype) -> list[str]:
    """The 3d elements of ``p`` with absorber labels, in label order."""
    return [el for el in dict.fromkeys(lab.rstrip("0123456789") for lab in p.cu_sites)
            if el in ELEMENTS]


def site_labels(p: Prototype, label: str, element: str, group: str, variant: str = "base",
                strain: float = 0.0, sigma: float = 0.0) -> dict[str, Any]:
    """Labels stored with a prototype job: the site's formal valence (``valence_method``
    "formal": trusted by :func:`labels.valence_confident`), expected CN and geometry."""
    cn, motif = p.cu_sites[label]
    valence = site_valence(p, label)
    cls = compounds3d.roman(valence)
    return {"group": group, "element": element, "prototype": p.name, "material": p.material,
            "variant": variant, "formula": p.formula, "description": p.description,
            "source": p.source, "formal_valence": round(valence, 4), "valence_method": "formal",
            "valence_class": cls if cls == "mixed" else f"{element}({cls})",
            "site_label": label, "cn_expected": cn, "motif_expected": motif,
            "strain": strain, "sigma_disp": sigma, "approximate": p.approximate,
            "note": p.note}


def formal_charge(p: Prototype) -> float:
    """Net formal charge of ``p``'s cell: absorber sites at their formal valences, the other
    ions at :data:`compounds3d.ION_CHARGE` (or the prototype's override); 0 when balanced."""
    s = p.structure()
    override = compounds3d.CHARGE_OVERRIDE.get(p.name, {})
    return float(sum(site_valence(p, lab) if lab in p.cu_sites
                     else override.get(site.specie.symbol,
                                       compounds3d.ION_CHARGE[site.specie.symbol])
                     for site, lab in zip(s, s.site_properties["label"], strict=True)))


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16)


Variant3d = tuple[str, float, float, Any, list[tuple[int, str, int]]]


def variants(p: Prototype, element: str, strains: tuple[float, ...] = STRAINS,
             n_displaced: int = N_DISPLACED) -> list[Variant3d]:
    """``(name, strain, sigma, structure, [(site, label, multiplicity), ...])`` of ``p`` for
    ``element``: the base, its isotropic strains (same inequivalent sites), then displaced
    supercells (every vector ≥ 7 Å, random strain and Gaussian displacements seeded from the
    names as for Cu, :func:`prototypes.variants`; ``SITES_PER_LABEL`` absorbers per site)."""
    base = p.structure()
    labels = base.site_properties["label"]
    sym = [(i, labels[i], m) for i, m in inequivalent_sites(base, element)]
    out: list[Variant3d] = [("base", 0.0, 0.0, base, sym)]
    out += [(f"s{e:+.2f}", e, 0.0, strained(base, e), sym) for e in strains]
    if n_displaced:
        big = supercell(base)
        big_labels = big.site_properties["label"]
        for k in range(n_displaced):
            name = f"d{k:02d}"
            rng = np.random.default_rng(_seed(p.name, name))
            e = float(rng.uniform(*DISPLACED_STRAIN))
            sigma = float(rng.uniform(*DISPLACED_SIGMA))
            s = displaced(strained(big, e), sigma, rng)
            absorbers = []
            for _, lab, _ in sym:
                idx = [i for i, x in enumerate(big_labels) if x == lab]
                absorbers += [(i, lab, 1) for i in dict.fromkeys((idx[0], idx[-1]))
                              ][:SITES_PER_LABEL]
            out.append((name, round(e, 5), round(sigma, 5), s, absorbers))
    return out


def prototype_site_jobs(p: Prototype, element: str, group: str, edge: str = "K",
                        strains: tuple[float, ...] = (), n_displaced: int = 0
                        ) -> list[list[feff10.Job]]:
    """Jobs of every inequivalent ``element`` site of ``p``, one list per variant
    (:func:`variants`)."""
    out = []
    for name, strain, sigma, s, sites in variants(p, element, strains, n_displaced):
        jobs = []
        for i, lab, mult in sites:
            labels = site_labels(p, lab, element, group, name, strain, sigma) | {
                "multiplicity": mult}
            if group == "calibration" and name == "base":
                labels["calibration"] = f"{element} foil"
            jobs.append(feff10.make_job(s, i, f"{p.name}/{name}/{lab}-{i:03d}", labels,
                                        edge=edge, absorber=element))
        out.append(jobs)
    return out


def calibration_jobs(elements: Iterable[str] = ELEMENTS, edge: str = "K") -> list[feff10.Job]:
    """The metal of each element at each of its inequivalent sites (one, four for α-Mn)."""
    return [j for el in elements
            for j in prototype_site_jobs(METALS[el], el, "calibration", edge)[0]]


def displaced_count(element: str) -> int:
    """Displaced supercells per prototype of ``element`` (``N_DISPLACED_BY_ELEMENT``, else
    ``N_DISPLACED``)."""
    return N_DISPLACED_BY_ELEMENT.get(element, N_DISPLACED)


def prototype_jobs(elements: Iterable[str] = ELEMENTS, edge: str = "K",
                   strains: tuple[float, ...] = STRAINS, n_displaced: int | None = None,
                   protos: tuple[Prototype, ...] = PROTOTYPES) -> list[feff10.Job]:
    """Every inequivalent site of each element in ``protos`` and their variants, and the
    strained and displaced metals. Per element: every base structure, then every prototype's
    first strain, ..., then every first displaced cell, ...; round-robin over the elements,
    so a run stopped early has the most materials of every element. ``n_displaced``:
    displaced cells per prototype (default :func:`displaced_count`)."""
    queues = []
    for el in elements:
        n_disp = displaced_count(el) if n_displaced is None else n_displaced
        per = [prototype_site_jobs(p, el, "prototype", edge, strains, n_disp)
               for p in protos if el in absorbing_elements(p)]
        metal = prototype_site_jobs(METALS[el], el, "prototype", edge, strains, n_disp)
        per.append([[], *metal[1:]])  # the metal's base is its calibration job
        queues.append([j for k in range(1 + len(strains) + n_disp) for v in per
                       for j in (v[k] if k < len(v) else [])])
    return round_robin(queues)


def count_sites(elements: Iterable[str] = ELEMENTS) -> dict[str, dict[str, int]]:
    """``{element: {valence class: prototype sites}}`` over all variants (no FEFF inputs)."""
    out: dict[str, dict[str, int]] = {}
    for el in elements:
        counts: dict[str, int] = {}
        for p in (*PROTOTYPES, METALS[el]):
            if el not in absorbing_elements(p):
                continue
            for _, _, _, _, sites in variants(p, el, n_displaced=displaced_count(el)):
                for _, lab, _ in sites:
                    v = compounds3d.roman(site_valence(p, lab))
                    counts[v] = counts.get(v, 0) + 1
        out[el] = dict(sorted(counts.items()))
    return out


def omnixas_sites(elements: Iterable[str] = ELEMENTS, root: Path = OMNIXAS_ROOT,
                  poscars: dict[str, str] | None = None
                  ) -> dict[str, list[tuple[str, int, int, int]]]:
    """``{element: [(material_id, site index, multiplicity, rank), ...]}``: every
    inequivalent site of each element in the OmniXAS structures; ``rank`` is the site's
    place among that element's inequivalent sites in its structure (0 for the first)."""
    from pymatgen.core import Structure

    elements = list(elements)
    poscars = poscars if poscars is not None else load_structures(root)
    out: dict[str, list[tuple[str, int, int, int]]] = {el: [] for el in elements}
    for mid in sorted(poscars):
        s = Structure.from_str(poscars[mid], fmt="poscar")
        present = [el for el in elements if el in {sp.symbol for sp in s.composition}]
        if not present:
            continue
        sites = inequivalent_sites(s, present[0]) if len(present) == 1 else None
        for el in present:
            groups = sites if sites is not None else inequivalent_sites(s, el)
            out[el] += [(mid, i, m, rank) for rank, (i, m) in enumerate(groups)]
    return out


def round_robin(queues: list[list[Any]]) -> list[Any]:
    """One item of each queue in turn until all are empty (``[[a1, a2], [b1]]`` ->
    ``[a1, b1, a2]``)."""
    out: list[Any] = []
    for k in range(max((len(q) for q in queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


def omnixas_order(sites: dict[str, list[tuple[str, int, int, int]]], seed: int = 0,
                  labels: dict[tuple[str, int], dict[str, Any]] | None = None,
                  cost: dict[str, float] | None = None) -> list[tuple[str, str, int, int, int]]:
    """``(element, material_id, site, multiplicity, rank)`` in run order. Within an element:
    sites with a confident valence label (``labels``: :func:`labels3d.load`) first, then the
    rest; in each, every structure's first site before any second one; structures by
    ``cost`` (cheapest first) when given, else in a seeded random order. Then round-robin
    over the elements."""
    labels = labels or {}
    queues = []
    for el, rows in sites.items():
        mids = sorted({r[0] for r in rows})
        place = {m: k for k, m in enumerate(np.random.default_rng(seed).permutation(mids))}

        def key(r: tuple[str, int, int, int], place: dict[str, int] = place
                ) -> tuple[Any, ...]:
            confident = bool(labels.get((r[0], r[1]), {}).get("valence_confident"))
            return (not confident, r[3], (cost or {}).get(r[0], 0.0), place[r[0]], r[1])

        queues.append([(el, *r) for r in sorted(rows, key=key)])
    return round_robin(queues)


def omnixas_jobs(elements: Iterable[str] = ELEMENTS, edge: str = "K", seed: int = 0,
                 limit: int = 0, root: Path = OMNIXAS_ROOT,
                 labels: dict[tuple[str, int], dict[str, Any]] | None = None
                 ) -> list[feff10.Job]:
    """Jobs of the co-cation sites (:func:`omnixas_order`: confident labels first, cheapest
    structures first: the most Å³ per atom, fewest atoms in FEFF's spheres), the first
    ``limit`` if given; ``labels`` default to the :mod:`labels3d` cache, whose entries go into
    each job's labels (``formal_valence`` only where confident)."""
    from pymatgen.core import Structure

    from edgestream_models import labels3d

    labels = labels3d.load() if labels is None else labels
    poscars = load_structures(root)
    sites = omnixas_sites(elements, poscars=poscars)
    cells = {mid: Structure.from_str(poscars[mid], fmt="poscar")
             for mid in sorted({r[0] for rows in sites.values() for r in rows})}
    cost = {mid: -s.volume / len(s) for mid, s in cells.items()}
    order = omnixas_order(sites, seed, labels, cost)
    if limit:
        order = order[:limit]
    jobs = []
    for el, mid, i, mult, rank in order:
        s = cells[mid]
        lab = {"group": "omnixas", "element": el, "material": mid, "prototype": mid,
               "variant": "mp", "formula": s.composition.reduced_formula,
               "site_label": f"site{i}", "multiplicity": mult, "site_rank": rank,
               "strain": 0.0, "sigma_disp": 0.0,
               "source": "OmniXAS structures.json.gz (Materials Project)"}
        lab |= labels.get((mid, i), {})
        jobs.append(feff10.make_job(s, i, f"omnixas/{mid}/{el}{i:03d}", lab, edge=edge,
                                    absorber=el))
    return jobs
