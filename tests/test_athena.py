"""Athena project files: the reader (Perl and JSON flavours) and the files door on them."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.athena import is_athena, read_athena
from edgestream.doors.files.door import annotate_file
from edgestream.errors import BadSpectrum

PRJ = Path(__file__).parent / "data" / "athena" / "athena4.prj"
APS_2008 = ["cufoil.001", "cu_tenorite.001", "cu_cuprite.001", "cu_azurite.001",
            "cus_cu_xafs.001", "cu2s_cu_xafs.001", "cusulfate_cu_xafs.001",
            "cucl2_5h2o_cu_xafs.001"]


def test_reads_every_group_with_its_label_element_and_edge():
    project = read_athena(PRJ)
    assert is_athena(PRJ) and project.skipped == {}
    names = [g.meta("Sample.name") for g in project.groups]
    assert len(names) == 21 and names[:8] == APS_2008
    assert sum(n.startswith("CuXAFS_GlassGT1") for n in names) == 11
    foil = project.groups[0]
    assert (foil.element, foil.edge, foil.meta("Athena.bkg_eshift")) == ("Cu", "K", "-0.600")
    assert foil.energy.size == foil.columns["mu"].size == 469
    assert foil.energy[0] == 8830.0 and np.all(np.diff(foil.energy) > 0)


def test_the_json_flavour_and_chi_records(tmp_path):
    """Newer Athena writes JSON; χ(k) groups are listed as skipped, not read as μ(E)."""
    foil = read_athena(PRJ).groups[0]
    doc = {"_____header1": "# Athena project file -- Demeter version 0.9.26",
           "abcd": {"args": {"label": "foil", "bkg_z": "Cu", "fft_edge": "k", "is_xmu": 1},
                    "x": foil.energy.tolist(), "y": foil.columns["mu"].tolist()},
           "efgh": {"args": {"label": "chi", "is_chi": 1}, "x": [2.0, 3.0], "y": [0.1, 0.2]},
           "_____order": ["abcd", "efgh"]}
    path = tmp_path / "new.prj"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    project = read_athena(path)
    (group,) = project.groups
    assert group.meta("Sample.name") == "foil" and np.array_equal(group.energy, foil.energy)
    assert project.skipped == {"efgh": "χ(k) record"}


def test_not_a_project_or_no_spectra(tmp_path):
    other = tmp_path / "x.prj"
    other.write_text("just text\n")
    assert not is_athena(other)
    with pytest.raises(BadSpectrum, match="not an Athena project"):
        read_athena(other)
    empty = tmp_path / "empty.prj"
    empty.write_text("# Athena project file -- Demeter version 0.9.26\n$old_group = 'a';\n"
                     "@args = ('label','a');\n[record]\n")
    with pytest.raises(BadSpectrum, match="no μ"):
        read_athena(empty)


def test_each_group_is_annotated_as_its_own_run():
    out = annotate_file(PRJ, Settings(), [], energy_shift_ev=-2.0)
    assert out.failures == []
    assert [a["sample"] for a in out.annotations][:8] == APS_2008
    assert len({a["ids"]["run_uid"] for a in out.annotations}) == 21
    foil = out.annotations[0]
    assert (foil["element"], foil["edge"]) == ("Cu", "K")
    assert foil["e0"] == pytest.approx(8979.0, abs=0.01)  # Larch e0 8981.0, shifted -2.0


def test_cli_foil_scan_of_the_session_calibrates_every_group(capsys):
    from edgestream.apps.cli import main

    assert main(["annotate", "--json", str(PRJ), "--foil-scan", "cufoil.001"]) == 0
    captured = capsys.readouterr()
    assert "shift -2.06 eV for every spectrum" in captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 21
    assert all(a["energy_calibration"]["shift_ev"] == pytest.approx(-2.0646, abs=1e-3)
               for a in lines)
    assert lines[0]["e0"] == pytest.approx(8979.0, abs=0.1)  # the foil itself
    assert main(["annotate", str(PRJ), "--foil-scan", "no-such-group"]) == 1
    assert "0 spectra by that name" in capsys.readouterr().err
