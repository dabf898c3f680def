"""XDI and plain-column readers (edgestream.doors.files.readers) on the real files and odd
variants."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.doors.files.readers import channel, read_columns, read_spectrum_file, read_xdi
from edgestream.errors import BadSpectrum, MissingChannel

from .conftest import DATA, manifest_entries

XDI = [e for s, e in manifest_entries() if s == "experimental"]


@pytest.mark.parametrize("entry", XDI, ids=[e["file"] for e in XDI])
def test_every_experimental_xdi_file(entry):
    data = read_xdi(DATA / "experimental" / entry["file"])
    expected = [label.split("||")[0].split()[0].lower() for label in entry["columns"]]
    assert list(data.columns) == expected
    assert data.element == entry["element"] and data.edge == entry["edge"]
    assert data.units["energy"] == "eV"
    assert np.all(np.diff(data.energy) > 0)
    assert np.all(channel(data, "i0") > 0) and np.all(channel(data, "itrans") > 0)


def test_pv_suffixes_and_units_are_split_off():
    data = read_xdi(DATA / "experimental" / "Zn_foil.xdi")
    assert data.labels["i0"] == "i0 counts  ||  13IDE:scaler1_calc2.VAL"
    assert data.units["i0"] == "counts"
    assert data.meta("element.symbol") == "Zn"
    np.testing.assert_array_equal(data.energy, data.columns["energy"])
    assert data.energy[0] == pytest.approx(9584.0)


@pytest.mark.parametrize("path", sorted((DATA / "measured-cu-k").glob("*.txt")),
                         ids=lambda p: p.name)
def test_measured_cu_two_column_files(path):
    data = read_spectrum_file(path)
    assert list(data.columns) == ["energy_ev", "mu"]
    assert 8700 < data.energy[0] < 8900 and len(data.energy) >= 469
    np.testing.assert_array_equal(channel(data, "mutrans"), data.columns["mu"])


def test_xdi_without_column_fields_uses_the_label_line(tmp_path):
    path = tmp_path / "bare.xdi"
    path.write_text("# XDI/1.0\n# Element.symbol: Cu\n# ///\n# a comment\n#---\n"
                    "# Energy I0 It\n8970 10 5\n8971 10 4\n")
    data = read_spectrum_file(path)
    assert list(data.columns) == ["energy", "i0", "it"]
    assert data.comments == ["a comment"]
    np.testing.assert_allclose(channel(data, "itrans"), [5, 4])


def test_plain_files_with_header_row_commas_or_no_labels(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("energy,i0,i1\n1,2,3\n4,5,6\n")
    data = read_columns(csv)
    assert list(data.columns) == ["energy", "i0", "i1"]
    np.testing.assert_allclose(channel(data, "itrans"), [3, 6])
    bare = tmp_path / "b.dat"
    bare.write_text("! three words here\n% 5 6\n1 2\n3 4\n")
    data = read_columns(bare)
    assert list(data.columns) == ["col1", "col2"] and data.energy.tolist() == [1, 3]


def test_duplicate_labels_are_made_unique(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("# energy i0 i0\n1 2 3\n")
    assert list(read_columns(path).columns) == ["energy", "i0", "i0_2"]


def test_bad_files(tmp_path):
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("1 2\n3 4 5\n")
    with pytest.raises(BadSpectrum):
        read_columns(ragged)
    with pytest.raises(BadSpectrum):
        read_spectrum_file(tmp_path / "missing.xdi")
    not_xdi = tmp_path / "plain.xdi"
    not_xdi.write_text("1 2\n")
    with pytest.raises(BadSpectrum):
        read_xdi(not_xdi)
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a header\n")
    with pytest.raises(BadSpectrum):
        read_columns(empty)
    data = read_columns(DATA / "measured-cu-k" / "cu0_Cu_foil_APS13BMD_2008.txt")
    with pytest.raises(MissingChannel):
        channel(data, "ifluor")
