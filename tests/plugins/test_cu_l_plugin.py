"""The Cu L2,3 plugin (valence and Cu(0)/Cu(I)/Cu(II) fractions) in the service's environment.

Spectra come from the simulated microscope (a real RunEngine, FEFF10 L2,3 of Cu, cuprite and
tenorite on a power-law background with Poisson noise) through ``Pipeline``, the code the
stream runs; the shipped ONNX files are held to the sklearn outputs saved at export in
test_cu_k_onnx_parity.py (every plugin's probes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine

from edgestream.config.settings import Settings
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover, read_plugin_toml, sha256_of
from edgestream.publish.eelsmap import valence_map
from edgestream_plugins.cu_l import CuLValence
from edgestream_sim.beamline import SimBeamline
from edgestream_sim.devices import EelsSpecimenStage
from edgestream_sim.plans import eels_acquisition
from edgestream_sim.spectra import EELS_MODELS, EelsAxis, EelsSimulator

FOLDER = Path(__file__).resolve().parents[2] / "plugins" / "edgestream_plugins" / "cu_l"
CARD = json.loads((FOLDER / "card.json").read_text())


@pytest.fixture(scope="module")
def pipeline():
    model = CuLValence()
    model.load(("CPUExecutionProvider",))
    return Pipeline(Settings(plugins=["cu_l_valence"]), [model])


def annotate(pipeline, plan):
    docs = []
    RunEngine({}, context_managers=[])(plan, lambda n, d: docs.append((n, d)))
    out = []
    for name, doc in docs:
        result = pipeline(name, doc)
        assert result.failures == []
        out += result.annotations
    return out


def outputs(a):
    return next(p["outputs"] for p in a["predictions"] if p["plugin"] == "cu_l_valence")


def test_manifest_matches_the_files_and_opt_in_follows_the_card():
    manifest = read_plugin_toml(FOLDER)
    for entry in manifest["files"].values():
        assert sha256_of(FOLDER / entry["path"]) == entry["sha256"]
    meets = (CARD["test_mae"] <= 0.15 and CARD["test_r2"] >= 0.9
             and CARD["test_fraction_mae"] <= 0.1)
    assert manifest["opt_in"] is (not meets) and CuLValence.opt_in is (not meets)
    assert ("cu_l_valence" in [m.name for m in discover()]) is meets
    assert [m.name for m in discover(["cu_l_valence"])] == ["cu_l_valence"]


# Held-out FEFF10 + multiplet spectra read with MAE ~0.17 (card 1.4.0: Cu(0) 0.38); on the
# simulator's FEFF10 references Cu reads 0.05-0.06, Cu2O 0.99-1.00, CuO 1.56-1.63 (its FEFF10
# Cu(II) is unlike the multiplet Cu(II) the model now learns from; 1.3.0 read 1.93-1.95).
# Within 0.75 the three stay apart; the fractions name the right state outright.
VALENCE_TOLERANCE = 0.75


@pytest.mark.parametrize("compound,valence", [("Cu", 0), ("Cu2O", 1), ("CuO", 2)])
def test_single_eels_spectra_read_their_valence(pipeline, compound, valence):
    bl = SimBeamline.build(seed=11 + valence)
    anns = annotate(pipeline, eels_acquisition(bl.eels, bl.eels_stage, compound, n_events=4))
    assert len(anns) == 4
    for a in anns:
        out = outputs(a)
        assert out["value"] == pytest.approx(valence, abs=VALENCE_TOLERANCE), out
        assert out["ood"] is False and out["uncertainty"] < 0.6
        fractions = out["fractions"]
        assert max(fractions, key=fractions.get) == ("Cu(0)", "Cu(I)", "Cu(II)")[valence]
        assert sum(fractions.values()) == pytest.approx(1.0, abs=3e-3)


def test_spectrum_image_gives_a_valence_map_of_the_three_layers(pipeline):
    bl = SimBeamline.build(seed=3, si_pixels=48)
    anns = annotate(pipeline, eels_acquisition(bl.eels_si, bl.eels_stage, "layers",
                                               n_events=3))
    vmap = valence_map(anns)
    assert vmap.value.shape == (3, 48) and vmap.pixels == 144
    n = vmap.value.shape[1]
    means = []
    for (_, lo, hi), valence in zip(EelsSpecimenStage.LAYERS, (0, 1, 2), strict=True):
        a, b = round(lo * n), round(hi * n)
        inner = vmap.value[:, a + (b - a) // 4: b - (b - a) // 4]
        means.append(float(np.nanmean(inner)))
        assert means[-1] == pytest.approx(valence, abs=VALENCE_TOLERANCE)
    assert means[1] - means[0] > 0.25 and means[2] - means[1] > 0.25  # three distinct layers
    assert np.all(np.isfinite(vmap.uncertainty)) and not vmap.ood.any()


@pytest.mark.xfail(strict=True, reason=(
    "known limit (2026-12-07): a hand-made CuO shape (step at 932.5 eV, white line 4x the step "
    "1.5 eV below it) reads 0.92-0.98 and is not flagged; FEFF10 puts the white line on the onset"))
def test_literature_shaped_cuo_is_flagged_out_of_distribution():
    """Measured CuO has its strong L3 white line at ~931 eV; the hand-made literature shape
    (``EELS_MODELS``) is unlike every FEFF10 training spectrum in where that line sits: the
    model should say so rather than read it confidently as a lower valence."""
    model = CuLValence()
    model.load(("CPUExecutionProvider",))
    sim = EelsSimulator(EelsAxis(), np.random.default_rng(0), models=EELS_MODELS)
    from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
    from edgestream.normalize import normalized_batch

    loss = EelsAxis().loss()
    raws = [RawSpectrum(ids=SpectrumIds("r", "d", "primary", (1, 1), i), modality="eels",
                        energy=loss, signal=sim.spectrum("CuO").astype(float), element="Cu",
                        edge="L2,3") for i in range(4)]
    batch = normalized_batch(raws)
    assert all(o["ood"] for o in model.predict(batch))


def test_card_reports_the_metrics_the_issue_asks_for():
    for key in ("test_mae", "test_r2", "test_fraction_mae", "test_rmse",
                "test_reference_fraction_mae"):
        assert isinstance(CARD[key], float)
    assert CARD["data"]["spectra"] >= 600 and (FOLDER / "card.png").stat().st_size > 10_000


def test_eels_file_is_annotated_offline_by_the_stream_code(tmp_path):
    """``edgestream annotate --eels``: a two-column loss/counts file of Cu2O."""
    from edgestream.doors.files.door import annotate_file

    model = CuLValence()
    sim = EelsSimulator(EelsAxis(), np.random.default_rng(5))
    path = tmp_path / "cu2o_eels.txt"
    np.savetxt(path, np.c_[EelsAxis().loss(), sim.spectrum("Cu2O")],
               header="energy_loss counts")
    result = annotate_file(path, Settings(), [model], element="Cu", edge="L2,3", eels=True)
    assert result.failures == []
    (a,) = result.annotations
    assert a["modality"] == "eels" and a["edge"] == "L2,3"
    assert outputs(a)["value"] == pytest.approx(1.0, abs=0.35)
