"""The 3d prototypes (oxides3d, compounds3d, salts3d): built structures are charge balanced,
have no overlapping atoms, and every absorber has its expected number of ligands at bond
lengths known for that ligand; variants and job order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib.*")
pytest.importorskip("pymatgen.core", reason="pymatgen is not installed (test extra)")

from edgestream_models import compounds3d, elements3d, salts3d  # noqa: E402

# M-X first-shell bounds (Å) over the 3d elements Ti...Zn, vanadyl and chromate included
BOUNDS = {"O": (1.55, 2.40), "F": (1.85, 2.20), "Cl": (2.30, 2.70), "S": (2.20, 2.70),
          "Se": (2.35, 2.60), "N": (1.95, 2.20)}
ALL = elements3d.PROTOTYPES
IDS = [p.name for p in ALL]


@pytest.mark.parametrize("p", ALL, ids=IDS)
def test_structure_charge_balanced_no_overlap_and_first_shell(p):
    assert elements3d.formal_charge(p) == pytest.approx(0.0, abs=1e-6)
    s = p.structure()
    labels = s.site_properties["label"]
    d = s.distance_matrix + np.eye(len(s)) * 99
    is_h = np.array([site.specie.symbol == "H" for site in s])
    assert d[np.ix_(~is_h, ~is_h)].min() > 1.2, p.name      # no overlapping heavy atoms
    if is_h.any():
        assert 0.9 < d[is_h].min() < 1.1, p.name             # O-H, nothing closer
    els = elements3d.absorbing_elements(p)
    assert els, p.name
    for el in els:
        for i, _ in elements3d.inequivalent_sites(s, el):
            cn, motif = p.cu_sites[labels[i]]
            ligands = sorted((n.nn_distance, n.specie.symbol) for n in s.get_neighbors(s[i], 3.3)
                             if n.specie.symbol in BOUNDS)
            first = ligands[0][0]
            shell = [(r, x) for r, x in ligands if r < 1.3 * first]
            assert len(shell) == cn, (p.name, labels[i], ligands[:8])
            for r, x in shell:
                lo, hi = BOUNDS[x]
                assert lo < r < hi, (p.name, labels[i], x, r)
            assert motif in {"tetrahedral", "square_pyramidal", "octahedral", "other"}


def test_site_valences_cover_the_common_valences():
    """Every element has prototypes in each valence it commonly takes (issue 31)."""
    wanted = {"Ti": {2, 3, 4}, "V": {2, 3, 4, 5}, "Cr": {3, 4, 6}, "Mn": {2, 3, 4},
              "Fe": {2, 3}, "Co": {2, 3}, "Ni": {2, 3}, "Zn": {2}}
    have: dict[str, set[float]] = {el: set() for el in wanted}
    for p in ALL:
        for lab in p.cu_sites:
            el = lab.rstrip("0123456789")
            if el in have:
                have[el].add(elements3d.site_valence(p, lab))
    for el, vals in wanted.items():
        assert vals <= have[el], (el, sorted(have[el]))
    assert elements3d.site_valence(compounds3d.COMPOUNDS[0], "Ti1") == 4.0
    lmo = next(p for p in ALL if p.name == "limn2o4_spinel")
    assert elements3d.site_valence(lmo, "Mn1") == 3.5 and "Li1" not in lmo.cu_sites


def test_names_are_unique_and_sources_cited():
    names = Counter(p.name for p in ALL)
    assert max(names.values()) == 1, names.most_common(3)
    for p in ALL:
        assert p.source and "Å" in p.source, p.name
        assert p.approximate == bool(p.note) or p in elements3d.oxides3d.OXIDES, p.name
    assert {p.name for p in salts3d.SALTS} <= set(IDS)


def test_variants_base_strains_then_displaced():
    p = next(p for p in ALL if p.name == "fetio3_ilmenite")
    vs = elements3d.variants(p, "Ti")
    assert [v[0] for v in vs] == ["base", "s-0.02", "s+0.02", "s-0.04", "s+0.04", "d00", "d01",
                                  "d02"]
    base, disp = vs[0], vs[5]
    assert [lab for _, lab, _ in base[4]] == ["Ti1"]
    assert len(disp[4]) == 2 and disp[3].lattice.abc[0] > 7.0 and disp[2] > 0
    again = elements3d.variants(p, "Ti")[5]            # seeded: the same cell every time
    assert np.allclose(again[3].cart_coords, disp[3].cart_coords)
    assert all(disp[3][i].specie.symbol == "Ti" for i, _, _ in disp[4])


def test_prototype_jobs_order_bases_first_round_robin():
    protos = tuple(p for p in ALL if p.name in ("zno_wurtzite", "fetio3_ilmenite", "v2o5"))
    jobs = elements3d.prototype_jobs(["Ti", "V", "Zn"], strains=(-0.02,), n_displaced=1,
                                     protos=protos)
    assert [j.absorber for j in jobs[:3]] == ["Ti", "V", "Zn"]
    for el in ("Ti", "V", "Zn"):
        variants = [j.labels["variant"] for j in jobs if j.absorber == el]
        # the base of each prototype, its strain, the strained metal, displaced cells
        assert variants[0] == "base" and variants.count("base") == 1
        assert variants.index("d00") > variants.index("s-0.02")
        assert all(j.labels["formal_valence"] >= 0 for j in jobs)
    assert len({j.hash for j in jobs}) == len(jobs)
    v = {j.labels["formal_valence"] for j in jobs if j.absorber == "V"}
    assert v == {5.0, 0.0}


def test_site_counts_per_valence():
    """Prototype sites (base, strains, displaced cells) of Cr, the element with the fewest
    OmniXAS sites: >= 250 from the prototypes alone (issue 31), in every common valence."""
    assert elements3d.displaced_count("Cr") == 5 and elements3d.displaced_count("Fe") == 3
    counts = elements3d.count_sites(["Cr"])["Cr"]
    assert sum(counts.values()) >= 250
    assert {"0", "III", "IV", "VI"} <= set(counts) and counts["III"] > counts["VI"] > 0
