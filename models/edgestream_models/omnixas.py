"""The OmniXAS Cu K-edge set in ``../shared`` (``edgestream.paths.shared_root()``): its
structures, absorbing sites and spectra, read one way for every training module."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from edgestream.paths import shared_root
from edgestream_models.cache import Item

OMNIXAS_ROOT = shared_root() / "data" / "omnixas-cu-k"


def load_structures(root: Path = OMNIXAS_ROOT) -> dict[str, str]:
    """``{material_id: POSCAR text}`` of the OmniXAS Cu K structures."""
    with gzip.open(root / "structures.json.gz", "rt") as fh:
        return json.load(fh)


def absorbing_sites(root: Path = OMNIXAS_ROOT) -> dict[str, list[int]]:
    """``{material_id: [Cu site index, ...]}`` of the sites with a spectrum, in file order."""
    data = np.load(root / "spectra.npz")
    sites: dict[str, list[int]] = {}
    for mid, idx in zip(data["material_id"], data["site_index"], strict=True):
        sites.setdefault(str(mid), []).append(int(idx))
    return sites


def structures_and_sites(root: Path = OMNIXAS_ROOT
                         ) -> tuple[dict[str, str], dict[str, list[int]]]:
    """``(structures, absorbing sites)``: :func:`load_structures`, :func:`absorbing_sites`."""
    return load_structures(root), absorbing_sites(root)


def omnixas_items(root: Path = OMNIXAS_ROOT) -> list[Item]:
    """(material id, POSCAR, absorbing site indices) of the OmniXAS Cu K-edge set."""
    poscars, sites = structures_and_sites(root)
    return [(mid, poscars[mid], idx) for mid, idx in sites.items()]
