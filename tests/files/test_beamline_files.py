"""Every beamline column file of the corpus (tests/data/beamlines, from xraylarch's
examples/xafsdata/beamlines, MIT) through the files door: an annotation, or a typed
StreamError a person can act on; never ``internal``, never an exception."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file, file_documents
from edgestream.doors.files.readers import read_spectrum_file
from edgestream.errors import StreamError
from edgestream.publish import annotation

CORPUS = Path(__file__).parents[1] / "data" / "beamlines"
FILES = sorted(CORPUS.glob("*.dat"))

# What each file is, from its own header or its beamline's documentation (the E0 the scan
# was set up for, the sample): element, edge, and the channels the door must find.
EXPECTED = {
    "APS10BM_2019.dat": ("Mn", "K", "xas_transmission"),
    # an opaque sample (It reaches zero, even negative, above the edge) and a fluorescence
    # detector that saw nothing: the one edge is ln(I0/I2), through sample and foil
    "APS12BM_2019.dat": ("Mn", "K", "xas_transmission"),
    "APS13ID_2019.dat": ("Mn", "K", "xas_transmission"),  # the scan stops at the edge
    # Detector1..4: I0 = Detector2, If = Detector1 (inferred; the header's EdgeEnergy)
    "CLSHXMA.dat": ("As", "K", "xas_fluorescence"),
    "APS13ID_2008.dat": ("Zn", "K", "xas_transmission"),
    "APS20BM_2001.dat": ("Fe", "K", "xas_transmission"),
    "APS20ID_2018.dat": ("As", "K", "xas_fluorescence"),
    "APS20ID_2022.dat": ("Pb", "L3", "xas_fluorescence"),
    "APS9BM_2006.dat": ("S", "K", "xas_fluorescence"),
    "APS9BM_2019.dat": ("Mn", "K", "xas_transmission"),
    "ESRF_BM08_LISA_2021.dat": ("Ge", "K", "xas_transmission"),
    "ESRF_SNBL_2013.dat": ("Ge", "K", "xas_transmission"),
    "FDMNES_2022_Mo2C_out.dat": ("Mo", "K", "xas_mu"),
    "FDMNES_2022_Mo2C_out_conv.dat": ("Mo", "K", "xas_mu"),
    "NSLS6BM_2019.dat": ("V", "K", "xas_fluorescence"),
    "NSLS8ID_2019.dat": ("As", "K", "xas_fluorescence"),
    "NSLS_XDAC_2011.dat": ("Fe", "K", "xas_fluorescence"),
    "PF9A_2022.dat": ("Fe", "K", "xas_fluorescence"),
    "PFBL12C_2005.dat": ("Hg", "L3", "xas_transmission"),
    "SLS_PHOENIX_2023.dat": ("Al", "K", "xas_fluorescence"),  # Al Ka ROIs named in the file
    "SSRL1_2006.dat": ("Ag", "K", "xas_transmission"),
    "SSRLmicro_2008.dat": ("Ge", "K", "xas_fluorescence"),
    "generic_columns_no_header.dat": ("Ge", "K", "xas_transmission"),
}


def test_corpus_is_complete_and_clean():
    assert len(FILES) >= 20
    for path in FILES:
        text = path.read_text(errors="replace").lower()
        assert "herfd" not in text and "ybco" not in text, path.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_yields_an_annotation_or_a_reason(path):
    out = annotate_file(path, Settings(), [])
    assert out.annotations or out.failures
    for failure in out.failures:
        assert isinstance(failure.error, StreamError)
        assert failure.error.reason != "internal", failure.error.message
        assert len(failure.error.message) > 20  # a sentence a person can act on
    for a in out.annotations:
        annotation.validate(a)


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_beamline_file_is_read_as_what_it_is(name):
    element, edge, modality = EXPECTED[name]
    out = annotate_file(CORPUS / name, Settings(), [])
    assert out.annotations and not out.failures
    for a in out.annotations:
        assert (a["element"], a["edge"]) == (element, edge)
        if modality:
            assert a["modality"] == modality


def test_every_scan_of_a_spec_file():
    """ESRF SNBL's file holds two zapline scans (461 and 906 points): two spectra."""
    docs = file_documents(CORPUS / "ESRF_SNBL_2013.dat")
    starts = [d for n, d in docs if n == "start"]
    assert [s["spec_scan"].split()[0] for s in starts] == ["1", "2"]
    sizes = [len(d["data"]["energy"]) for n, d in docs if n == "event"]
    assert sizes[1] == 906 and sizes[0] > 400


def test_energy_units_and_mono_angles_become_ev():
    # APS 12-BM: energy in keV said by the header; ESRF SNBL: ZapEnergy in keV by value
    assert read_spectrum_file(CORPUS / "APS12BM_2019.dat").energy[0] == pytest.approx(6339.0)
    snbl = read_spectrum_file(CORPUS / "ESRF_SNBL_2013.dat")
    assert 11040 < snbl.energy.min() < snbl.energy.max() < 11510
    # KEK-PF: Bragg angle 17.41440 deg on Si(111), d = 3.13551 Å -> the header's 6606.2 eV
    kek = read_spectrum_file(CORPUS / "PF9A_2022.dat")
    assert kek.energy[0] == pytest.approx(6606.2, abs=0.5)
    assert "mono angle" in kek.meta("Edgestream.energy")
    # FDMNES: energies relative to E_edge = 20000 eV
    assert read_spectrum_file(CORPUS / "FDMNES_2022_Mo2C_out.dat").energy[0] == -25.0 + 20000


def test_inferred_channels_follow_the_edge():
    """No names to go by: CLS HXMA's Detector1..4 (gains switched mid-scan), the ESRF
    columns without a header (I0, I1, μ, I1, IR, μ_ref of two hutches: only the second
    holds an edge; the same spectrum as the labelled LISA file gives)."""
    cls = dict(file_documents(CORPUS / "CLSHXMA.dat"))["start"]
    assert cls["channels"] == {"i0": "detector2", "if": "detector1"}
    bare = annotate_file(CORPUS / "generic_columns_no_header.dat", Settings(), []).annotations
    lisa = annotate_file(CORPUS / "ESRF_BM08_LISA_2021.dat", Settings(), []).annotations
    assert bare[0]["e0"] == pytest.approx(lisa[0]["e0"], abs=0.5)


@pytest.mark.parametrize(("name", "element", "edge"), [
    ("SLS_PHOENIX_2023.dat", "Al", "K"),  # D1..D4_AlKa_corr (MgKa also named: no Mg edge in range)
    ("APS20ID_2018.dat", "As", "K"),  # XMAP4:AsKa_Sum among eight elements' ROIs
])
def test_fluorescence_line_names_the_element(name, element, edge):
    start = dict(file_documents(CORPUS / name))["start"]
    assert (start["element"], start["edge"]) == (element, edge)


def test_channels_are_reported_in_the_run():
    docs = dict((n, d) for n, d in file_documents(CORPUS / "NSLS6BM_2019.dat"))
    start = docs["start"]
    assert start["channels"] == {"i0": "i0", "if": "dtc1+dtc2+dtc3+dtc4"}
    assert start["channels_source"] == "named"
    docs = dict((n, d) for n, d in file_documents(CORPUS / "generic_columns_no_header.dat"))
    assert docs["start"]["channels_source"] == "inferred"


def test_negative_currents_and_repeated_points():
    """NSLS-II ISS writes its ion-chamber currents negative; MRCAT repeats its first
    energies: magnitudes are used, repeats averaged (and counted in the run)."""
    docs = dict((n, d) for n, d in file_documents(CORPUS / "NSLS8ID_2019.dat"))
    event = docs["event"]["data"]
    assert np.all(np.asarray(event["I0"]) > 0)
    docs = dict((n, d) for n, d in file_documents(CORPUS / "APS10BM_2019.dat"))
    assert docs["start"]["repeated_points_averaged"] > 0
    assert np.all(np.diff(docs["event"]["data"]["energy"]) > 0)


@pytest.mark.parametrize("spacing", ["# Mono.d_spacing: 3.13551 Å", "# 2d = 6.27102"])
def test_mono_angle_with_the_crystal_spacing(tmp_path, spacing):
    """Only a Bragg angle (degrees) and the crystal in the header: E = hc / (2 d sin θ)."""
    kek = read_spectrum_file(CORPUS / "PFBL12C_2005.dat")  # Hg L3 in transmission
    rows = np.column_stack([kek.columns["angle_read"], kek.columns["i0"], kek.columns["it"]])
    path = tmp_path / "angles.dat"
    np.savetxt(path, rows, header=f"{spacing.lstrip('# ')}\ntheta I0 It", comments="# ")
    data = read_spectrum_file(path)
    np.testing.assert_allclose(data.energy, kek.energy, rtol=1e-9)
    (a,) = annotate_file(path, Settings(), []).annotations
    assert (a["element"], a["edge"]) == ("Hg", "L3")


def test_an_aborted_spec_scan_is_named_not_dropped(tmp_path):
    text = (CORPUS / "ESRF_SNBL_2013.dat").read_text()
    path = tmp_path / "three_scans.spec"
    path.write_text(text + "\n#S 3  zapline mono 10.3 9.9 100 100\n#N 18\n#L Mon  Det1\n")
    out = annotate_file(path, Settings(), [])
    assert len(out.annotations) == 2
    (failure,) = out.failures
    assert failure.error.reason == "bad_spectrum" and "scan '3" in failure.error.message


@pytest.mark.parametrize("layout", ["dtfactor", "icr_ocr"])
def test_fluorescence_elements_are_dead_time_corrected(tmp_path, layout):
    """Four detector elements, each losing counts to dead time: the ROIs are summed
    times each element's factor (a DTFactor column, or ICR/OCR)."""
    rng = np.random.default_rng(1)
    energy = np.concatenate([np.arange(8830, 8960, 5.0), np.arange(8960, 9010, 0.5),
                             np.arange(9010, 9300, 3.0)])
    rel = energy - 8979.0
    mu = 0.5 + np.arctan(rel / 1.5) / np.pi + 0.3 * np.exp(-((rel - 6) / 4) ** 2)
    i0 = 1e5 * (1 + 0.002 * rng.standard_normal(energy.size))
    cols = {"energy": energy, "I0": i0}
    true = i0 * 0.1 * mu
    for k in range(1, 5):
        live = 1.0 / (1.0 + 0.2 * k * true / true.max())  # up to 45 % lost at the top
        name = f"Cu_Ka_mca{k}" if layout == "dtfactor" else f"roi{k}"
        cols[name] = true * live
        if layout == "dtfactor":
            cols[f"DTFactor_mca{k}"] = 1.0 / live
        else:
            cols[f"ICR{k}"] = 5e4 * np.ones_like(energy)
            cols[f"OCR{k}"] = 5e4 * live
    path = tmp_path / "fluo.dat"
    np.savetxt(path, np.column_stack(list(cols.values())), header=" ".join(cols))
    start = dict(file_documents(path))["start"]
    assert start["channels"]["if"].count("+") == 3
    assert start["channel_notes"] and "dead-time corrected" in start["channel_notes"][0]
    event = dict(file_documents(path))["event"]["data"]
    np.testing.assert_allclose(event["If"], 4 * true, rtol=1e-9)
