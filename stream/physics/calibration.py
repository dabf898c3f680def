"""Energy calibration on a reference foil measured with every scan.

Beamlines put a foil of the element being measured between the transmission chamber It and
a third chamber Iref, so every scan carries its own energy marker: μ_ref = ln(It / Iref).
The convention is that the foil's edge, the maximum of dμ/dE found as Larch's ``find_e0``
finds it, sits at the tabulated edge energy of the neutral element (Cu K: 8979.0 eV). The
shift that puts it there is added to the sample's energies, whatever the beamline's
monochromator calibration of the day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgestream.errors import BadReference, StreamError
from edgestream.physics.edges import edge_energy, identify_edge
from edgestream.physics.xas import find_e0, pre_edge

__all__ = [
    "MAX_REFERENCE_OFFSET_EV",
    "MIN_REFERENCE_EDGE_STEP",
    "MIN_REFERENCE_SNR",
    "ReferenceCalibration",
    "reference_calibration",
]

# eV. Monochromators drift by a few eV between calibrations; a foil edge farther than this
# from the tabulated one is a different foil (or none), not a drift.
MAX_REFERENCE_OFFSET_EV = 15.0
# Edge step over point-to-point noise below which the foil's edge is not trusted.
MIN_REFERENCE_SNR = 20.0
# Absorbance. Reference foils are chosen for an edge step of about 1-3 (measured Cu foils
# here: 1.8-2.6); a step this small is an empty holder or a chamber with no signal.
MIN_REFERENCE_EDGE_STEP = 0.05


@dataclass(frozen=True)
class ReferenceCalibration:
    """The foil's edge on the measured axis and the shift that puts it at the tabulated one."""

    element: str
    edge: str
    measured_e0: float  # eV, on the monochromator's axis
    tabulated_e0: float  # eV
    snr: float  # foil edge step over point-to-point noise

    @property
    def shift_ev(self) -> float:
        """Add this to measured energies."""
        return self.tabulated_e0 - self.measured_e0

    def as_dict(self) -> dict[str, float | str]:
        return {
            "element": self.element,
            "edge": self.edge,
            "measured_e0": round(self.measured_e0, 4),
            "tabulated_e0": self.tabulated_e0,
            "snr": round(self.snr, 1),
        }


def _snr(energy: np.ndarray, mu: np.ndarray, e0: float, edge_step: float) -> float:
    """Edge step over the noise of one point, from second differences below the edge."""
    below = mu[energy < e0 - 10.0]
    if below.size < 5:
        below = mu[: max(5, mu.size // 10)]
    # the second difference of white noise has variance 6 σ²; smooth backgrounds cancel
    noise = float(np.std(np.diff(below, 2)) / np.sqrt(6.0))
    return float("inf") if noise == 0 else abs(edge_step) / noise


def reference_calibration(
    energy: np.ndarray,
    mu_ref: np.ndarray,
    element: str | None = None,
    edge: str | None = None,
    max_offset_ev: float = MAX_REFERENCE_OFFSET_EV,
    min_snr: float = MIN_REFERENCE_SNR,
) -> ReferenceCalibration:
    """Locate a reference foil's edge and the tabulated edge it marks.

    Arguments:
        energy: eV, ascending, the sample's (uncalibrated) axis.
        mu_ref: the foil's absorbance ln(It/Iref) on that axis.
        element, edge: the foil's edge when known (the sample's); else the tabulated edge
            nearest the foil's inflection point.
        max_offset_ev: refuse foils whose edge is farther than this from the tabulated one.
        min_snr: refuse foils whose edge step is under this many times the point noise.

    Raises BadReference when the foil shows no usable edge: a step under
    ``MIN_REFERENCE_EDGE_STEP``, too noisy, or too far from the tabulated edge.
    """
    try:
        result = pre_edge(energy, mu_ref)
    except StreamError as exc:
        raise BadReference(f"reference channel: {exc.message}") from None
    step = float(result.edge_step[0])
    # Larch's e0 (a measured energy, not interpolated): the rule the training data's
    # FEFF-to-measured calibration was fitted with, on these same foils' manifest values.
    measured = float(find_e0(energy, mu_ref)[0])
    if not np.isfinite(step) or step < MIN_REFERENCE_EDGE_STEP:
        raise BadReference(f"reference channel shows no absorption edge (step {step:.3g})",
                           edge_step=step)
    snr = _snr(np.asarray(energy, float), np.asarray(mu_ref, float), measured, step)
    if snr < min_snr:
        raise BadReference(f"reference edge too noisy (step/noise {snr:.1f} < {min_snr:g})",
                           snr=round(snr, 2))
    try:
        if element and edge:
            tabulated = edge_energy(element, edge)
        else:
            element, edge, tabulated = identify_edge(measured, tolerance=max_offset_ev)
    except StreamError as exc:
        raise BadReference(f"reference edge: {exc.message}",
                           measured_e0=round(measured, 3)) from None
    if abs(measured - tabulated) > max_offset_ev:
        raise BadReference(
            f"reference edge at {measured:.2f} eV is {measured - tabulated:+.2f} eV from "
            f"{element} {edge} ({tabulated:g} eV)",
            measured_e0=round(measured, 3), element=element, edge=edge,
        )
    return ReferenceCalibration(element=element, edge=edge, measured_e0=measured,
                                tabulated_e0=tabulated, snr=snr)
