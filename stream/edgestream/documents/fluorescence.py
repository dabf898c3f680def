"""Multi-element fluorescence detectors: one dead-time-corrected ROI count per reading.

Pure numpy. A reading is either per-element MCA spectra, ``mca[..., element, bin]``, or
per-element ROI counts, ``roi[..., element]``. Each element's counts in the ROI of the
absorber's emission line are corrected for dead time with its input and output count rates,
``corrected = raw * ICR / OCR``, and the elements are summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgestream.errors import BadSpectrum
from edgestream.physics.edges import emission_lines

# Emission lines (eV) used for the ROI when the detector's configuration gives none: Kα1 for
# K edges, Lα1 for L edges (physics/emission_lines.csv: X-ray Data Booklet, Table 1-2).
K_ALPHA1_EV: dict[str, float] = emission_lines("Ka1")
L_ALPHA1_EV: dict[str, float] = emission_lines("La1")
# Half width (eV) of an ROI centred on the line: about 1.5 × the FWHM of a silicon drift or
# germanium element at 5-10 keV (130-200 eV), so the ROI holds the line and not Kβ.
ROI_HALF_WIDTH_EV = 150.0


def emission_line_ev(element: str | None, edge: str | None) -> float | None:
    """The absorber's main emission line (eV) for an edge, or None when not tabulated."""
    if not element:
        return None
    edge = (edge or "K").upper()
    if edge.startswith("K"):
        return K_ALPHA1_EV.get(element)
    if edge.startswith("L"):
        return L_ALPHA1_EV.get(element)
    return None


@dataclass(frozen=True)
class Roi:
    """Bins [low, high) of each element's MCA spectrum that hold the emission line."""

    low: tuple[int, ...]
    high: tuple[int, ...]
    source: str  # "configuration" or "emission_line"

    def as_dict(self) -> dict[str, object]:
        return {"low_bin": list(self.low), "high_bin": list(self.high), "source": self.source}


def line_roi(line_ev: float, ev_per_bin: float, offset_ev: float, n_elements: int,
             n_bins: int, half_width_ev: float = ROI_HALF_WIDTH_EV) -> Roi:
    """The ROI of ``line_ev`` ± ``half_width_ev`` in bins, the same for every element.

    Bin i covers energies from ``offset_ev + i * ev_per_bin`` (eV).
    """
    if not ev_per_bin > 0:
        raise ValueError(f"ev_per_bin must be positive, not {ev_per_bin}")
    lo = int(np.clip(np.floor((line_ev - half_width_ev - offset_ev) / ev_per_bin), 0, n_bins))
    hi = int(np.clip(np.ceil((line_ev + half_width_ev - offset_ev) / ev_per_bin), 0, n_bins))
    if hi <= lo:
        raise BadSpectrum(f"the emission line at {line_ev:.0f} eV lies outside the "
                          f"detector's {n_bins} bins of {ev_per_bin} eV")
    return Roi((lo,) * n_elements, (hi,) * n_elements, "emission_line")


def roi_counts(mca: np.ndarray, roi: Roi | None) -> np.ndarray:
    """Counts in each element's ROI: ``mca[..., element, bin]`` -> ``[..., element]``.

    ``roi=None`` sums whole spectra (the documented fallback when neither the configuration
    nor the edge gives a line).
    """
    mca = np.asarray(mca, dtype=float)
    if roi is None:
        return mca.sum(axis=-1)
    n_el = mca.shape[-2]
    if len(roi.low) != n_el:
        raise BadSpectrum(f"ROI given for {len(roi.low)} elements, detector has {n_el}")
    cumulative = np.concatenate([np.zeros((*mca.shape[:-1], 1)), np.cumsum(mca, axis=-1)],
                                axis=-1)
    idx = np.arange(n_el)
    return cumulative[..., idx, list(roi.high)] - cumulative[..., idx, list(roi.low)]


def dead_time_sum(counts: np.ndarray, icr: np.ndarray | None = None,
                  ocr: np.ndarray | None = None) -> np.ndarray:
    """Sum over elements of ``counts[..., element]``, each × ICR/OCR when both are given.

    An element with no input (ICR = OCR = 0) adds nothing; one with input and no output is
    saturated, and its reading cannot be corrected: BadSpectrum.
    """
    counts = np.asarray(counts, dtype=float)
    if icr is None or ocr is None:
        return counts.sum(axis=-1)
    icr = np.broadcast_to(np.asarray(icr, dtype=float), counts.shape)
    ocr = np.broadcast_to(np.asarray(ocr, dtype=float), counts.shape)
    if np.any(ocr < 0) or np.any(icr < 0) or not np.all(np.isfinite(icr * ocr)):
        raise BadSpectrum("ICR/OCR must be finite and not negative")
    saturated = (ocr == 0) & (icr > 0)
    if np.any(saturated):
        elements = sorted({int(i) for i in np.nonzero(saturated)[-1]})
        raise BadSpectrum("fluorescence element(s) saturated (input counts, no output): "
                          "dead time cannot be corrected", elements=elements)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(ocr > 0, icr / np.where(ocr > 0, ocr, 1.0), 1.0)
    return (counts * factor).sum(axis=-1)


def fluorescence(mca_or_roi: np.ndarray, roi: Roi | None, is_mca: bool,
                 icr: np.ndarray | None = None, ocr: np.ndarray | None = None,
                 frames_axis: bool = False) -> np.ndarray:
    """Dead-time-corrected fluorescence of one or more readings.

    ``mca_or_roi``: ``[..., element, bin]`` (``is_mca``) or ``[..., element]``. With
    ``frames_axis`` the axis before the element axis holds several frames of one point
    (frame_per_point > 1): they are corrected one by one and added.
    """
    counts = roi_counts(mca_or_roi, roi) if is_mca else np.asarray(mca_or_roi, dtype=float)
    total = dead_time_sum(counts, icr, ocr)
    return total.sum(axis=-1) if frames_axis else total


def element_order(numbers: Sequence[int]) -> list[int]:
    """Positions that sort per-element keys by their element number (1, 2, ..., 10)."""
    return sorted(range(len(numbers)), key=lambda i: numbers[i])
