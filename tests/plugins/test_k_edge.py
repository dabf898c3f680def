"""The k_edge family (3d K edges): which path a spectrum takes, what each path reads, that
training and serving compute the same inputs, and the shipped plugins on measured spectra."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.doors.files.door import annotate_file
from edgestream.normalize import normalized_batch
from edgestream.physics import edge_energy
from edgestream.plugin.manifest import check_outputs
from edgestream_plugins import k_edge
from edgestream_plugins.k_edge import CAL_GRID, SHAPE_GRID, calibrated, inputs

MEASURED = Path(__file__).resolve().parents[1] / "data" / "measured-3d-k"
SHIPPED = sorted(p.name for p in k_edge.FOLDER.glob("*_*") if (p / "plugin.toml").exists())


def _edge(energy: np.ndarray, e0: float, white_line: float = 0.6) -> np.ndarray:
    """A smooth K edge at ``e0`` with a white line 6 eV above it, on a sloping background."""
    step = 0.5 + np.arctan((energy - e0) / 1.5) / np.pi
    peak = white_line * np.exp(-0.5 * ((energy - e0 - 6.0) / 3.0) ** 2)
    return 0.3 - 1e-5 * (energy - e0) + step + peak * step


def _batch(e0s: list[float], element: str = "Fe", shift: float | None = None):
    edge = edge_energy(element, "K")
    energy = np.arange(edge - 150.0, edge + 400.0, 0.5)
    meta = {} if shift is None else {"_calibration": {"source": "metadata", "shift_ev": shift}}
    raws = [RawSpectrum(SpectrumIds("run", "d", "primary", (i, i)), "xas_mu", energy,
                        _edge(energy, e0), element, "K", metadata=dict(meta))
            for i, e0 in enumerate(e0s)]
    return normalized_batch(raws)


def test_the_path_follows_the_energy_calibration():
    assert not calibrated(_batch([7112.0])).any()
    assert calibrated(_batch([7112.0], shift=0.0)).all()


def test_the_calibrated_input_moves_with_the_edge_and_the_shape_input_does_not():
    edge = edge_energy("Fe", "K")
    batch = _batch([edge + 2.0, edge + 6.0])
    cal, cov_cal = inputs(batch, "calibrated")
    shape, cov_shape = inputs(batch, "shape")
    assert cal.shape == (2, CAL_GRID.size) and shape.shape == (2, SHAPE_GRID.size)
    assert (cov_cal > 0.99).all() and (cov_shape > 0.99).all()
    # calibrated: 4 eV higher edge = the same curve 8 grid points (0.5 eV) later
    np.testing.assert_allclose(cal[1, 8:], cal[0, :-8], atol=0.02)
    np.testing.assert_allclose(shape[0], shape[1], atol=0.02)
    assert np.abs(cal[0] - cal[1]).max() > 0.3


def test_training_reads_the_shape_path_as_the_service_does():
    """The draws' shape inputs (k3d_data.shape_inputs on the training axis) equal the
    service's (normalization, then e0, then the grid about it) for the same spectrum."""
    pytest.importorskip("sklearn")
    from edgestream.physics.xas import find_e0
    from edgestream_models.k3d_data import WORK, shape_inputs

    edge = edge_energy("Mn", "K")
    batch = _batch([edge + 12.0], element="Mn")
    served, _ = inputs(batch, "shape")
    norm = batch.norm[0]
    axis_abs = batch.e0[0] + batch.grid
    ok = np.isfinite(norm)
    y = np.interp(WORK + edge, axis_abs[ok], norm[ok])
    trained = shape_inputs(WORK, y[None, :], "Mn")
    # e0 is a measured point either way (0.5 eV steps here, 0.25 eV in training), so the
    # two may differ by a step: the curves agree within what half a step moves them
    e0_trained = find_e0(WORK + edge, y[None, :])[0]
    assert abs(e0_trained - batch.e0[0]) <= 0.5
    np.testing.assert_allclose(trained[0], served[0], atol=0.1)
    assert np.mean(np.abs(trained[0] - served[0])) < 0.02


def test_folds_never_split_a_material():
    pytest.importorskip("sklearn")
    from edgestream_models.k3d import folds_of

    material = np.array(["a", "a", "b", "c", "c", "c", "d", "e"])
    fold = folds_of(material, 3, seed=1)
    for m in np.unique(material):
        assert len(set(fold[material == m])) == 1
    assert len(set(fold)) == 3


@pytest.mark.skipif(not SHIPPED, reason="no k_edge model trained yet")
@pytest.mark.parametrize("folder", SHIPPED)
def test_each_shipped_model_reads_measured_spectra_with_typed_outputs(folder):
    manifest_file = k_edge.FOLDER / folder / "card.json"
    card = json.loads(manifest_file.read_text())
    cls = getattr(k_edge, f"{card['element']}K{card['task'].capitalize()}")
    model = cls()
    model.load(("CPUExecutionProvider",))
    assert model.opt_in == (not card["meets_targets"])
    entries = [e for e in json.loads((MEASURED / "manifest.json").read_text())
               if e["element"] == card["element"]]
    if not entries:
        pytest.skip(f"no measured {card['element']} spectrum")
    for entry in entries:
        out = annotate_file(MEASURED / entry["file"], Settings(), [model])
        assert not out.failures
        (a,) = out.annotations
        (p,) = [p for p in a["predictions"] if p["plugin"] == model.name]
        assert not check_outputs(model.manifest, p["outputs"])
        expected = "calibrated" if entry["reference_channel"] else "shape"
        assert p["outputs"]["path"] == expected
