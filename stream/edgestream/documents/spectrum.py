"""The spectrum an assembler hands to the pipeline, before any physics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Modality = Literal["xas_transmission", "xas_fluorescence", "xas_mu", "eels"]


@dataclass(frozen=True)
class SpectrumIds:
    """Where a spectrum came from, enough to make a deterministic annotation id."""

    run_uid: str
    descriptor_uid: str
    stream_name: str
    # Step scans: (first seq_num, last seq_num) of the events used. Array scans: (seq, seq).
    seq_range: tuple[int, int]
    # For spectrum-image rows: the index of the spectrum within the event array.
    index_in_event: int = 0


@dataclass(frozen=True)
class RawSpectrum:
    """One measured spectrum: energy axis (eV, ascending, unique) and μ(E) or EELS counts.

    ``signal`` is μ(E) for XAS (already ln(I0/It), If/I0 or a given μ) and background-
    containing counts for EELS. ``energy`` is photon energy for XAS and energy loss for EELS,
    both in eV. ``reference`` is the reference foil's μ when the scan measured one.
    """

    ids: SpectrumIds
    modality: Modality
    energy: np.ndarray
    signal: np.ndarray
    element: str | None = None
    edge: str | None = None
    # How element/edge were decided: "metadata", "edge_energy" or None when still unknown.
    element_source: str | None = None
    partial: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    # μ of the reference foil, ln(It/Iref), on ``energy``: the scan's own energy marker.
    reference: np.ndarray | None = None
    # Event timestamps (seconds since epoch) of the first and last point, for latency.
    time_range: tuple[float, float] = (0.0, 0.0)
    # Which data keys gave μ and how they were found: {"source": configured | hints | names |
    # inferred, "keys": {role: key or [keys summed]}}; None outside the document doors.
    channels: dict[str, Any] | None = None
