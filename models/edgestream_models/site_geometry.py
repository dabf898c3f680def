"""The absorber's radial distribution: the structure input the forward and site-encoder models
take next to the 64 M3GNet features.

M3GNet's node features were trained for energies and forces; how far the neighbour shells
are, which sets where XANES resonances fall, is in them only implicitly. Given explicitly,
the forward model's validation Spearman rose from 0.926 to 0.935 and its FEFF9 test Spearman
from 0.950 to 0.959 (one member each, 2026-12-03).

Two channels on ``RADIAL_GRID`` (1.5-6.0 Å, 0.1 Å): every neighbour as a Gaussian of width
``RADIAL_WIDTH``, counted once and weighted by Z/30 (which ligand: O 0.27, S 0.53, Cu 0.97).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RADIAL_GRID = np.round(np.arange(1.5, 6.0 + 0.05, 0.1), 2)  # Å
RADIAL_WIDTH = 0.1  # Å
N_GEOMETRY = 2 * RADIAL_GRID.size
_CUTOFF = float(RADIAL_GRID[-1] + 3 * RADIAL_WIDTH)


def radial_descriptor(distances: np.ndarray, atomic_numbers: np.ndarray) -> np.ndarray:
    """``[N_GEOMETRY]`` float32: neighbour density on RADIAL_GRID, then its Z/30 weighting.

    ``distances`` (Å) and ``atomic_numbers`` of the neighbours of one absorber.
    """
    d = np.asarray(distances, dtype=float)
    z = np.asarray(atomic_numbers, dtype=float)
    g = np.exp(-0.5 * ((RADIAL_GRID[None] - d[:, None]) / RADIAL_WIDTH) ** 2)
    return np.concatenate([g.sum(0), (g * z[:, None] / 30.0).sum(0)]).astype(np.float32)


def site_geometry(structure: Any, sites: list[int] | np.ndarray) -> np.ndarray:
    """``[len(sites), N_GEOMETRY]`` radial descriptors of sites of a pymatgen Structure."""
    out = np.empty((len(sites), N_GEOMETRY), dtype=np.float32)
    for row, i in enumerate(sites):
        neighbours = structure.get_neighbors(structure[int(i)], _CUTOFF)
        out[row] = radial_descriptor(np.array([n.nn_distance for n in neighbours]),
                                     np.array([n.specie.Z for n in neighbours]))
    return out


def structure_input(features: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """What the structure-side models read: ``[n, 64 + N_GEOMETRY]`` float32."""
    return np.concatenate([features, geometry], axis=-1).astype(np.float32)
