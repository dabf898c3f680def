"""EELS models of the simulated microscope: L2,3 core-loss shapes on a power-law background
with Poisson noise. Cu (hand-made, and FEFF10 from ``data/cu_l23_feff10.npz``) and Mn (edrixs
multiplets from ``data/mn_l23_multiplets.npz``): one model class for both (``L23Model``), the
element choosing the fixture, the L3 edge and the energy-loss window (``EELS_AXES``).

Energies are energy losses in eV; spectra are counts per channel. Importable from
``edgestream_sim.spectra`` too (where they lived first).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.physics import edge_energy

L23_FIXTURE_NAME = "cu_l23_feff10.npz"
# The L2,3 fixture of each element the microscope can measure (data/README.md)
L23_FIXTURES = {"Cu": L23_FIXTURE_NAME, "Mn": "mn_l23_multiplets.npz"}
# What a run's sample_truth names as the spectra's origin
L23_SOURCES = {"Cu": "FEFF10 Cu L2,3 (data/cu_l23_feff10.npz)",
               "Mn": "edrixs multiplet Mn L2,3 (data/mn_l23_multiplets.npz)"}
CU_L3_EV = 932.7  # tabulated Cu L3 edge (metal), eV: edge_energy("Cu", "L3")


@dataclass(frozen=True)
class CuL23Model:
    """Synthetic Cu L2,3 core-loss shape (energy loss in eV); a model, not a measurement."""

    compound: str
    valence: int
    l3_onset: float  # continuum onset of L3, eV
    white_line: float | None  # L3 white-line energy, eV (None: step only)
    white_line_height: float  # relative to the L3 continuum step
    white_line_fwhm: float = 1.4  # Gaussian FWHM incl. spectrometer resolution, eV
    spin_orbit: float = 19.9  # L2 - L3 separation, eV
    l2_white_ratio: float = 0.35  # L2/L3 white-line area
    step_width: float = 0.6  # logistic width of the continuum onsets, eV

    def shape(self, loss_ev: np.ndarray) -> np.ndarray:
        """Edge intensity per unit L3 step at energy losses ``loss_ev``."""
        e = np.asarray(loss_ev, dtype=np.float64)
        decay = np.clip(e / self.l3_onset, 1.0, None) ** -1.5

        def step(onset: float) -> np.ndarray:  # short tails: the pre-edge stays a power law
            return 1.0 / (1.0 + np.exp(-(e - onset) / self.step_width))

        out = (step(self.l3_onset) + 0.5 * step(self.l3_onset + self.spin_orbit)) * decay
        if self.white_line is not None:
            sigma = self.white_line_fwhm / 2.3548
            for center, height in (
                (self.white_line, self.white_line_height),
                (self.white_line + self.spin_orbit, self.white_line_height * self.l2_white_ratio),
            ):
                out = out + height * np.exp(-0.5 * ((e - center) / sigma) ** 2)
        return out


# L3 white lines: CuO (Cu(II), d9) strong at ~931 eV; Cu2O (Cu(I), d10) weak at ~933.5 eV;
# Cu metal: no white line, a rounded step at 932.7 eV.
EELS_MODELS: dict[str, CuL23Model] = {
    "Cu": CuL23Model("Cu", 0, l3_onset=932.7, white_line=None, white_line_height=0.0),
    "Cu2O": CuL23Model(
        "Cu2O", 1, l3_onset=933.0, white_line=933.5, white_line_height=1.2, white_line_fwhm=1.8
    ),
    "CuO": CuL23Model("CuO", 2, l3_onset=932.5, white_line=931.0, white_line_height=4.0),
}


@dataclass(frozen=True)
class L23Model:
    """L2,3 core-loss shape of one compound from a fixture spectrum (``L23_FIXTURES``: FEFF10
    Cu, edrixs multiplet Mn): the step-normalized L2,3 spectrum on absolute energies,
    broadened by the spectrometer's ``resolution_fwhm`` and decaying as (E/edge_ev)^-1.5 past
    the element's tabulated L3 edge ``edge_ev`` like a real core loss."""

    compound: str
    valence: int
    energy: np.ndarray = field(repr=False)
    mu: np.ndarray = field(repr=False)
    resolution_fwhm: float = 0.8  # eV
    element: str = "Cu"
    edge_ev: float = CU_L3_EV  # tabulated L3 edge of the element (metal), eV

    def __post_init__(self) -> None:
        step = float(self.energy[1] - self.energy[0])
        sigma = self.resolution_fwhm / 2.3548 / step
        half = int(4 * sigma) + 1
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
        mu = np.asarray(self.mu, dtype=np.float64)
        padded = np.pad(mu - mu[0], half, mode="edge")  # 0 below the edge: pure power law
        object.__setattr__(self, "mu", np.convolve(padded, kernel / kernel.sum(), "valid"))

    def shape(self, loss_ev: np.ndarray) -> np.ndarray:
        """Edge intensity per unit L3 step at energy losses ``loss_ev``."""
        e = np.asarray(loss_ev, dtype=np.float64)
        decay = np.clip(e / self.edge_ev, 1.0, None) ** -1.5
        return np.interp(e, self.energy, self.mu, left=0.0) * decay


# The name of the Cu-only class this one generalizes; kept for existing imports.
FeffL23Model = L23Model


def l3_edge_ev(element: str) -> float:
    """Tabulated L3 edge of ``element`` (metal), eV: the physics edge table's."""
    return float(edge_energy(element, "L3"))


def l23_fixture_path(element: str = "Cu") -> Path:
    """Path of the committed L2,3 fixture of ``element`` (inside the installed package)."""
    if element not in L23_FIXTURES:
        raise ValueError(f"no L2,3 fixture for {element!r}: one of {sorted(L23_FIXTURES)}")
    return Path(str(resources.files("edgestream_sim").joinpath("data", L23_FIXTURES[element])))


def l23_models(element: str = "Cu", path: Path | None = None) -> dict[str, L23Model]:
    """The compounds of ``element``'s L2,3 fixture as :class:`L23Model` by name (read once):
    Cu, Cu2O, CuO (FEFF10) or MnO, Mn2O3, MnO2 (edrixs multiplets). ``path``: another file
    of the same format (``energy``, ``mu`` [n, len(energy)], ``compound``, ``valence``)."""
    return _read_l23(element, Path(path) if path is not None else l23_fixture_path(element))


@functools.cache  # one key per file, however the caller named it
def _read_l23(element: str, path: Path) -> dict[str, L23Model]:
    with np.load(path) as z:
        energy = z["energy"].astype(np.float64)
        return {str(c): L23Model(str(c), int(v), energy, mu, element=element,
                                 edge_ev=l3_edge_ev(element))
                for c, v, mu in zip(z["compound"], z["valence"], z["mu"], strict=True)}


def feff10_eels_models(path: Path | None = None) -> dict[str, L23Model]:
    """The Cu fixture's compounds (Cu, Cu2O, CuO) as :class:`L23Model` by name (read once)."""
    return l23_models("Cu", path)


@dataclass(frozen=True)
class EelsAxis:
    """Energy-loss axis: ``offset + dispersion · channel`` (eV, eV/channel)."""

    offset: float = 880.0
    dispersion: float = 0.1
    n_channels: int = 1024

    def loss(self) -> np.ndarray:
        return self.offset + self.dispersion * np.arange(self.n_channels)


# The spectrometer's energy-loss window for each element's L2,3 edge: ~50 eV of pre-edge for
# the power-law fit, L3 and L2, and ~40-80 eV past the L3 edge for the step. Cu: 880-982.3
# eV; Mn (L3 638.7, L2 649.9 eV): 590-719.9 eV (the Cu window would hold no Mn edge).
EELS_AXES: dict[str, EelsAxis] = {
    "Cu": EelsAxis(),
    "Mn": EelsAxis(offset=590.0, dispersion=0.1, n_channels=1300),
}


@dataclass(frozen=True)
class Segment:
    """A run of pixels of one compound along a spectrum-image row (first..last inclusive)."""

    compound: str
    first_pixel: int
    last_pixel: int


def layered_fractions(
    segments: Sequence[Segment], n_pixels: int, interface_px: float = 0.7
) -> dict[str, np.ndarray]:
    """Phase fractions per pixel for a row crossing ``segments`` with smooth interfaces."""
    x = np.arange(n_pixels, dtype=np.float64)
    weights = {}
    for s in segments:
        lo, hi = s.first_pixel - 0.5, s.last_pixel + 0.5
        w = 1 / (1 + np.exp(-(x - lo) / interface_px)) - 1 / (1 + np.exp(-(x - hi) / interface_px))
        weights[s.compound] = weights.get(s.compound, 0.0) + w
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


class EelsSimulator:
    """L2,3 core-loss counts of one element on a power-law background ``A·E^-r`` with Poisson
    noise.

    ``element`` picks the default shapes (:func:`l23_models`: FEFF10 Cu, the same physics the
    Cu L2,3 model was trained on; edrixs multiplet Mn) and the L3 edge the edge jump is given
    at. ``models`` replaces the shapes: ``EELS_MODELS`` holds hand-made Cu shapes with
    literature white lines (strong CuO L3 line at 931 eV, 1.5 eV below the step), a stand-in
    for measured spectra that the model does not yet read right (README).
    """

    def __init__(
        self,
        axis: EelsAxis,
        rng: np.random.Generator,
        background_counts: float = 4.0e4,  # counts/channel at the axis offset
        exponent: float = 3.0,
        edge_jump: float = 0.4,  # L3 step counts / background counts at the onset
        energy_drift_ev: float = 0.0,  # true losses sit this many eV above the nominal axis
        models: Mapping[str, Any] | None = None,  # compound -> .shape(loss); default fixture
        element: str = "Cu",
    ) -> None:
        self.models = models if models is not None else l23_models(element)
        self.element = element
        self.edge_ev = l3_edge_ev(element)
        self.axis = axis
        self.rng = rng
        self.background_counts = background_counts
        self.exponent = exponent
        self.edge_jump = edge_jump
        self.energy_drift_ev = energy_drift_ev

    def expected(self, fractions: Mapping[str, float], thickness: float = 1.0) -> np.ndarray:
        """Noise-free counts per channel for a mixture {compound: fraction}."""
        lam = self._expected_rows({c: np.array([f]) for c, f in fractions.items()},
                                  np.array([thickness]))
        return lam[0]

    def _expected_rows(self, fractions: Mapping[str, np.ndarray], thickness: np.ndarray
                       ) -> np.ndarray:
        """Noise-free counts ``[n, n_channels]`` for per-pixel fractions and thicknesses."""
        e = self.axis.loss() + self.energy_drift_ev
        background = self.background_counts * (e / self.axis.offset) ** -self.exponent
        at_edge = (self.edge_ev / self.axis.offset) ** -self.exponent
        scale = self.edge_jump * self.background_counts * at_edge
        edge = sum(np.asarray(f, dtype=np.float64)[:, None] * self.models[c].shape(e)[None, :]
                   for c, f in fractions.items())
        return thickness[:, None] * (background[None, :] + scale * edge)

    def spectrum(self, compound: str, thickness: float = 1.0) -> np.ndarray:
        """One noisy spectrum of a single compound (uint32 counts, shape [n_channels])."""
        return self._poisson(self.expected({compound: 1.0}, thickness))

    def row(self, fractions: Mapping[str, np.ndarray]) -> np.ndarray:
        """One spectrum-image row (uint32, shape [n_pixels, n_channels])."""
        n = len(next(iter(fractions.values())))
        thickness = 1.0 + 0.1 * self.rng.standard_normal(n).clip(-3, 3)
        return self._poisson(self._expected_rows(fractions, thickness))

    def _poisson(self, lam: np.ndarray) -> np.ndarray:
        return self.rng.poisson(lam).astype(np.uint32)
