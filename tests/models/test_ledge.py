"""Cu L2,3 training code: L2 from L3, EELS simulation through the stream's normalization,
mixtures, the split, and forests exported to ONNX with every tree's output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgestream_models import ledge_data, ledge_forest, ledge_simulate
from edgestream_plugins.cu_l import GRID, class_median, median_summary, represent, tree_summary


def edge_spectrum(onset=932.7, white=0.0):
    """An L3-like FEFF spectrum: a logistic step with an optional white line."""
    e = np.arange(925.0, 985.0, 0.2)
    mu = 1 / (1 + np.exp(-(e - onset) / 0.5)) + white * np.exp(-0.5 * ((e - onset - 1) / 0.8) ** 2)
    return e, mu


def test_l23_adds_the_l2_edge_half_as_high_19_9_ev_up():
    e, mu = edge_spectrum()
    y = ledge_data.l23(e, mu, shift=-2.0)
    at = lambda x: float(np.interp(x, ledge_data.FINE, y))  # noqa: E731
    assert at(925.0) == pytest.approx(0.0, abs=1e-3)
    assert at(930.7 + 10) == pytest.approx(1.0, abs=1e-3)           # L3 only, moved by -2 eV
    assert at(930.7 + 19.9 + 10) == pytest.approx(1.5, abs=1e-3)    # + half an L2 step


def test_onset_is_the_steepest_rise():
    e, mu = edge_spectrum(onset=936.2)
    assert ledge_data.onset_of(e, mu) == pytest.approx(936.2, abs=0.1)


def test_simulated_eels_goes_through_the_stream_normalization():
    """A clean simulation comes back onset-aligned and step-normalized, with its cumsum."""
    e, mu = edge_spectrum(white=2.0)
    y = ledge_data.l23(e, mu, shift=0.0)[None, :].repeat(8, axis=0)
    x, ok = ledge_simulate.simulate_eels(y, np.random.default_rng(1), clean=True)
    assert ok.all() and x.shape == (8, 2 * GRID.size)
    signal = x[:, : GRID.size]
    assert np.abs(signal[:, GRID <= -3]).max() < 0.1                 # background removed
    peak = GRID[np.argmax(signal, axis=1)]
    assert np.all(np.abs(peak - 1.0) <= 1.0)                         # white line ~1 eV up
    assert np.allclose(x[:, -1], np.sum(signal, axis=1) * 0.5 / 45, rtol=1e-4)
    noisy, ok = ledge_simulate.simulate_eels(y, np.random.default_rng(2))
    assert ok.sum() >= 6 and np.all(np.isfinite(noisy[ok]))


def test_simulated_soft_xas_goes_through_the_stream_xas_normalization():
    """Clean soft-XAS rows come back step-normalized about the pipeline's e0 like EELS ones;
    with yield saturation (the noisy draws) the white line over the step is lower on
    average, and most rows still normalize."""
    e, mu = edge_spectrum(white=2.0)
    y = ledge_data.l23(e, mu, shift=0.0)[None, :].repeat(16, axis=0)
    x, ok = ledge_simulate.simulate_xas(y, np.random.default_rng(1), clean=True)
    assert ok.all() and x.shape == (16, 2 * GRID.size)
    clean = x[:, : GRID.size]
    assert np.abs(clean[:, GRID <= -3]).max() < 0.15                  # pre-edge line removed
    # the XAS path's edge step is the whole L2,3 jump (EELS: the mean 40-60 eV up, too)
    assert np.abs(np.median(clean[:, GRID >= 35]) - 1.0) < 0.1
    noisy, ok = ledge_simulate.simulate_xas(y, np.random.default_rng(2))
    assert ok.sum() >= 12 and np.all(np.isfinite(noisy[ok]))
    assert np.median(noisy[ok, : GRID.size].max(axis=1)) < np.median(clean.max(axis=1))


def test_mixtures_are_convex_combinations_of_one_split():
    rng = np.random.default_rng(0)
    n = 6
    spectra = ledge_data.Spectra(
        key=np.arange(n).astype(str), group=np.array(["omnixas"] * n),
        material=np.arange(n).astype(str), family=np.arange(n).astype(str),
        formula=np.array(["X"] * n), valence=np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]),
        mu=np.arange(n)[:, None] * np.ones((n, ledge_data.FINE.size)))
    mu, frac = ledge_simulate.mixtures(spectra, 300, rng)
    assert np.allclose(frac.sum(axis=1), 1.0) and (frac >= 0).all()
    assert 0.2 < np.mean((frac == 0).any(axis=1)) < 0.5               # a third are binary
    # every mixture is sum f_k * (spectrum of a member of class k): between the class values
    lo = frac @ np.array([0.0, 1.0, 2.0])
    assert np.all(mu[:, 0] >= lo - 1e-9) and np.all(mu[:, 0] <= lo + 3 + 1e-9)


def test_reference_mixtures_mix_exactly_the_cu_cu2o_cuo_references():
    """The published recipe's mixtures: only the three reference spectra, in their order."""
    keys = ["omnixas/mp-5/site000", "calib/cuo_tenorite/Cu1-000", "cu_fcc/strain/Cu1-000",
            "calib/cu2o_cuprite/Cu1-002", "cu_fcc/base/Cu1-000"]
    n = len(keys)
    spectra = ledge_data.Spectra(
        key=np.array(keys), group=np.array(["x"] * n), material=np.array(keys),
        family=np.array(keys), formula=np.array(["X"] * n),
        valence=np.array([2.0, 2.0, 0.0, 1.0, 0.0]),
        mu=np.array([9.0, 2.0, 7.0, 1.0, 0.0])[:, None] * np.ones((n, ledge_data.FINE.size)))
    rows = ledge_simulate.reference_rows(spectra)
    assert list(rows) == [4, 3, 1]                                   # Cu, Cu2O, CuO
    mu, frac = ledge_simulate.mixtures(spectra.take(rows), 200, np.random.default_rng(0))
    assert np.allclose(mu[:, 0], frac @ np.array([0.0, 1.0, 2.0]))    # nothing else mixed in
    with pytest.raises(SystemExit, match="reference sites missing"):
        ledge_simulate.reference_rows(spectra.take(np.array([0, 1, 2])))


def test_split_keeps_prototype_families_and_omnixas_materials_together(tmp_path):
    import json

    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"train": ["mp-1_000"], "val": ["mp-2_000"],
                                  "test": ["mp-3_000", "mp-3_001"]}))
    protos = [f"p{i}" for i in range(8)]
    fam = ["mp-1", "mp-2", "mp-3", "mp-3"] + [p for p in protos for _ in range(3)]
    n = len(fam)
    spectra = ledge_data.Spectra(
        key=np.arange(n).astype(str),
        group=np.array(["omnixas"] * 4 + ["prototype"] * (n - 4)), material=np.array(fam),
        family=np.array(fam), formula=np.array(["X"] * n),
        valence=np.array([2.0] * 4 + [0.0] * 12 + [1.0] * 12), mu=np.zeros((n, 3)))
    part = ledge_data.split_families(spectra, splits)
    assert list(part[:4]) == ["train", "train", "test", "test"]
    for f in protos:
        assert len(set(part[np.array(fam) == f])) == 1
    assert {"train", "test"} <= set(part[4:16]) and {"train", "test"} <= set(part[16:])


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_forest_onnx_gives_every_trees_output(n_outputs):
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.random((300, 12)).astype(np.float32)
    y = x[:, :n_outputs] * 2 + rng.normal(0, 0.1, (300, n_outputs))
    forest = ledge_forest.fit_forest(x, y if n_outputs > 1 else y[:, 0], n_trees=7, seed=0)
    session = ort.InferenceSession(ledge_forest.per_tree_onnx(forest, 12),
                                   providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x[:50]})
    expected = ledge_forest.per_tree_sklearn(forest, x[:50])
    assert got.shape == (50, 7 * n_outputs)
    assert np.max(np.abs(got - expected)) <= 1e-5
    mean, spread = tree_summary(got, n_outputs)
    assert np.allclose(mean[:, :n_outputs].squeeze(), forest.predict(x[:50]), atol=1e-5)
    assert (spread > 0).any()


def test_represent_interpolates_at_the_onset_and_flags_coverage():
    loss = np.arange(900.0, 960.0, 0.1)
    norm = np.clip((loss - 930.0) / 10, 0, 1)[None, :]
    x, cov = represent(loss, norm, np.array([930.0]))
    assert x[0, GRID.size + 0] == 0 and x[0, list(GRID).index(5.0)] == pytest.approx(0.5)
    assert cov[0] < 1.0                                               # 960 < onset + 40
    x2, cov2 = represent([loss], [norm[0]], np.array([915.0]))
    assert cov2[0] == 1.0 and np.isfinite(x2).all()


def test_represent_gives_shared_axis_rows_at_once_as_row_by_row():
    """Spectrum-image rows (one axis) go through one vectorized interpolation; rows with a
    gap, a missing onset or a non-uniform axis must read exactly as row by row."""
    rng = np.random.default_rng(4)
    loss = np.sort(rng.uniform(880.0, 1000.0, 900))
    norm = rng.normal(size=(40, loss.size)).cumsum(axis=1) / 30
    norm[3, 100:120] = np.nan
    onset = rng.uniform(880.0, 990.0, 40)
    onset[5] = np.nan
    x, cov = represent(loss, norm, onset)
    x_rows, cov_rows = represent([loss] * 40, list(norm), onset)
    assert np.array_equal(np.isnan(x), np.isnan(x_rows)) and np.isnan(x[5]).all()
    assert np.allclose(x, x_rows, atol=1e-6, equal_nan=True)
    assert np.array_equal(cov, cov_rows) and cov[5] == 0
    assert (cov == 1).any() and ((cov > 0) & (cov < 1)).any()  # partly covered rows too


def test_class_weights_are_one_hot_or_split_between_neighbours():
    w = ledge_forest.class_weights(np.array([0.0, 1.0, 3.0, 4 / 3, 2.5]))
    np.testing.assert_allclose(w[:3], np.eye(4)[[0, 1, 3]])
    np.testing.assert_allclose(w[3], [0, 2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(w[4], [0, 0, 0.5, 0.5])
    np.testing.assert_allclose(w @ np.arange(4.0), [0, 1, 3, 4 / 3, 2.5])  # mean = valence


def test_median_read_out_of_class_weights():
    np.testing.assert_allclose(class_median(np.eye(4)), [0, 1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(class_median([[0, 0.5, 0.5, 0]]), [1.5])
    assert class_median([[0, 0.9, 0.1, 0]])[0] == pytest.approx(0.5 + 0.5 / 0.9)  # 1.056
    assert class_median([[0, 0.9, 0.1, 0]])[0] < 0.9 * 1 + 0.1 * 2  # leans to the majority
    assert class_median([[0, 2.0, 2.0, 0]])[0] == pytest.approx(1.5)  # unnormalized weights
    # the forest's median and the trees' spread: three trees, two sure of Cu(I), one of Cu(II)
    value, spread = median_summary(np.array([[0, 1, 0, 0] * 2 + [0, 0, 1, 0]], float), 4)
    assert value[0] == pytest.approx(0.5 + 0.5 / (2 / 3))  # 1.25, where the mean says 1.33
    assert spread[0] == pytest.approx(np.std([1, 1, 2]))


def test_the_cli_keeps_its_flags_after_the_split(capsys):
    """``python -m edgestream_models.ledge`` (training) and ``--fixture`` (the simulator's
    spectra) parse as before; the modules it is made of import without the training extra."""
    from edgestream_models import ledge

    with pytest.raises(SystemExit) as done:
        ledge.main(["--help"])
    assert done.value.code == 0
    usage = capsys.readouterr().out
    for flag in ("--fixture", "--out", "--copies", "--mixtures", "--reference-mixtures",
                 "--trees", "--seed", "--cache", "--draws", "--feff-only"):
        assert flag in usage
    assert ledge.PLUGIN.name == "cu_l" and ledge.FINE is ledge_data.FINE


def test_the_cu_l_manifest_is_written_by_the_plugin_apis_writer(tmp_path):
    """What the training writes validates, carries the typed outputs and the card's opt_in and
    spread limit, and makes a class that applies to the edges EELS metadata uses."""
    from edgestream.plugin.manifest import read_manifest
    from edgestream_models.ledge_card import OUTPUTS, write_cu_l_manifest

    (tmp_path / "valence.onnx").write_bytes(b"v")
    card = {"name": "cu_l_valence", "version": "9.0.0", "opt_in": True,
            "ood": {"max_spread": 0.5}}
    written = write_cu_l_manifest(tmp_path, {"valence": "valence.onnx"}, card)
    assert written == read_manifest(tmp_path) and written.opt_in is True
    assert written["ood"] == {"max_spread": 0.5} and set(written.outputs) == set(OUTPUTS)
    assert written.outputs["value"].range == (0.0, 3.0)
    assert {"L3", "L2,3", "L23", "L2"} == set(written["edges"])
    assert np.allclose(written.grid(), GRID)


def test_the_model_in_the_folder_is_scored_on_the_new_rows_through_its_onnx(tmp_path):
    """``previous_scores`` reads the shipped model's ONNX files: on its own export probes,
    labelled with what its sklearn forests gave, it scores (near) zero error, as EELS and as
    soft-XAS rows; labels one valence off score 1; an empty folder has no previous model."""
    from edgestream_models import ledge

    probe = np.load(ledge.PLUGIN / "valence.parity.npz")
    fprobe = np.load(ledge.PLUGIN / "fractions.parity.npz")
    x = probe["x"]
    yt = median_summary(probe["expected"], 4)[0]
    f = np.clip(tree_summary(fprobe["expected"], 3)[0], 0, None)
    f /= f.sum(axis=1, keepdims=True)
    got = ledge.previous_scores(ledge.PLUGIN, x, yt, fprobe["x"], f, x, yt)
    assert got["test_mae"] < 1e-3 and got["test_fraction_mae"] < 1e-3
    assert got["test_soft_xas_mae"] < 1e-3
    assert got["version"] == json.loads((ledge.PLUGIN / "card.json").read_text())["version"]
    off = ledge.previous_scores(ledge.PLUGIN, x, yt + 1.0, fprobe["x"], f, x, yt + 1.0)
    assert off["test_mae"] == pytest.approx(1.0, abs=1e-3)
    assert off["test_soft_xas_mae"] == pytest.approx(1.0, abs=1e-3)
    assert ledge.previous_scores(tmp_path, x, yt, fprobe["x"], f, x, yt) is None
