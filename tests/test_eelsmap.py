"""EELS valence maps: per-pixel annotations of a spectrum-image run → arrays → PNG."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.publish.eelsmap import (
    L_VALENCE_PLUGINS,
    is_l_valence,
    save_png,
    valence_map,
    value_range,
)


def pixel(run, row, px, value, sigma=0.1, ood=False, modality="eels", plugin="cu_l_valence",
          element="Cu"):
    return {"modality": modality, "sample": "lamella", "element": element, "edge": "L2,3",
            "ids": {"run_uid": run, "seq_range": [row, row], "index_in_event": px},
            "predictions": [{"plugin": "edge_features", "outputs": {}},
                            {"plugin": plugin, "outputs": {"value": value, "uncertainty": sigma,
                                                           "ood": ood}}]}


def test_map_places_every_pixel_by_row_and_index():
    anns = [pixel("r1", row, px, row + px / 10) for row in (1, 2, 3) for px in range(4)]
    m = valence_map(anns)
    assert m.run_uid == "r1" and m.first_row == 1 and m.value.shape == (3, 4)
    assert m.value[2, 3] == pytest.approx(3.3) and m.pixels == 12
    assert np.all(m.uncertainty == 0.1) and not m.ood.any()


def test_map_of_the_last_run_skips_other_runs_modalities_and_plugins():
    anns = [pixel("old", 1, 0, 2.0), pixel("new", 1, 0, 0.5), pixel("new", 1, 1, 9.0,
                                                                      modality="xas_mu"),
            pixel("new", 2, 1, 7.0, plugin="other"), pixel("new", 2, 2, 1.0, ood=True)]
    m = valence_map(anns)
    assert m.run_uid == "new" and m.value.shape == (2, 3)
    assert m.value[0, 0] == 0.5 and np.isnan(m.value[0, 1]) and np.isnan(m.value[1, 1])
    assert m.ood[1, 2] and m.pixels == 2
    assert valence_map(anns, run_uid="old").value[0, 0] == 2.0
    assert valence_map(anns, run_uid="missing") is None
    assert valence_map([pixel("x", 1, 0, 1.0, modality="xas_mu")]) is None


def test_default_map_is_the_last_spectrum_image_not_a_later_single_spectrum():
    anns = [pixel("si", 1, px, 1.0) for px in range(3)] + [pixel("single", 1, 0, 2.0)]
    assert valence_map(anns).run_uid == "si"
    assert valence_map(anns[3:]).run_uid == "single"


def test_replayed_pixel_keeps_the_last_value_and_none_is_nan():
    m = valence_map([pixel("r", 1, 0, 1.0), pixel("r", 1, 0, 1.5), pixel("r", 1, 1, None)])
    assert m.value[0, 0] == 1.5 and np.isnan(m.value[0, 1]) and m.pixels == 1


def test_png_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    anns = [pixel("r", row, px, px / 4, ood=(px == 0)) for row in range(1, 5) for px in range(8)]
    path = save_png(valence_map(anns), tmp_path / "map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def mn_pixel(run, row, px, value, ood=False):
    """A pixel of a Mn spectrum image as the Mn L2,3 plugin annotates it (its outputs as
    recorded; the map reads value, uncertainty and ood)."""
    a = pixel(run, row, px, value, ood=ood, plugin="mn_l_valence", element="Mn")
    a["sample"] = "MnO|Mn2O3|MnO2 lamella"
    a["predictions"][1]["outputs"] |= {
        "state": {2: "Mn(II)", 3: "Mn(III)", 4: "Mn(IV)"}[round(value)], "ood_score": 0.4,
        "probabilities": {"Mn(II)": 0.1, "Mn(III)": 0.8, "Mn(IV)": 0.1}}
    return a


def test_the_l_valence_family_is_named_in_one_place():
    assert L_VALENCE_PLUGINS[:2] == ("cu_l_valence", "mn_l_valence")
    assert all(is_l_valence(p) for p in L_VALENCE_PLUGINS) and is_l_valence("ti_l_valence")
    assert not any(is_l_valence(p) for p in ("cu_k_valence", "valence", "edge_features"))


def test_a_mn_spectrum_image_is_mapped_with_its_own_range_and_element():
    anns = [mn_pixel("mn", row, px, 2.0 + px, ood=(px == 2)) for row in (1, 2)
            for px in range(3)]
    m = valence_map(anns)
    assert (m.run_uid, m.plugin, m.element) == ("mn", "mn_l_valence", "Mn")
    assert m.value.shape == (2, 3) and m.value[1, 1] == 3.0 and m.ood[:, 2].all()
    assert m.vrange == (2.0, 4.0) == value_range("mn_l_valence")
    assert valence_map(anns, plugin="cu_l_valence") is None


def test_cu_and_mn_maps_side_by_side_keep_cu_as_it_was():
    cu = [pixel("cu", 1, px, px / 2) for px in range(4)]
    mn = [mn_pixel("mn", 1, px, 3.0) for px in range(4)]
    assert valence_map(cu + mn).run_uid == "mn"  # the last spectrum image, either element
    m = valence_map(cu + mn, plugin="cu_l_valence")
    assert (m.run_uid, m.plugin, m.element, m.vrange) == ("cu", "cu_l_valence", "Cu",
                                                            (0.0, 3.0))
    assert list(m.value[0]) == [0.0, 0.5, 1.0, 1.5]
    assert valence_map(cu + mn, plugin="mn_l_valence").run_uid == "mn"


def test_a_plugin_without_a_known_range_is_scaled_to_its_values():
    anns = [pixel("r", 1, px, 2.0 + px / 4, plugin="ti_l_valence", element="Ti")
            for px in range(5)]
    m = valence_map(anns)
    assert m.plugin == "ti_l_valence" and value_range("ti_l_valence") is None
    assert m.vrange == (2.0, 3.0)


def test_mn_png_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    anns = [mn_pixel("r", row, px, 2.0 + px / 4) for row in range(1, 4) for px in range(9)]
    path = save_png(valence_map(anns), tmp_path / "mn.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
