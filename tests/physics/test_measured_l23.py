"""The measured L2,3 validation spectra (tests/data/measured-l23): every manifest file is
there with its licence, parses as two columns, and goes through the files door as
``edgestream annotate FILE --element EL --edge L2,3 [--eels]`` takes it, ending in an
annotation or in a failure with a reason, never an ``internal`` one. No model accuracy is
asserted here (the models change): ``python -m edgestream_models.l23_validate`` keeps that
record in plugins/edgestream_plugins/l_edge/measured.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.doors.files.readers import read_spectrum_file
from edgestream.publish import annotation

FOLDER = Path(__file__).resolve().parents[1] / "data" / "measured-l23"
MANIFEST: list[dict[str, Any]] = json.loads((FOLDER / "manifest.json").read_text())
BY_FILE = {m["file"]: m for m in MANIFEST}
MODALITIES = {"eels", "xas_tey", "xas_fy", "xas_transmission"}


def test_the_manifest_names_each_spectrum_once_and_every_file_is_in_it():
    assert len(BY_FILE) == len(MANIFEST)
    spectra = {p.name for p in FOLDER.glob("*.txt") if not p.name.startswith("LICENSE")}
    assert spectra == set(BY_FILE)


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_every_spectrum_has_its_provenance_and_licence(name):
    m = BY_FILE[name]
    assert m["element"] in {"Cu", "Mn", "Fe", "Co", "Ni"} and m["edge"] == "L2,3"
    assert m["modality"] in MODALITIES
    assert m["formal_valence"] is None or 0.0 <= m["formal_valence"] <= 4.0
    assert m["measured"] is True and isinstance(m["digitized"], bool)
    assert isinstance(m["background_subtracted"], bool)
    source = m["source"]
    assert "/" in source["repository"] and len(source["commit"]) == 40 and source["path"]
    assert m["licence"] and (FOLDER / m["licence_file"]).is_file()


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_every_spectrum_parses_as_two_columns(name):
    data = read_spectrum_file(FOLDER / name)
    assert len(data.columns) == 2
    (signal,) = (v for v in data.columns.values() if v is not data.energy)
    assert data.energy.size == signal.size >= 50
    assert np.all(np.isfinite(data.energy)) and np.all(np.isfinite(signal))
    assert np.all(np.diff(data.energy) > 0)  # as the files door needs an EELS axis
    low, high = data.energy.min(), data.energy.max()
    l3 = {"Cu": 932.7, "Mn": 638.7, "Fe": 706.8, "Co": 778.1, "Ni": 852.7}
    assert low - 15.0 < l3[BY_FILE[name]["element"]] < high


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_every_spectrum_ends_in_an_annotation_or_a_reasoned_failure(name):
    m = BY_FILE[name]
    out = annotate_file(FOLDER / name, Settings(), [], element=m["element"], edge="L2,3",
                        eels=m["modality"] == "eels")
    assert out.annotations or out.failures
    for f in out.failures:
        assert f.error.reason != "internal", f.error.message
        assert f.error.reason and f.error.message
    for a in out.annotations:
        annotation.validate(a)
        assert (a["element"], a["edge"]) == (m["element"], "L2,3")
        assert (a["modality"] == "eels") == (m["modality"] == "eels")


def test_the_validation_runner_gives_every_spectrum_a_row_without_raising():
    """The runner (installed L2,3 plugins through the files door) records each spectrum's
    prediction or the reason it has none; it is not a check of the models' accuracy."""
    from edgestream_models import l23_validate

    rows = l23_validate.validate(FOLDER)
    assert [r["file"] for r in rows] == [m["file"] for m in MANIFEST]
    for r in rows:
        assert r["status"] in {"predicted", "rejected", "no plugin", "no prediction"}, r
        assert r["status"] == "predicted" or r.get("error")
        assert "internal" not in r.get("error", "")
    text = l23_validate.table(rows)
    assert all(f"| {m['file']} |" in text for m in MANIFEST)
