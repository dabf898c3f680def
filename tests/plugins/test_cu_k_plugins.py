"""The Cu K-edge plugins (valence, motif, screening) on measured and simulated spectra.

Runs with numpy + onnxruntime only (the service's environment). Spectra go through the
stream's own code: files through ``edgestream.doors.files.door.annotate_file`` (shifted by their
session's foil reference, as a beamline would), simulated counts through
``normalize_spectra`` into a ``SpectrumBatch`` as ``Pipeline`` builds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.doors.files.door import annotate_file
from edgestream.normalize import annotation_grid, normalized_batch, spectrum_batch
from edgestream.physics import elements_in, mu_transmission, pre_edge
from edgestream.plugin.api import SpectrumBatch, read_plugin_toml, sha256_of
from edgestream_plugins.motif import CuKMotif, family_of
from edgestream_plugins.screening import CuKScreening, ElementFilter
from edgestream_plugins.valence import CuKValence
from edgestream_sim.spectra import XasConditions, XasSimulator, load_fixture

MEASURED = Path(__file__).resolve().parents[1] / "data" / "measured-cu-k"
STANDARDS = [e for e in json.loads((MEASURED / "manifest.json").read_text())
             if not e["file"].startswith("ref_")]
# Valence tolerance on the measured standards: formal valences are integers one apart, so
# ±0.5 is the bound inside which the reading names the right oxidation state. The models do
# better (card.json: worst standard within VALENCE_TOLERANCE_MEASURED); the test pins that.
VALENCE_TOLERANCE_MEASURED = 0.35
VALENCE_TOLERANCE_SIMULATED = 0.5
MIN_CU0_SITES = 50  # below this the models cannot know Cu metal (FEFF10 sites pending)


@pytest.fixture(scope="module")
def plugins():
    models = {"valence": CuKValence(), "motif": CuKMotif(), "screening": CuKScreening()}
    for m in models.values():
        m.load(("CPUExecutionProvider",))
    return models


@pytest.fixture(scope="module")
def standards(plugins):
    """{file: {plugin name: outputs}} for the six measured standards."""
    out = {}
    for entry in STANDARDS:
        result = annotate_file(MEASURED / entry["file"], Settings(), list(plugins.values()),
                               element="Cu", edge="K",
                               energy_shift_ev=entry["shift_to_put_reference_at_8979_eV"])
        assert result.failures == []
        (a,) = result.annotations
        out[entry["file"]] = {p["plugin"]: p["outputs"] for p in a["predictions"]}
    return out


def batch_from(energies: list[np.ndarray], mus: list[np.ndarray]) -> SpectrumBatch:
    """A SpectrumBatch exactly as Pipeline builds it (default settings grid)."""
    raw = [RawSpectrum(SpectrumIds("run", "desc", "primary", (i, i)), "xas_transmission", e, m,
                       "Cu", "K") for i, (e, m) in enumerate(zip(energies, mus, strict=True))]
    return normalized_batch(raw)


def cu0_training_sites() -> int:
    card = json.loads((Path(CuKValence.folder) / "card.json").read_text())
    return int(card["labels"]["train_valence_counts"].get("0", 0))


@pytest.mark.parametrize("entry", STANDARDS, ids=[e["file"] for e in STANDARDS])
def test_measured_standards_read_their_formal_valence(standards, entry):
    out = standards[entry["file"]]["cu_k_valence"]
    if entry["formal_valence"] == 0 and cu0_training_sites() < MIN_CU0_SITES:
        pytest.xfail(f"only {cu0_training_sites()} Cu(0) training sites: retrain once the "
                     "FEFF10 metal/alloy sites are in the data set")
    assert abs(out["value"] - entry["formal_valence"]) <= VALENCE_TOLERANCE_MEASURED, out
    # members that disagree (a foil: one of five strays to 1.4) must also raise the flag
    assert 0 <= out["uncertainty"] < (1.0 if out["ood"] else 0.5), out


@pytest.mark.parametrize("compound", ["Cu2O", "CuO"])
def test_standards_calibrate_on_their_own_reference_foil(plugins, tmp_path, compound):
    """The HASYLAB scans read 8 eV low; with their foil channel beside μ and no shift given,
    the stream finds the session's shift itself and the valence reads right."""
    (entry,) = [e for e in STANDARDS if e["file"].endswith(f"_{compound}_HASYLAB_2001.txt")]
    sample = np.loadtxt(MEASURED / entry["file"], comments="#")
    foil = np.loadtxt(MEASURED / entry["energy_reference_file"], comments="#")
    assert np.array_equal(foil[:, 0], sample[:, 0])  # one scan, two chambers
    path = tmp_path / f"{compound}.txt"
    np.savetxt(path, np.column_stack([sample, foil[:, 1]]), header="energy mu mu_ref")
    result = annotate_file(path, Settings(), [plugins["valence"]])
    (a,) = result.annotations
    cal = a["energy_calibration"]
    assert cal["source"] == "reference"
    # the manifest's is Larch's e0 (an energy point); refined, within half a 0.3 eV step
    assert cal["shift_ev"] == pytest.approx(entry["shift_to_put_reference_at_8979_eV"],
                                            abs=0.15)
    (pred,) = a["predictions"]
    assert abs(pred["outputs"]["value"] - entry["formal_valence"]) <= VALENCE_TOLERANCE_MEASURED


ATHENA = MEASURED.parent / "athena" / "athena4.prj"
# APS 13-BM-D 2008 (tests/data/athena/README.md): formal valences. Covellite CuS is 4/3 by
# charge balance (Cu3(S2)S) and Cu(I)-like by XPS/XAS: either reading is right.
ATHENA_STANDARDS = {"cu_cuprite.001": 1, "cu_tenorite.001": 2, "cu_azurite.001": 2,
                    "cus_cu_xafs.001": 4 / 3, "cu2s_cu_xafs.001": 1,
                    "cusulfate_cu_xafs.001": 2, "cucl2_5h2o_cu_xafs.001": 2}
ATHENA_SESSION_SHIFT_EV = -2.06  # the session's Cu foil (cufoil.001), refined edge -> 8979


@pytest.fixture(scope="module")
def athena_readings(plugins):
    out = annotate_file(ATHENA, Settings(), [plugins["valence"]],
                        energy_shift_ev=ATHENA_SESSION_SHIFT_EV)
    assert out.failures == []
    return {a["sample"]: a["predictions"][0]["outputs"] for a in out.annotations}


@pytest.mark.parametrize("name", ATHENA_STANDARDS)
def test_measured_oxides_sulfides_and_salts(athena_readings, name):
    """Measured spectra the models never saw: Cu(I) and Cu(II) oxides, sulfides, a
    carbonate, a chloride and a sulfate, foil-calibrated like the training standards."""
    out, formal = athena_readings[name], ATHENA_STANDARDS[name]
    if name == "cusulfate_cu_xafs.001":
        pytest.xfail(f"CuSO4 reads {out['value']:.2f} (Cu(II)), over-read and not flagged: "
                     "a known miss of the current model on this measured sulfate")
    if name == "cus_cu_xafs.001":
        assert 1 - VALENCE_TOLERANCE_MEASURED <= out["value"] <= formal + VALENCE_TOLERANCE_MEASURED
    else:
        assert abs(out["value"] - formal) <= VALENCE_TOLERANCE_MEASURED, out


def test_a_two_phase_sample_reads_between_its_phases(plugins):
    """Measured Cu2O and CuO (one APS session) mixed in known fractions, as a sample of the
    two would absorb: the valence never falls as CuO is added, the ends read Cu(I) and Cu(II),
    and the change passes through values between them, not as one jump. Not linear: the
    readings lean to the majority phase (card.json: test_mixture_mae)."""
    flats = []
    for name in ("cu1_Cu2O_cuprite_APS13BMD_2008.txt", "cu2_CuO_tenorite_APS13BMD_2008.txt"):
        entry = next(e for e in STANDARDS if e["file"] == name)
        data = np.loadtxt(MEASURED / name, comments="#")
        energy = data[:, 0] + entry["shift_to_put_reference_at_8979_eV"]
        flats.append((energy, pre_edge(energy, data[:, 1]).flat[0]))
    energy = flats[0][0]
    cu2o, cuo = flats[0][1], np.interp(energy, *flats[1])
    fractions = np.linspace(0.0, 1.0, 11)
    batch = batch_from([energy] * 11, [(1 - f) * cu2o + f * cuo for f in fractions])
    values = np.array([o["value"] for o in plugins["valence"].predict(batch)])
    assert np.all(np.diff(values) > -0.02), values
    assert abs(values[0] - 1) < VALENCE_TOLERANCE_MEASURED, values
    assert abs(values[-1] - 2) < VALENCE_TOLERANCE_MEASURED, values
    assert np.any((values > 1.2) & (values < 1.8)), values


def test_simulated_fixture_spectra(plugins):
    """The sim beamline's eight FEFF9 spectra, measured with noise through the stream's code.

    The fixture's Cu(I)/Cu(II) oxides (Cu2O, CuO, La2CuO4) read within ±0.5 of their formal
    valence; every reading is within ±1 (never a whole oxidation state off); and the Cu(I),
    Cu(II), Cu(III) groups read in that order on average. FEFF9 spectra of the OmniXAS set
    carry the valence only weakly (card.json: test MAE), so tighter bounds would pin noise.
    """
    refs = load_fixture()
    energy = np.concatenate([np.arange(8880, 8970, 5.0), np.arange(8970, 9010, 0.5),
                             np.arange(9010, 9300, 4.0)])
    mus = []
    for i, ref in enumerate(refs):
        sim = XasSimulator(ref, XasConditions(), np.random.default_rng(i))
        counts = sim.measure(energy, np.arange(energy.size, dtype=float))
        mus.append(mu_transmission(counts["I0"], counts["It"]))
    outs = plugins["valence"].predict(batch_from([energy] * len(refs), mus))
    value = {r.formula: o["value"] for o, r in zip(outs, refs, strict=True)}
    truth = {r.formula: r.valence for r in refs}
    for formula in ("Cu2O", "CuO", "La2CuO4"):
        assert abs(value[formula] - truth[formula]) <= VALENCE_TOLERANCE_SIMULATED, value
    assert all(abs(value[f] - truth[f]) < 1.0 for f in value), value
    means = [np.mean([value[f] for f in value if truth[f] == v]) for v in (1, 2, 3)]
    assert means == sorted(means), (means, value)


def test_motif_outputs_are_well_formed(plugins, standards):
    classes = plugins["motif"].manifest["classes"]
    for per_file in standards.values():
        out = per_file["cu_k_motif"]
        assert out["value"] in classes
        assert set(out["probabilities"]) == set(classes)
        assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=0.01)
        assert out["probability"] == max(out["probabilities"].values())
        assert 0 <= out["uncertainty"] <= 1 and out["entropy"] >= 0
        assert isinstance(out["ood"], bool)
        in_family = [p for c, p in out["probabilities"].items()
                     if family_of(c) == out["family"]]
        assert out["family_probability"] == pytest.approx(sum(in_family), abs=0.01)
        assert out["family_probability"] >= out["probability"] - 1e-9


def test_motif_family_of_cuo_is_the_jahn_teller_planar_one(plugins, standards):
    """CuO's Cu is square planar with two long axial O (2.78 Å): whichever of the three
    classes the model picks, the family is "planar", and surer than any one class."""
    for name, per_file in standards.items():
        if "CuO" in name:
            out = per_file["cu_k_motif"]
            assert out["family"] == "planar", (name, out)
            # measured 2026-12-07: 0.89 and 0.92 against 0.63 and 0.66 for the top class
            assert out["family_probability"] > max(0.85, out["probability"] + 0.1), (name, out)


def test_screening_outputs_are_well_formed(plugins, standards):
    k = plugins["screening"].manifest["top_k"]
    ids = set(plugins["screening"].library["material_id"])
    for per_file in standards.values():
        out = per_file["cu_k_screening"]
        scores = [c["score"] for c in out["candidates"]]
        assert len(out["candidates"]) == k and scores == sorted(scores, reverse=True)
        assert all(-1 <= c["similarity"] <= 1 for c in out["candidates"])
        assert out["value"] == out["candidates"][0]["material_id"] in ids
        assert all(c["formula"] and abs(c["shift_ev"]) <= 3 for c in out["candidates"])


def test_element_filter_keeps_candidates_made_of_the_samples_elements():
    f = ElementFilter(np.array(["Cu2O", "CuFe2O4", "Cu", "LaCuO3", "Cu(OH)2", "cu2o"]))
    mask, report = f.for_sample("CuO")
    assert mask.tolist() == [True, False, True, False, False, False]
    assert report == {"elements": ["Cu", "O"], "matching": 2}
    assert f.for_sample(["Cu", "Fe", "O", "La"])[0].tolist() == [True] * 4 + [False] * 2
    assert f.for_sample(None) == (None, None)
    assert f.for_sample("Ne") == (None, {"elements": ["Ne"], "matching": 0})
    for bad in ("cuo", 3.5, {"Cu": 1}):
        mask, report = f.for_sample(bad)
        assert mask is None and "error" in report


def test_screening_ranks_only_candidates_of_the_samples_elements(plugins):
    """The run's ``composition`` (here the measured cuprite standard's, Cu2O) restricts the
    ranking to candidates made of Cu and O; a composition nothing matches, or one that cannot
    be read, leaves the ranking as it was and says so."""
    entry = next(e for e in STANDARDS if e["file"].startswith("cu1_Cu2O_cuprite"))

    def screen(composition):
        (a,) = annotate_file(MEASURED / entry["file"], Settings(), [plugins["screening"]],
                             element="Cu", edge="K", composition=composition,
                             energy_shift_ev=entry["shift_to_put_reference_at_8979_eV"]
                             ).annotations
        return a["predictions"][0]["outputs"]

    cu_o = {"Cu", "O"}
    n_cu_o = sum(elements_in(str(f)) <= cu_o for f in plugins["screening"].library["formula"])
    out, everything = screen("Cu2O"), screen(None)
    assert out["composition"] == {"elements": ["Cu", "O"], "matching": n_cu_o} and n_cu_o >= 10
    assert all(elements_in(c["formula"]) <= cu_o for c in out["candidates"])
    assert "Cu2O" in [c["formula"] for c in out["candidates"]]  # cuprite among the best 5
    assert "composition" not in everything
    assert any(not elements_in(c["formula"]) <= cu_o for c in everything["candidates"])
    assert [c["formula"] for c in screen("Cu")["candidates"]] == ["Cu"]
    for unmatched in ("Ne", "copper"):
        out = screen(unmatched)
        assert out["candidates"] == everything["candidates"]
        assert out["composition"] == ({"elements": ["Ne"], "matching": 0} if unmatched == "Ne"
                                      else {"error": "cannot read the composition 'copper'"})


def test_screening_library_is_large_and_small():
    folder = Path(CuKScreening.folder)
    lib = np.load(folder / "library.npz")
    assert len(lib["material_id"]) >= 500 and "test" in set(lib["split"])
    total = sum(p.stat().st_size for f in ("valence", "motif", "screening")
                for p in (folder.parent / f).glob("*") if p.suffix in (".onnx", ".npz"))
    assert total < 16e6  # the forward ensemble (5 x MLP 64-512-512-141) is 7.5 MB of it


def test_nonsense_is_flagged_not_crashed(plugins):
    """An edge 40 eV below Cu K (another element, or no energy calibration), pure noise and
    an empty row: all flagged out of distribution, never an exception."""
    grid = annotation_grid()
    step = 0.5 + np.arctan(grid / 1.0) / np.pi
    noise = np.random.default_rng(0).normal(0.5, 0.5, grid.size)
    norm = np.stack([step, noise, np.full(grid.size, np.nan)])
    batch = spectrum_batch("Cu", "K", "xas_transmission", grid, norm,
                           np.array([8939.0, 8985.0, 8985.0]))
    for model in plugins.values():
        outs = model.predict(batch)
        assert len(outs) == 3
        assert all(o["ood"] for o in outs), (model.name, outs)
        assert outs[2]["value"] is None


@pytest.mark.parametrize("family", ["valence", "motif", "screening"])
def test_manifest_lists_every_file_with_its_sha256(family):
    folder = Path(CuKValence.folder).parent / family
    manifest = read_plugin_toml(folder)
    assert manifest["grid"]["step"] == 0.5
    for entry in manifest["files"].values():
        assert sha256_of(folder / entry["path"]) == entry["sha256"]
    card = json.loads((folder / "card.json").read_text())
    assert len(card["standards"]) == 6 and (folder / "card.png").exists()


def test_cards_report_the_athena_standards(plugins):
    """What the next card will hold (``cards.athena_predictions``), from the shipped models."""
    from edgestream_models import cards

    rows = cards.athena_predictions(plugins["valence"])
    assert sorted(r["group"] for r in rows) == sorted(cards.ATHENA_STANDARDS)
    assert all(r["energy_shift_ev"] == pytest.approx(-2.0646, abs=1e-3) for r in rows)
    read = {r["group"]: r["outputs"]["value"] for r in rows}
    assert abs(read["cu_tenorite.001"] - 2) < VALENCE_TOLERANCE_MEASURED
    assert abs(read["cu_cuprite.001"] - 1) < VALENCE_TOLERANCE_MEASURED
