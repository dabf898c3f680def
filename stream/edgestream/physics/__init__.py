"""Pure-numpy spectroscopy: edges, mu(E), XAS normalization, EELS background, features, grids.

Conventions shared by every function here: energies in eV; spectra as ``[n_spectra,
n_points]`` arrays over one shared ``[n_points]`` axis or one axis per spectrum; a single 1-D
spectrum is a batch of one, and results always keep the batch axis (``e0`` is ``[1]`` for
one spectrum). No I/O, no configuration objects: arguments in, arrays and the resolved
parameters out. Bad input raises the typed errors of ``edgestream.errors`` (BadSpectrum,
TooFewPoints, UnknownElement).
"""

from edgestream.physics.edges import EDGES, edge_energy, edge_table, elements_in, identify_edge
from edgestream.physics.eels import (
    EelsNormalization,
    PowerLawFit,
    find_edge_onset,
    fit_power_law,
    normalize_eels,
    subtract_power_law,
)
from edgestream.physics.features import EdgeFeatures, edge_features
from edgestream.physics.grid import relative_grid, resample
from edgestream.physics.mu import mu_fluorescence, mu_transmission
from edgestream.physics.xas import PreEdgeResult, find_e0, pre_edge

__all__ = [
    "EDGES",
    "EdgeFeatures",
    "EelsNormalization",
    "PowerLawFit",
    "PreEdgeResult",
    "edge_energy",
    "edge_features",
    "edge_table",
    "elements_in",
    "find_e0",
    "find_edge_onset",
    "fit_power_law",
    "identify_edge",
    "mu_fluorescence",
    "mu_transmission",
    "normalize_eels",
    "pre_edge",
    "relative_grid",
    "resample",
    "subtract_power_law",
]
