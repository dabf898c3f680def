"""Spectrum models for the simulated beamline: Cu K-edge XAS from FEFF9 (and other 3d K edges
from FEFF10: ``edgestream_sim.k3d``), Cu L2,3 EELS from FEFF10 and Mn L2,3 EELS from edrixs
multiplets (``edgestream_sim.eels_spectra``).

All energies are in eV. XAS channels are detector counts per point; EELS spectra are counts
per channel. Nothing here talks to ophyd or Bluesky: ``devices.py`` wraps these models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

# The EELS models moved to their own module; importable from here as before.
from .eels_spectra import (  # noqa: F401
    EELS_AXES,
    EELS_MODELS,
    L23_FIXTURE_NAME,
    L23_FIXTURES,
    CuL23Model,
    EelsAxis,
    EelsSimulator,
    FeffL23Model,
    L23Model,
    Segment,
    feff10_eels_models,
    l23_models,
    layered_fractions,
)

FIXTURE_NAME = "cu_k_feff9.npz"

# FEFF9 -> measured energy calibration (eV), added to every FEFF9 absolute energy: the mean
# least-squares alignment (8975-9030 eV) of FEFF9 Cu2O and CuO with four measured,
# foil-calibrated spectra (make_fixture --fit-shift). See data/README.md for why not -15 eV.
FEFF9_ENERGY_SHIFT_EV = -6.3
CU_K_EDGE_EV = 8979.0  # tabulated Cu K edge (metal), eV
SCAN_RANGE_EV = (8779.0, 9379.0)  # E0 - 200 .. E0 + 400 eV: a typical Cu K EXAFS scan


def scan_range_ev(edge_ev: float = CU_K_EDGE_EV) -> tuple[float, float]:
    """A typical EXAFS scan about a K edge: E0 - 200 .. E0 + 400 eV (``SCAN_RANGE_EV`` for Cu)."""
    return (edge_ev - 200.0, edge_ev + 400.0)


def _plain_valence(v: float) -> int | float:
    """An integral valence as int (the Cu fixture's), a mixed one (Fe3O4: 8/3) as float."""
    return int(v) if float(v).is_integer() else round(float(v), 3)


@dataclass(frozen=True)
class ReferenceSpectrum:
    """One K-edge spectrum of a sample (energies as computed by FEFF, eV): a FEFF9 Cu site of
    the Cu fixture, or a FEFF10 material of another element (``edgestream_sim.k3d``).

    ``calibration_ev`` (FEFF10 only) is the reference's own FEFF -> measured calibration; it
    takes the place of any FEFF9 shift passed to the methods below, which calibrate Cu only.
    ``coordination``/``geometry`` (FEFF10 only) are structure labels for the start document.
    """

    material_id: str
    site_index: int
    formula: str
    name: str
    valence: float  # formal valence; the Cu fixture's are int, a mixed-valence material's not
    cu_o_coordination: int  # Cu fixture only (0 elsewhere): Cu-O neighbours under 2.3 Å
    omnixas_split: str
    energy_feff: np.ndarray = field(repr=False)
    mu: np.ndarray = field(repr=False)
    element: str = "Cu"
    edge_ev: float = CU_K_EDGE_EV  # tabulated K edge of the element (metal), eV
    calibration_ev: float | None = None
    coordination: float | None = None  # mean coordination number over the material's sites
    geometry: str | None = None

    @property
    def key(self) -> str:
        return f"{self.material_id}_{self.site_index:03d}"

    def shift(self, shift_ev: float = FEFF9_ENERGY_SHIFT_EV) -> float:
        """eV added to the FEFF energies: the reference's own calibration, else ``shift_ev``."""
        return shift_ev if self.calibration_ev is None else self.calibration_ev

    def energy(self, shift_ev: float = FEFF9_ENERGY_SHIFT_EV) -> np.ndarray:
        """FEFF energies moved onto the measured scale (eV)."""
        return self.energy_feff.astype(np.float64) + self.shift(shift_ev)

    def normalized_mu(
        self, energy_ev: np.ndarray, shift_ev: float = FEFF9_ENERGY_SHIFT_EV
    ) -> np.ndarray:
        """Edge-step-normalized μ(E) on any energy grid, extended smoothly beyond FEFF's range."""
        return extend_normalized(self.energy(shift_ev), self.mu.astype(np.float64), energy_ev)

    def truth(self, shift_ev: float = FEFF9_ENERGY_SHIFT_EV) -> dict[str, Any]:
        """Ground truth for a start document (plain Python types)."""
        if self.calibration_ev is None:
            source = f"FEFF9 (OmniXAS), energies shifted by {shift_ev:+.1f} eV"
        else:
            source = (f"FEFF10 (this project), energies shifted by {self.calibration_ev:+.2f} eV"
                      f" (simulated {self.element} metal's e0 on the tabulated K edge)")
        out: dict[str, Any] = {
            "compound": self.formula,
            "name": self.name,
            "valence": _plain_valence(self.valence),
            "material_id": self.material_id,
            "site_index": int(self.site_index),
            "source": source,
        }
        if self.coordination is not None:  # FEFF10 materials carry their structure labels
            out.update(element=self.element, edge="K", coordination=round(self.coordination, 2),
                       geometry=self.geometry)
        return out


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


def reference_foil_mu(energy_ev: np.ndarray, edge_ev: float = CU_K_EDGE_EV) -> np.ndarray:
    """Synthetic reference-foil absorbance: arctan step at ``edge_ev`` (the tabulated K edge of
    the sample's element, 8979.0 eV for Cu) on a Victoreen line.

    Not a metal spectrum (the Cu fixture has no Cu metal): only an edge marker for calibration,
    whose maximum of dμ/dE is the tabulated edge, where the service's calibration puts it.
    """
    e = np.asarray(energy_ev, dtype=np.float64)
    step = 0.5 + np.arctan((e - edge_ev) / 1.0) / np.pi
    return victoreen(e, 0.2, edge_ev) + 1.2 * step * (edge_ev / e) ** 2.5


@dataclass(frozen=True)
class XasConditions:
    """Per-run experimental conditions of a transmission/fluorescence XAS measurement."""

    edge_step: float = 1.0  # Δμ·x at the edge, dimensionless
    energy_offset_ev: float = 0.0  # the measured edge sits this many eV above the true one
    matrix_absorbance: float = 0.5  # absorbance of all but the edge at the edge (Victoreen)
    flux: float = 1.0e6  # I0 counts per second of dwell at the edge energy
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
    """Ion-chamber counts (I0, It, If, Ir) for one sample under fixed conditions; the sample's
    K edge (``reference.edge_ev``) sets the falloffs and the reference foil's edge (Ir)."""

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
        """Edge absorbance at nominal (monochromator) energies, with offset and falloff."""
        c = self.conditions
        e = np.asarray(energy_ev, dtype=np.float64)
        norm = self.reference.normalized_mu(e - c.energy_offset_ev, self.shift_ev)
        return c.edge_step * norm * (self.reference.edge_ev / e) ** 2.5

    def mu_total(self, energy_ev: np.ndarray) -> np.ndarray:
        """Total sample absorbance μ·x (matrix + the element's edge), dimensionless."""
        matrix = victoreen(energy_ev, self.conditions.matrix_absorbance, self.reference.edge_ev)
        return matrix + self.mu_edge(energy_ev)

    def measure(
        self, energy_ev: np.ndarray, time_s: np.ndarray, dwell_s: float | np.ndarray = 1.0
    ) -> dict[str, np.ndarray]:
        """Noisy counts at each (energy eV, time s since load); arrays of ``energy_ev``'s shape."""
        c = self.conditions
        e = np.asarray(energy_ev, dtype=np.float64)
        t = np.asarray(time_s, dtype=np.float64)
        drift = 1.0 + c.drift_amplitude * np.sin(2 * np.pi * t / c.drift_period_s + c.drift_phase)
        edge = self.reference.edge_ev
        i0 = c.flux * np.asarray(dwell_s) * drift * (e / edge) ** -2
        it = 0.8 * i0 * np.exp(-self.mu_total(e))
        iff = i0 * (c.fluorescence_yield * self.mu_edge(e) + 0.002)
        ir = 0.8 * it * np.exp(-reference_foil_mu(e - c.energy_offset_ev, edge))  # its own foil
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

