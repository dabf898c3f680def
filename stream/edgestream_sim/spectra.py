"""Spectrum models for the simulated beamline: Cu K-edge XAS from FEFF9, Cu L2,3 EELS from FEFF10.

All energies are in eV. XAS channels are detector counts per point; EELS spectra are counts
per channel. Nothing here talks to ophyd or Bluesky: ``devices.py`` wraps these models.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FIXTURE_NAME = "cu_k_feff9.npz"
L23_FIXTURE_NAME = "cu_l23_feff10.npz"

# FEFF9 -> measured energy calibration (eV), added to every FEFF9 absolute energy: the mean
# least-squares alignment (8975-9030 eV) of FEFF9 Cu2O and CuO with four measured,
# foil-calibrated spectra (make_fixture --fit-shift). See data/README.md for why not -15 eV.
FEFF9_ENERGY_SHIFT_EV = -6.3
CU_K_EDGE_EV = 8979.0  # tabulated Cu K edge (metal), eV
SCAN_RANGE_EV = (8779.0, 9379.0)  # E0 - 200 .. E0 + 400 eV: a typical Cu K EXAFS scan


@dataclass(frozen=True)
class ReferenceSpectrum:
    """One FEFF9 Cu K-edge site spectrum of the fixture (energies as computed, eV)."""

    material_id: str
    site_index: int
    formula: str
    name: str
    valence: int
    cu_o_coordination: int
    omnixas_split: str
    energy_feff: np.ndarray = field(repr=False)
    mu: np.ndarray = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.material_id}_{self.site_index:03d}"

    def energy(self, shift_ev: float = FEFF9_ENERGY_SHIFT_EV) -> np.ndarray:
        """FEFF energies moved onto the measured scale (eV)."""
        return self.energy_feff.astype(np.float64) + shift_ev

    def normalized_mu(
        self, energy_ev: np.ndarray, shift_ev: float = FEFF9_ENERGY_SHIFT_EV
    ) -> np.ndarray:
        """Edge-step-normalized μ(E) on any energy grid, extended smoothly beyond FEFF's range."""
        return extend_normalized(self.energy(shift_ev), self.mu.astype(np.float64), energy_ev)

    def truth(self, shift_ev: float = FEFF9_ENERGY_SHIFT_EV) -> dict[str, Any]:
        """Ground truth for a start document (plain Python types)."""
        return {
            "compound": self.formula,
            "name": self.name,
            "valence": int(self.valence),
            "material_id": self.material_id,
            "site_index": int(self.site_index),
            "source": f"FEFF9 (OmniXAS), energies shifted by {shift_ev:+.1f} eV",
        }


def fixture_path() -> Path:
    """Path of the committed fixture (inside the installed package)."""
    return Path(str(resources.files("edgestream_sim") / "data" / FIXTURE_NAME))


def load_fixture(path: str | Path | None = None) -> list[ReferenceSpectrum]:
    """Load the Cu K-edge reference spectra (the committed fixture by default)."""
    with np.load(path or fixture_path()) as d:
        return [
            ReferenceSpectrum(
                material_id=str(d["material_id"][i]),
                site_index=int(d["site_index"][i]),
                formula=str(d["formula"][i]),
                name=str(d["name"][i]),
                valence=int(d["valence"][i]),
                cu_o_coordination=int(d["cu_o_coordination"][i]),
                omnixas_split=str(d["omnixas_split"][i]),
                energy_feff=d["energy_feff"][i],
                mu=d["mu"][i],
            )
            for i in range(len(d["material_id"]))
        ]


def extend_normalized(
    energy: np.ndarray, mu: np.ndarray, grid: np.ndarray, blend_ev: float = 25.0
) -> np.ndarray:
    """Interpolate (energy, mu) onto ``grid`` (eV) and extend it beyond both ends.

    Below the first point the edge tail decays exponentially, matching value and slope.
    Over the last ``blend_ev`` the spectrum is blended (raised cosine) into a flat level,
    the mean of the last 30 eV, which continues to any higher energy: no invented EXAFS.
    """
    grid = np.asarray(grid, dtype=np.float64)
    out = np.interp(grid, energy, mu)
    e_lo, e_hi = energy[0], energy[-1]

    slope = np.polyfit(energy[:4], mu[:4], 1)[0]
    tau = float(np.clip(mu[0] / slope, 1.0, 20.0)) if slope > 0 else 5.0
    below = grid < e_lo
    out[below] = mu[0] * np.exp((grid[below] - e_lo) / tau)

    level = float(mu[energy >= e_hi - 30.0].mean())
    t = np.clip((grid - (e_hi - blend_ev)) / blend_ev, 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * t)
    return (1.0 - w) * out + w * level


def victoreen(energy_ev: np.ndarray, amplitude: float, e_ref: float = CU_K_EDGE_EV) -> np.ndarray:
    """Smooth non-resonant absorbance, ``amplitude · (E/e_ref)^-3`` (dimensionless)."""
    return amplitude * (np.asarray(energy_ev, dtype=np.float64) / e_ref) ** -3


def reference_foil_mu(energy_ev: np.ndarray) -> np.ndarray:
    """Synthetic reference-foil absorbance: arctan step at 8979.0 eV on a Victoreen line.

    Not a Cu spectrum (the fixture has no Cu metal): only an edge marker for calibration.
    """
    e = np.asarray(energy_ev, dtype=np.float64)
    step = 0.5 + np.arctan((e - CU_K_EDGE_EV) / 1.0) / np.pi
    return victoreen(e, 0.2) + 1.2 * step * (CU_K_EDGE_EV / e) ** 2.5


@dataclass(frozen=True)
class XasConditions:
    """Per-run experimental conditions of a transmission/fluorescence XAS measurement."""

    edge_step: float = 1.0  # Δμ·x at the edge, dimensionless
    energy_offset_ev: float = 0.0  # the measured edge sits this many eV above the true one
    matrix_absorbance: float = 0.5  # non-Cu absorbance at 8979 eV (Victoreen)
    flux: float = 1.0e6  # I0 counts per second of dwell at 8979 eV
    drift_amplitude: float = 0.02  # relative I0 drift (sinusoidal)
    drift_period_s: float = 600.0
    drift_phase: float = 0.0
    fluorescence_yield: float = 0.02  # If counts per I0 count per unit edge step
    read_noise: float = 3.0  # Gaussian electronics noise, counts

    @classmethod
    def draw(cls, rng: np.random.Generator) -> XasConditions:
        """Random but plausible conditions for one run."""
        return cls(
            edge_step=float(rng.uniform(0.5, 2.0)),
            energy_offset_ev=float(rng.uniform(-3.0, 3.0)),
            matrix_absorbance=float(rng.uniform(0.2, 1.0)),
            flux=float(rng.uniform(3e5, 2e6)),
            drift_amplitude=float(rng.uniform(0.01, 0.04)),
            drift_period_s=float(rng.uniform(200.0, 900.0)),
            drift_phase=float(rng.uniform(0.0, 2 * np.pi)),
            fluorescence_yield=float(rng.uniform(0.01, 0.04)),
        )

    def truth(self) -> dict[str, float]:
        return {"edge_step": self.edge_step, "energy_offset_ev": self.energy_offset_ev}


class XasSimulator:
    """Ion-chamber counts (I0, It, If, Ir) for one sample under fixed conditions."""

    CHANNELS = ("I0", "It", "If", "Ir")

    def __init__(
        self,
        reference: ReferenceSpectrum,
        conditions: XasConditions,
        rng: np.random.Generator,
        shift_ev: float = FEFF9_ENERGY_SHIFT_EV,
    ) -> None:
        self.reference = reference
        self.conditions = conditions
        self.rng = rng
        self.shift_ev = shift_ev

    def mu_edge(self, energy_ev: np.ndarray) -> np.ndarray:
        """Cu edge absorbance at nominal (monochromator) energies, with offset and falloff."""
        c = self.conditions
        e = np.asarray(energy_ev, dtype=np.float64)
        norm = self.reference.normalized_mu(e - c.energy_offset_ev, self.shift_ev)
        return c.edge_step * norm * (CU_K_EDGE_EV / e) ** 2.5

    def mu_total(self, energy_ev: np.ndarray) -> np.ndarray:
        """Total sample absorbance μ·x (matrix + Cu edge), dimensionless."""
        return victoreen(energy_ev, self.conditions.matrix_absorbance) + self.mu_edge(energy_ev)

    def measure(
        self, energy_ev: np.ndarray, time_s: np.ndarray, dwell_s: float | np.ndarray = 1.0
    ) -> dict[str, np.ndarray]:
        """Noisy counts at each (energy eV, time s since load); arrays of ``energy_ev``'s shape."""
        c = self.conditions
        e = np.asarray(energy_ev, dtype=np.float64)
        t = np.asarray(time_s, dtype=np.float64)
        drift = 1.0 + c.drift_amplitude * np.sin(2 * np.pi * t / c.drift_period_s + c.drift_phase)
        i0 = c.flux * np.asarray(dwell_s) * drift * (e / CU_K_EDGE_EV) ** -2
        it = 0.8 * i0 * np.exp(-self.mu_total(e))
        iff = i0 * (c.fluorescence_yield * self.mu_edge(e) + 0.002)
        ir = 0.8 * it * np.exp(-reference_foil_mu(e - c.energy_offset_ev))
        return {
            name: self._noisy(lam)
            for name, lam in zip(self.CHANNELS, (i0, it, iff, ir), strict=True)
        }

    def _noisy(self, lam: np.ndarray) -> np.ndarray:
        counts = self.rng.poisson(np.maximum(lam, 0.0)).astype(np.float64)
        return counts + self.rng.normal(0.0, self.conditions.read_noise, np.shape(lam))


def fly_energy_axis(start_ev: float, stop_ev: float, n: int, descending: bool) -> np.ndarray:
    """Energies of one QEXAFS sweep: cosine mono motion, denser at both ends (eV)."""
    phase = np.linspace(0.0, np.pi, n)
    e = start_ev + (stop_ev - start_ev) * 0.5 * (1.0 - np.cos(phase))
    return e[::-1].copy() if descending else e


# ---------------------------------------------------------------- EELS


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
class FeffL23Model:
    """Cu L2,3 core-loss shape from a calibrated FEFF10 spectrum of the fixture
    (``data/cu_l23_feff10.npz``): L3 + 0.5·L3(E - 19.9 eV), broadened by the spectrometer's
    ``resolution_fwhm`` and decaying as (E/onset)^-1.5 past the edge like a real core loss."""

    compound: str
    valence: int
    energy: np.ndarray = field(repr=False)
    mu: np.ndarray = field(repr=False)
    resolution_fwhm: float = 0.8  # eV

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
        decay = np.clip(e / 932.7, 1.0, None) ** -1.5
        return np.interp(e, self.energy, self.mu, left=0.0) * decay


@functools.cache
def feff10_eels_models(path: Path | None = None) -> dict[str, FeffL23Model]:
    """The fixture's compounds (Cu, Cu2O, CuO) as :class:`FeffL23Model` by name (read once)."""
    if path is None:
        path = Path(str(resources.files("edgestream_sim").joinpath("data", L23_FIXTURE_NAME)))
    with np.load(path) as z:
        return {str(c): FeffL23Model(str(c), int(v), z["energy"].astype(np.float64), mu)
                for c, v, mu in zip(z["compound"], z["valence"], z["mu"], strict=True)}


@dataclass(frozen=True)
class EelsAxis:
    """Energy-loss axis: ``offset + dispersion · channel`` (eV, eV/channel)."""

    offset: float = 880.0
    dispersion: float = 0.1
    n_channels: int = 1024

    def loss(self) -> np.ndarray:
        return self.offset + self.dispersion * np.arange(self.n_channels)


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
    """Cu L2,3 core-loss counts on a power-law background ``A·E^-r`` with Poisson noise.

    ``models``: the edge shapes by compound; FEFF10 (:func:`feff10_eels_models`) by default,
    the same physics the Cu L2,3 model was trained on; ``EELS_MODELS`` holds hand-made shapes
    with literature white lines (strong CuO L3 line at 931 eV, 1.5 eV below the step), a
    stand-in for measured spectra that the model does not yet read right (README).
    """

    def __init__(
        self,
        axis: EelsAxis,
        rng: np.random.Generator,
        background_counts: float = 4.0e4,  # counts/channel at the axis offset
        exponent: float = 3.0,
        edge_jump: float = 0.4,  # L3 step counts / background counts at the onset
        energy_drift_ev: float = 0.0,  # true losses sit this many eV above the nominal axis
        models: Mapping[str, Any] | None = None,  # compound -> .shape(loss); default FEFF10
    ) -> None:
        self.models = models if models is not None else feff10_eels_models()
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
        at_edge = (932.7 / self.axis.offset) ** -self.exponent
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
