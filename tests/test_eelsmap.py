"""EELS valence maps: per-pixel annotations of a spectrum-image run → arrays → PNG."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.publish.eelsmap import save_png, valence_map


def pixel(run, row, px, value, sigma=0.1, ood=False, modality="eels", plugin="cu_l_valence"):
    return {"modality": modality, "sample": "lamella",
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
