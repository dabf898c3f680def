"""Real spectra for the physics tests: read with edgestream.doors.files.readers, mu as Larch
was given it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgestream.doors.files.readers import channel, read_spectrum_file
from edgestream.physics import mu_transmission

DATA = Path(__file__).resolve().parents[1] / "data"
SETS = ("experimental", "measured-cu-k")
REFERENCE = DATA / "larch_pre_edge_reference.npz"


@dataclass(frozen=True)
class RealSpectrum:
    key: str  # "<set>/<file>", as in the Larch reference archive
    energy: np.ndarray
    mu: np.ndarray
    manifest: dict


def _load(set_name: str, entry: dict) -> RealSpectrum:
    data = read_spectrum_file(DATA / set_name / entry["file"])
    if set_name == "experimental":  # manifest: mu_from = ln(i0/itrans)
        mu = mu_transmission(channel(data, "i0"), channel(data, "itrans"))
    else:  # two columns, mu as stored
        mu = channel(data, "mutrans")
    return RealSpectrum(f"{set_name}/{entry['file']}", data.energy, mu, entry)


def manifest_entries() -> list[tuple[str, dict]]:
    return [
        (set_name, entry)
        for set_name in SETS
        for entry in json.loads((DATA / set_name / "manifest.json").read_text())
    ]


@pytest.fixture(scope="session")
def real_spectra() -> dict[str, RealSpectrum]:
    spectra = [_load(s, e) for s, e in manifest_entries()]
    return {s.key: s for s in spectra}


@pytest.fixture(scope="session")
def larch_reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as archive:
        return {k: archive[k] for k in archive.files}
