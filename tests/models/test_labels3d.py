"""Bond-valence labels of the 3d co-cation sites (labels3d) and the OmniXAS run order."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib.*")
pytest.importorskip("pymatgen.core", reason="pymatgen is not installed (test extra)")

from edgestream_models import elements3d, labels3d  # noqa: E402


def test_site_label_confident_only_when_bva_and_composition_agree():
    fe3 = labels3d.site_label({"valence": 3.0, "valence_method": "bva", "cn": 6,
                               "motif": "octahedral"}, "Fe", "Fe2O3")
    assert fe3["valence_confident"] and fe3["formal_valence"] == 3.0
    assert fe3["cn_expected"] == 6 and fe3["motif_expected"] == "octahedral"
    # BVA says Fe(II) but the composition says Fe(III): kept as valence_bva, not formal
    off = labels3d.site_label({"valence": 2.0, "valence_method": "bva"}, "Fe", "Fe2O3")
    assert not off["valence_confident"] and "formal_valence" not in off
    assert off["valence_bva"] == 2.0
    # magnetite: integer BVA sites against a 2.67 average: never confident
    mag = labels3d.site_label({"valence": 3.0, "valence_method": "bva"}, "Fe", "Fe3O4")
    assert not mag["valence_confident"]
    guess = labels3d.site_label({"valence": 2.0, "valence_method": "guess"}, "Mn", "MnO")
    assert not guess["valence_confident"] and guess["valence_bva"] is None


@pytest.mark.parametrize(("name", "el", "valence", "cn"), [
    ("lifepo4_olivine", "Fe", 2.0, 6), ("k2cro4", "Cr", 6.0, 4), ("licoo2_layered", "Co", 3.0, 6)])
def test_labels_of_a_built_structure(name, el, valence, cn):
    """The labelling path on known structures: the BVA valence and CrystalNN CN are the
    prototype's formal ones."""
    from edgestream_models.labels import label_structure

    p = next(p for p in elements3d.PROTOTYPES if p.name == name)
    s = p.structure()
    site = elements3d.inequivalent_sites(s, el)[0][0]
    rec = label_structure((name, s.to(fmt="poscar"), [site]))
    lab = labels3d.site_label(rec["sites"][str(site)], el, rec["formula"])
    assert lab["valence_confident"] and lab["formal_valence"] == valence
    assert lab["cn_expected"] == cn


def test_load_and_coverage(tmp_path):
    path = tmp_path / "l.jsonl"
    recs = [{"id": "mp-1", "formula": "Fe2O3", "sites": {
                "0": {"element": "Fe", "valence": 3.0, "valence_method": "bva", "cn": 6,
                      "motif": "octahedral"}}},
            {"id": "mp-2", "formula": "ZnFe2O4", "sites": {
                "1": {"element": "Zn", "valence": 2.0, "valence_method": "bva", "cn": 4,
                      "motif": "tetrahedral"},
                "4": {"element": "Fe", "valence": 2.0, "valence_method": "bva", "cn": 6,
                      "motif": "octahedral"}}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    labels = labels3d.load(path)
    assert set(labels) == {("mp-1", 0), ("mp-2", 1), ("mp-2", 4)}
    sites = {"Fe": [("mp-1", 0, 4, 0), ("mp-2", 4, 16, 0), ("mp-3", 2, 4, 0)],
             "Zn": [("mp-2", 1, 8, 0)]}
    cov = labels3d.coverage(labels, sites)
    assert cov["Fe"] == {"sites": 3, "labelled": 2, "confident": 1, "valence": {"3": 1},
                         "motif": {"octahedral": 1}}
    assert cov["Zn"]["confident"] == 1
    items = labels3d.items(sites, {"mp-1": "A", "mp-2": "B", "mp-3": "C"})
    assert items == [("mp-1", "A", [0]), ("mp-2", "B", [1, 4]), ("mp-3", "C", [2])]
    assert labels3d.load(tmp_path / "missing.jsonl") == {}
    assert labels3d.confident_valences("Fe", path) == {"omnixas/mp-1/Fe000": 3.0}
    assert labels3d.confident_valences("Zn", path) == {"omnixas/mp-2/Zn001": 2.0}
    assert labels3d.confident_valences("Ti", path) == {}


def test_omnixas_order_confident_first_then_cheapest():
    sites = {"Fe": [("mp-a", 0, 4, 0), ("mp-a", 3, 4, 1), ("mp-b", 1, 4, 0),
                    ("mp-c", 2, 4, 0)],
             "Zn": [("mp-b", 5, 2, 0)]}
    labels = {("mp-c", 2): {"valence_confident": True}, ("mp-a", 3): {"valence_confident": True},
              ("mp-b", 1): {"valence_confident": False}}
    cost = {"mp-a": -9.0, "mp-b": -12.0, "mp-c": -10.0}
    order = elements3d.omnixas_order(sites, labels=labels, cost=cost)
    fe = [(r[1], r[2]) for r in order if r[0] == "Fe"]
    # confident (first sites before second ones), then the rest by rank, cheapest first
    assert fe == [("mp-c", 2), ("mp-a", 3), ("mp-b", 1), ("mp-a", 0)]
    assert [r[0] for r in order[:2]] == ["Fe", "Zn"]


def test_relabel_cache_writes_labels_into_finished_omnixas_entries(tmp_path):
    def entry(set_name, h, labels, site):
        d = tmp_path / set_name / h
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"site_index": site, "labels": labels}))
        return d / "meta.json"

    fe = entry("Fe_K", "a1", {"group": "omnixas", "material": "mp-1", "element": "Fe"}, 0)
    stale = entry("Fe_K", "a2", {"group": "omnixas", "material": "mp-2", "formal_valence": 2.0},
                  4)
    proto = entry("Zn_K", "b1", {"group": "prototype", "material": "mp-1"}, 0)
    labels = {("mp-1", 0): {"valence_confident": True, "formal_valence": 3.0, "cn_expected": 6},
              ("mp-2", 4): {"valence_confident": False, "valence_bva": 2.0}}
    assert labels3d.relabel_cache(labels, root=tmp_path, elements=["Fe", "Zn"]) == 2
    got = json.loads(fe.read_text())["labels"]
    assert got["formal_valence"] == 3.0 and got["cn_expected"] == 6 and got["element"] == "Fe"
    assert "formal_valence" not in json.loads(stale.read_text())["labels"]
    assert json.loads(proto.read_text())["labels"] == {"group": "prototype", "material": "mp-1"}
    assert labels3d.relabel_cache(labels, root=tmp_path, elements=["Fe", "Zn"]) == 0
