"""Gatan .dm3/.dm4 EELS files through the files door (RosettaSciIO reads them): the
energy-loss axis from the file's calibration, spectrum images as many spectra."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.doors.files.gatan import read_gatan
from edgestream.errors import StreamError
from edgestream.publish import annotation

from .dmfile import write_dm

pytest.importorskip("rsciio")


def cu_l23(loss: np.ndarray, onset: float = 931.0) -> np.ndarray:
    """Counts of a Cu L2,3 edge over a power-law background (white lines, L3 and L2)."""
    edge = 0.0
    for e0, height in ((onset, 1.0), (onset + 19.6, 0.5)):
        edge = edge + height * (0.6 / (1 + ((loss - e0 - 1.0) / 1.2) ** 2)
                                + 0.3 / (1 + np.exp(-(loss - e0) / 0.8)))
    return 4.0e12 * loss ** -3.0 + 1500.0 * edge


@pytest.mark.parametrize("version", [3, 4])
def test_single_spectrum_axis_from_the_calibration(tmp_path, version):
    offset, dispersion = 850.0, 0.25
    loss = offset + dispersion * np.arange(600)
    path = write_dm(tmp_path / f"cu.dm{version}", cu_l23(loss).astype("float32"), offset,
                    dispersion, version=version, title="Cu foil")
    (image,) = read_gatan(path).images
    np.testing.assert_allclose(image.loss, loss)
    assert image.counts.shape == (1, 1, 600)
    out = annotate_file(path, Settings(), [])
    assert not out.failures, [f.error.as_dict() for f in out.failures]
    (a,) = out.annotations
    annotation.validate(a)
    assert a["modality"] == "eels" and a["element"] == "Cu" and abs(a["e0"] - 931.0) < 1.0
    assert a["sample"] == "Cu foil"


def test_spectrum_image_gives_one_annotation_per_pixel(tmp_path):
    """A 2 x 3 spectrum image whose onset moves by 2 eV a column and 1 eV a row: each
    annotation's e0 follows its own pixel (row = event, column = index_in_event)."""
    offset, dispersion = 880.0, 0.2
    loss = offset + dispersion * np.arange(800)
    onsets = 926.0 + np.arange(2)[:, None] * 1.0 + np.arange(3)[None, :] * 2.0
    counts = np.stack([[cu_l23(loss, o) for o in row] for row in onsets]).astype("float32")
    path = write_dm(tmp_path / "si.dm4", counts, offset, dispersion, version=4)
    out = annotate_file(path, Settings(), [], element="Cu", edge="L2,3")
    assert not out.failures, [f.error.as_dict() for f in out.failures]
    assert len(out.annotations) == 6
    for a in out.annotations:
        row, col = a["ids"]["seq_range"][0] - 1, a["ids"]["index_in_event"]
        assert abs(a["e0"] - onsets[row, col]) < 0.6, (row, col, a["e0"])


def test_not_eels_and_not_dm_are_explained(tmp_path):
    xray = write_dm(tmp_path / "eds.dm3", np.ones(100, dtype="float32"), 0.0, 0.01,
                    signal="X-ray")
    out = annotate_file(xray, Settings(), [])
    (failure,) = out.failures
    assert failure.error.reason == "bad_spectrum" and "not EELS" in failure.error.message
    junk = tmp_path / "junk.dm3"
    junk.write_bytes(b"\x00\x00\x00\x03" + b"garbage" * 10)
    (failure,) = annotate_file(junk, Settings(), []).failures
    assert isinstance(failure.error, StreamError) and failure.error.reason == "bad_spectrum"
    assert "DigitalMicrograph" in failure.error.message
