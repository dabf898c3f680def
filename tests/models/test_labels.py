"""Valence/motif labels and M3GNet site features of absorbing Cu sites.

The geometry indices are pure numpy; the structure tests need pymatgen (the training extra)
and the OmniXAS structures in ``../shared/data/omnixas-cu-k``; the feature test needs matgl
and the M3GNet weights. Each skips cleanly when its part is absent.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from edgestream_models import cache, labels, motifs
from edgestream_models.omnixas import OMNIXAS_ROOT

OCT = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)


def test_tau4_limits() -> None:
    assert motifs.tau4(TET) == pytest.approx(1.0, abs=0.01)
    assert motifs.tau4(OCT[:4]) == pytest.approx(0.0, abs=1e-9)


def test_tau5_limits() -> None:
    square_pyramid = OCT[:5]
    trig = np.array([[1, 0, 0], [-0.5, 0.866, 0], [-0.5, -0.866, 0], [0, 0, 1], [0, 0, -1]])
    assert motifs.tau5(square_pyramid) == pytest.approx(0.0, abs=1e-9)
    assert motifs.tau5(trig) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("vectors", "motif"), [
    (OCT[[0, 1]], "linear"),
    (OCT[[0, 2]], "other"),                      # bent two-coordinate
    (np.array([[1, 0, 0], [-0.5, 0.866, 0], [-0.5, -0.866, 0]]), "trigonal"),
    (OCT[[0, 1, 2]], "other"),                   # T-shaped
    (TET, "tetrahedral"),
    (OCT[:4], "square_planar"),
    (OCT[:5], "square_pyramidal"),
    (OCT, "octahedral"),
    (np.vstack([OCT, [[0.7, 0.7, 0]]]), "other"),
])
def test_classify_geometry(vectors: np.ndarray, motif: str) -> None:
    assert motifs.classify_geometry(vectors)[0] == motif
    assert motif in motifs.MOTIFS


def test_trigonal_prism_is_other() -> None:
    ang = np.radians([0, 120, 240])
    tri = np.c_[np.cos(ang), np.sin(ang), np.full(3, 0.6)]
    prism = np.vstack([tri, tri * [1, 1, -1]])
    assert motifs.classify_geometry(prism)[0] == "other"


def test_cached_map_resumes(tmp_path) -> None:
    calls: list[str] = []

    def func(item: cache.Item) -> dict:
        calls.append(item[0])
        return {"id": item[0], "sha1": cache.poscar_hash(item[1]),
                "sites": {str(i): {"n": i} for i in item[2]}}

    items = [("a", "text a", [0]), ("b", "text b", [1, 2])]
    path = tmp_path / "cache.jsonl"
    first = cache.cached_map(func, items, path, processes=1)
    again = cache.cached_map(func, [*items, ("c", "text c", [0])], path, processes=1)
    assert sorted(calls) == ["a", "b", "c"]
    assert first["b"] == again["b"]
    cache.cached_map(func, [("a", "changed", [0])], path, processes=1)
    assert calls.count("a") == 2                 # a changed POSCAR is recomputed


# ----------------------------------------------------------------------------- pymatgen

@pytest.fixture(scope="module")
def omnixas() -> dict[str, str]:
    pytest.importorskip("pymatgen.core")
    path = OMNIXAS_ROOT / "structures.json.gz"
    if not path.exists():
        pytest.skip(f"{path} absent")
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


@pytest.mark.parametrize(("mid", "site", "valence", "motif", "cn"), [
    ("mp-361", 0, 1.0, "linear", 2),             # Cu2O
    ("mp-1692", 0, 2.0, "square_planar", 4),     # CuO: axial O at 2.78 Å, ratio 1.43
    ("mp-3982", 2, 3.0, "square_planar", 4),     # KCuO2, Cu(III)
    ("mp-19735", 2, 2.0, "octahedral", 6),       # La2CuO4: JT 4+2, ratio 1.29
])
def test_known_structures(omnixas: dict[str, str], mid: str, site: int, valence: float,
                          motif: str, cn: int) -> None:
    record = labels.label_structure((mid, omnixas[mid], [site]))
    lab = record["sites"][str(site)]
    assert lab["element"] == "Cu"
    assert lab["valence_method"] == "bva"
    assert lab["valence"] == valence
    assert (lab["motif"], lab["cn"]) == (motif, cn)
    assert lab["multiplicity"] >= 1


def _jt_cell(axial: float):
    from pymatgen.core import Lattice, Structure

    eq = 1.95
    coords = [[0, 0, 0], [eq, 0, 0], [-eq, 0, 0], [0, eq, 0], [0, -eq, 0],
              [0, 0, axial], [0, 0, -axial]]
    return Structure(Lattice.cubic(14.0), ["Cu"] + ["O"] * 6, np.array(coords) + 7.0,
                     coords_are_cartesian=True)


@pytest.mark.parametrize(("axial", "motif", "cn"), [
    (2.45, "octahedral", 6),                     # ratio 1.26: counted
    (2.80, "square_planar", 4),                  # ratio 1.44: beyond AXIAL_RATIO_MAX
])
def test_jahn_teller_convention(axial: float, motif: str, cn: int) -> None:
    pytest.importorskip("pymatgen.analysis.local_env")
    out = motifs.coordination(_jt_cell(axial), 0)
    assert (out["motif"], out["cn"]) == (motif, cn)


# ----------------------------------------------------------------------------- M3GNet

def test_site_features_shape(omnixas: dict[str, str]) -> None:
    pytest.importorskip("matgl")
    pytest.importorskip("torch")
    from pymatgen.core import Structure

    from edgestream_models import site_features as sf

    try:
        sf.model_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    structure = Structure.from_str(omnixas["mp-361"], fmt="poscar")
    feats = sf.site_features(structure, [0, 1])
    assert feats.shape == (2, sf.N_FEATURES) == (2, 64)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    np.testing.assert_allclose(feats[0], feats[1], atol=1e-5)   # equivalent Cu sites
    record = sf.featurize_item(("mp-361", omnixas["mp-361"], [0]))
    np.testing.assert_array_equal(sf.decode(record["sites"]["0"]), feats[0])


def test_valence_is_confident_only_where_bva_and_the_composition_agree():
    pytest.importorskip("pymatgen")
    from edgestream_models.labels import composition_valence, valence_confident

    assert composition_valence("KCuO2") == 3.0 and composition_valence("Cu2O") == 1.0
    assert valence_confident(3.0, "bva", "KCuO2")
    # BVA reads CsCuO2 (a Cu(III) cuprate) as Cu(I): the composition says 3, so not trusted
    assert not valence_confident(1.0, "bva", "CsCuO2")
    # a guess alone, a failed label and a mixed-valence average are not confident
    assert not valence_confident(2.0, "guess", "CuO")
    assert not valence_confident(None, "failed", "CuO")
    assert composition_valence("Cu4O3") == 1.5
    assert not valence_confident(2.0, "bva", "Cu4O3")
    # a prototype's formal valence (from the literature) is trusted as it is
    assert valence_confident(1.0, "formal", "CuCl") and not valence_confident(
        float("nan"), "formal", "CuCl")


def test_confident_mask_is_valence_confident_row_by_row():
    pytest.importorskip("pymatgen")
    from edgestream_models.labels import confident_mask

    mask = confident_mask(np.array([3.0, 1.0, 0.0, np.nan, 2.0]),
                          np.array(["bva", "bva", "formal", "failed", "guess"]),
                          np.array(["KCuO2", "CsCuO2", "Cu", "CuO", "CuO"]))
    assert mask.tolist() == [True, False, True, False, False]


def test_valence_only_labels_derived_from_the_full_ones(omnixas: dict[str, str], tmp_path):
    """What ``labels --valence-only`` takes from the full cache is what it would compute."""
    items = [("mp-361", omnixas["mp-361"], [0]), ("mp-3982", omnixas["mp-3982"], [2])]
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps(labels.label_structure(it)) + "\n" for it in items))
    path = tmp_path / "valence.jsonl"
    assert labels.derive_valence_only(full, path) == 2
    assert labels.derive_valence_only(full, path) == 0
    derived = labels.read_cache(path)
    for item in items:
        computed = labels.valence_structure(item)
        for key in ("sha1", "sites", "formula"):
            assert derived[item[0]][key] == computed[key]
