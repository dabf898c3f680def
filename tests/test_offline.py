"""The files door and the CLI: the same path as the stream, from a file."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgestream.apps.cli import build_parser, main
from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file, file_documents
from edgestream.physics import elements_in
from edgestream.publish import annotation

DATA = Path(__file__).parent / "data"
MANIFEST = {m["file"]: m for m in json.loads((DATA / "measured-cu-k/manifest.json").read_text())}


@pytest.mark.parametrize("name", ["cu1_Cu2O_cuprite_APS13BMD_2008.txt",
                                  "cu2_CuO_HASYLAB_2001.txt"])
def test_two_column_file_matches_larch_e0(name):
    out = annotate_file(DATA / "measured-cu-k" / name, Settings(), [])
    (a,) = out.annotations
    annotation.validate(a)
    assert a["modality"] == "xas_mu" and (a["element"], a["edge"]) == ("Cu", "K")
    assert abs(a["e0"] - MANIFEST[name]["larch_e0"]) < 0.5


def test_xdi_transmission_file_and_shift():
    path = DATA / "experimental/ZnO.xdi"
    (a,) = annotate_file(path, Settings(), [], energy_shift_ev=-1.5).annotations
    assert a["modality"] == "xas_transmission" and a["element"] == "Zn"
    assert a["energy_calibration"] == {"shift_ev": -1.5, "source": "metadata"}
    assert abs(a["e0"] - (9664.498 - 1.5)) < 0.5


def test_file_documents_are_valid_event_model_documents():
    from event_model import schema_validators

    for name, doc in file_documents(DATA / "experimental/ZnO.xdi"):
        schema_validators[getattr(__import__("event_model").DocumentNames, name)].validate(doc)


def test_unreadable_file_is_a_failure(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# nothing here\nnot numbers\n")
    out = annotate_file(bad, Settings(), [])
    assert out.annotations == [] and out.failures


def test_cli_annotate_prints_json(capsys):
    rc = main(["annotate", "--json", str(DATA / "measured-cu-k/cu0_Cu_foil_APS13BMD_2008.txt")])
    assert rc == 0
    a = json.loads(capsys.readouterr().out)
    assert abs(a["e0"] - 8981.0) < 0.5
    assert "edge_features" in [p["plugin"] for p in a["predictions"]]


def test_every_verb_has_help(capsys):
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert {"serve", "demo", "watch", "annotate", "replay", "config", "plugins", "broker",
            "simulate"} <= set(verbs)
    for verb in verbs:
        with pytest.raises(SystemExit) as info:
            parser.parse_args([verb, "--help"])
        assert info.value.code == 0
        assert "usage: edgestream" in capsys.readouterr().out


def test_library_verb_lists_the_shipped_candidates(capsys):
    shipped = (Path(__file__).resolve().parents[1] / "plugins" / "edgestream_plugins" / "screening"
               / "library.npz")
    assert main(["library", "show", str(shipped)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) >= 500 and any(r.split("\t")[1] == "Cu2O" for r in rows)


def test_library_add_without_a_target_is_a_usage_error(capsys, tmp_path):
    assert main(["library", "add", str(tmp_path / "x.cif")]) == 2
    err = capsys.readouterr().err
    assert "--library" in err or "training extra" in err


def test_cli_reference_foil_file_calibrates_the_scan(capsys):
    """HASYLAB 2001: the Cu2O scan and its foil channel, stored as two files."""
    sample = DATA / "measured-cu-k/cu1_Cu2O_HASYLAB_2001.txt"
    foil = DATA / "measured-cu-k/ref_Cu_foil_channel_HASYLAB_2001_with_Cu2O.txt"
    assert main(["annotate", "--json", str(sample), "--reference", str(foil)]) == 0
    a = json.loads(capsys.readouterr().out)
    annotation.validate(a)
    cal = a["energy_calibration"]
    assert cal["source"] == "reference"
    # the manifest's shift is from Larch's e0 on 0.3 eV steps; refined, within half a step
    assert cal["shift_ev"] == pytest.approx(MANIFEST[sample.name]
                                            ["shift_to_put_reference_at_8979_eV"], abs=0.15)
    assert a["e0"] == pytest.approx(MANIFEST[sample.name]["larch_e0"] + cal["shift_ev"],
                                    abs=1e-3)
    assert main(["annotate", "--json", str(sample), "--reference", str(foil),
                 "--reference-e0", "8980.0"]) == 0
    given = json.loads(capsys.readouterr().out)["energy_calibration"]
    assert given["shift_ev"] == pytest.approx(cal["shift_ev"] + 1.0, abs=1e-3)
    assert given["reference"]["target_source"] == "given"


def test_xdi_reference_channel_is_used():
    """As2O5 (SSRL, 1997) with its GaAs reference in the irefer column."""
    (a,) = annotate_file(DATA / "experimental/as2o5_roomt_scan1.xdi", Settings(), []).annotations
    cal = a["energy_calibration"]
    assert cal["source"] == "reference" and cal["reference"]["element"] == "As"
    assert cal["shift_ev"] == pytest.approx(11867.0 - 11867.423, abs=0.25)  # half a step


def test_cli_line_names_the_energy_calibration(capsys):
    path = DATA / "experimental/as2o5_roomt_scan1.xdi"
    assert main(["annotate", str(path)]) == 0
    # the table's e0 column and its flags column: aligned on the file's foil, -0.4 eV
    assert re.search(r"\| +1187\d\.\d\d \|.*\| foil-0\.\d\d +\|", capsys.readouterr().out)


def test_fluorescence_xdi_file(tmp_path):
    """I0 and If only (a dilute sample): annotated as fluorescence, If/I0."""
    zno = (DATA / "experimental/ZnO.xdi").read_text().splitlines()
    header = [line.replace("itrans", "ifluor") for line in zno if line.startswith("#")]
    rows = []
    for line in zno:
        if line.startswith("#") or not line.strip():
            continue
        e, i0, it = map(float, line.split())
        rows.append(f"{e:.5f} {i0:.3f} {0.05 * i0 * np.log(i0 / it):.4f}")  # If ∝ I0·μ
    path = tmp_path / "ZnO_fluor.xdi"
    path.write_text("\n".join(header + rows) + "\n")
    (a,) = annotate_file(path, Settings(), []).annotations
    assert a["modality"] == "xas_fluorescence" and a["element"] == "Zn"
    assert abs(a["e0"] - 9664.498) < 0.5


def test_sample_composition_reaches_the_start_document():
    """XDI ``Sample.formula`` (or ``Sample.stoichiometry``) unless ``composition`` is given:
    structure screening reads it there."""
    path = DATA / "experimental/Chorover13BM_ZnS_aldrich_rt_01.xdi"
    start = dict(file_documents(path))["start"]
    assert start["composition"] == "ZnS"
    start = dict(file_documents(path, composition="ZnS, Fe"))["start"]
    assert start["composition"] == "ZnS, Fe"
    plain = DATA / "measured-cu-k/cu2_CuO_HASYLAB_2001.txt"
    assert "composition" not in dict(file_documents(plain, element="Cu", edge="K"))["start"]


def test_cli_annotate_screens_with_the_given_composition(capsys, monkeypatch):
    monkeypatch.setenv("EDGESTREAM_PLUGINS", "cu_k_screening")
    path = DATA / "measured-cu-k/cu2_CuO_HASYLAB_2001.txt"
    shift = MANIFEST[path.name]["shift_to_put_reference_at_8979_eV"]
    assert main(["annotate", "--json", "--element", "Cu", "--edge", "K", "--energy-shift",
                 str(shift), "--composition", "CuO", str(path)]) == 0
    (screening,) = json.loads(capsys.readouterr().out)["predictions"]
    assert screening["outputs"]["composition"]["elements"] == ["Cu", "O"]
    candidates = screening["outputs"]["candidates"]
    assert candidates and all(elements_in(c["formula"]) <= {"Cu", "O"} for c in candidates)
