"""The measured 3d K-edge validation spectra (tests/data/measured-3d-k): every one is read,
identified and normalized by the files door exactly as the stream would, none is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.physics import edge_energy
from edgestream.publish import annotation

FOLDER = Path(__file__).resolve().parents[1] / "data" / "measured-3d-k"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
BY_FILE = {m["file"]: m for m in MANIFEST}


def _annotate(name: str, **options) -> dict:
    out = annotate_file(FOLDER / name, Settings(), [], **options)
    assert not out.failures, [f.error for f in out.failures]
    (a,) = out.annotations
    annotation.validate(a)
    return a


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_every_validation_spectrum_is_read_and_identified(name):
    m = BY_FILE[name]
    a = _annotate(name)
    assert (a["element"], a["edge"]) == (m["element"], "K")
    # e0 after the experimenter's own alignment: at or above the metal's tabulated edge
    # (oxidized compounds sit up to ~20 eV higher), never a different edge
    e0 = a["e0"] + m["athena_eshift_ev"]
    assert -5.0 < e0 - edge_energy(m["element"], "K") < 25.0


def test_the_reference_channel_calibrates_nio():
    a = _annotate("ni2_NiO.xdi")
    cal = a["energy_calibration"]
    assert cal["source"] == "reference" and abs(cal["shift_ev"]) < 1.0


def test_one_calibrated_session_orders_mn_by_valence():
    """The four Mn.prj groups the project aligned on one foil (Athena shift 1.298 eV): the
    edge climbs with the formal valence, Mn(0) < Mn(II) < Mn(III) < Mn(IV)."""
    names = ["mn0_Mn_foil.xdi", "mn2_MnO.xdi", "mn3_Mn2O3.xdi", "mn4_Li2MnO3.xdi"]
    assert [BY_FILE[n]["athena_eshift_ev"] for n in names] == pytest.approx([1.2982] * 4)
    e0 = [_annotate(n, energy_shift_ev=BY_FILE[n]["athena_eshift_ev"])["e0"] for n in names]
    assert e0 == sorted(e0) and e0[-1] - e0[0] > 10.0
    assert abs(e0[0] - edge_energy("Mn", "K")) < 1.0
