"""The simulated devices describe exactly what they read."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream_sim.devices import (
    EelsDetector,
    EelsSpecimenStage,
    EnergyAxis,
    IonChambers,
    PhotonBeam,
    QexafsDetector,
    XasSampleStage,
)
from edgestream_sim.spectra import load_fixture

JSON_DTYPES = {"number": (float,), "integer": (int,), "string": (str,)}


@pytest.fixture
def rig():
    rng = np.random.default_rng(0)
    beam = PhotonBeam()
    stage = XasSampleStage(library=load_fixture(), rng=rng)
    stage.set("mp-1692").wait(1)
    specimen = EelsSpecimenStage(rng=rng)
    return beam, stage, specimen


def assert_truthful(device) -> None:
    """describe() and read() have the same keys; shapes, dtypes match; units given."""
    device.trigger().wait(5)
    for describe, read in (
        (device.describe(), device.read()),
        (device.describe_configuration(), device.read_configuration()),
    ):
        assert set(describe) == set(read)
        for key, desc in describe.items():
            value = read[key]["value"]
            assert {"source", "dtype", "shape"} <= set(desc)
            assert list(np.shape(value)) == desc["shape"], key
            if desc["dtype"] == "array":
                assert isinstance(value, np.ndarray) and value.ndim > 0
                assert value.dtype.str == desc["dtype_numpy"]
            else:
                assert np.ndim(value) == 0
                if desc["dtype"] == "number":
                    assert isinstance(value, float | int | np.floating)
            if "dtype_numpy" in desc:
                assert np.asarray(value).dtype.str == desc["dtype_numpy"]


@pytest.mark.parametrize("egu", ["eV", "keV"])
def test_energy_axis_units_and_beam(egu):
    beam = PhotonBeam()
    axis = EnergyAxis(beam=beam, egu=egu)
    assert axis.name == "dcm_energy"
    target = 8990.0 if egu == "eV" else 8.99
    axis.set(target).wait(2)
    assert beam.energy_ev == pytest.approx(8990.0)
    desc = axis.describe()
    assert desc["dcm_energy"]["units"] == egu and desc["dcm_energy"]["shape"] == []
    assert axis.hints == {"fields": ["dcm_energy"]}
    assert_truthful(axis)


def test_energy_axis_rejects_units():
    with pytest.raises(ValueError, match="egu"):
        EnergyAxis(beam=PhotonBeam(), egu="J")


def test_ion_chambers(rig):
    beam, stage, _ = rig
    ic = IonChambers(stage=stage, beam=beam)
    assert_truthful(ic)
    desc = ic.describe()
    assert list(desc) == ["I0", "It", "If", "Ir"]
    assert all(d["units"] == "counts" and d["dtype"] == "number" for d in desc.values())
    assert ic.describe_configuration()["ic_dwell"]["units"] == "s"
    values = {k: v["value"] for k, v in ic.read().items()}
    assert values["I0"] > values["It"] > 0
    t0 = beam.clock_s
    ic.trigger().wait(1)
    assert beam.clock_s == pytest.approx(t0 + 1.0)


def test_ion_chambers_need_a_sample():
    beam = PhotonBeam()
    stage = XasSampleStage(library=load_fixture(), rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="sample"):
        IonChambers(stage=stage, beam=beam).trigger()


def test_qexafs_arrays_and_direction(rig):
    beam, stage, _ = rig
    fly = QexafsDetector(stage=stage, beam=beam, n_points=300)
    assert_truthful(fly)
    desc = fly.describe()
    assert set(desc) == {"qexafs_energy", "qexafs_I0", "qexafs_It", "qexafs_If",
                         "qexafs_Ir"}
    assert all(d["shape"] == [300] and d["dtype"] == "array" for d in desc.values())
    assert desc["qexafs_energy"]["units"] == "eV"
    first = fly.read()["qexafs_energy"]["value"].copy()
    fly.trigger().wait(1)
    second = fly.read()["qexafs_energy"]["value"]
    assert np.all(np.diff(first) < 0) or np.all(np.diff(first) > 0)
    assert np.sign(np.diff(first)[0]) == -np.sign(np.diff(second)[0])  # sweeps alternate
    cfg = fly.describe_configuration()
    assert cfg["qexafs_energy_start"]["units"] == "eV"
    assert fly.read_configuration()["qexafs_n_points"]["value"] == 300


def test_eels_single_spectrum(rig):
    _, _, specimen = rig
    specimen.set("CuO").wait(1)
    eels = EelsDetector(stage=specimen, include_axis=True)
    assert_truthful(eels)
    desc = eels.describe()
    assert set(desc) == {"eels_spectrum", "eels_energy_loss"}
    assert desc["eels_spectrum"]["shape"] == [1024]
    assert desc["eels_spectrum"]["dtype_numpy"] == "<u4"
    cfg = eels.read_configuration()
    assert {"eels_offset", "eels_dispersion", "beam_energy"} <= set(cfg)
    units = {k: v.get("units") for k, v in eels.describe_configuration().items()}
    assert units["eels_offset"] == "eV" and units["eels_dispersion"] == "eV/channel"
    assert units["beam_energy"] == "keV"
    loss = eels.read()["eels_energy_loss"]["value"]
    offset, disp = cfg["eels_offset"]["value"], cfg["eels_dispersion"]["value"]
    np.testing.assert_allclose(loss, offset + disp * np.arange(1024))


def test_eels_spectrum_image_row(rig):
    _, _, specimen = rig
    specimen.set("layers").wait(1)
    eels = EelsDetector(stage=specimen, n_pixels=16)
    assert_truthful(eels)
    desc = eels.describe()
    assert set(desc) == {"eels_spectrum", "eels_row"}
    assert desc["eels_spectrum"]["shape"] == [16, 1024]
    assert desc["eels_spectrum"]["dims"] == ["pixel", "channel"]
    truth = specimen.truth(16)
    assert [s["compound"] for s in truth["segments"]] == ["Cu", "Cu2O", "CuO"]
    assert truth["segments"][-1]["last_pixel"] == 15
    with pytest.raises(ValueError, match="spectrum-image"):
        EelsDetector(stage=specimen).trigger()
