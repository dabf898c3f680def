"""Bluesky plans for the simulated beamline: XAS step scans, QEXAFS fly scans, EELS.

Every plan first moves a sample stage (``bps.mv``, no documents), then runs a standard
``bluesky.plans`` plan whose start document carries the usual metadata plus
``sample_truth``: what was really simulated, for the demo to show next to the annotations.
Consumers must never use ``sample_truth`` for analysis.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypedDict, Unpack

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
from bluesky.utils import Msg

from .devices import (
    EelsDetector,
    EelsSpecimenStage,
    EnergyAxis,
    IonChambers,
    QexafsDetector,
    XasSampleStage,
)
from .fluorescence import FluorescenceDetector
from .spectra import CU_K_EDGE_EV, scan_range_ev

Plan = Generator[Msg, Any, Any]

SIM_MD = {"simulated": True, "simulator": "edgestream_sim"}


def step_energies_ev(
    e0: float = CU_K_EDGE_EV,
    *,
    pre: tuple[float, float, float] = (-200.0, -30.0, 12.0),
    xanes: tuple[float, float, float] = (-30.0, 45.0, 0.75),
    k_step: float = 0.15,
    e_max: float = 400.0,
) -> np.ndarray:
    """Energies (eV) of a step scan: coarse pre-edge, fine edge, constant-k post-edge.

    ``pre``/``xanes`` are (start, stop, step) in eV relative to ``e0``; the post-edge runs
    from the end of ``xanes`` to ``e0 + e_max`` in steps of ``k_step`` (1/Å). ~160 points.
    """
    hbar2_2m = 3.80998  # eV·Å², E = ħ²k²/2m
    pre_pts = np.arange(pre[0], pre[1], pre[2])
    xanes_pts = np.arange(xanes[0], xanes[1], xanes[2])
    k = np.arange(np.sqrt(xanes[1] / hbar2_2m), np.sqrt(e_max / hbar2_2m) + 1e-9, k_step)
    return e0 + np.concatenate([pre_pts, xanes_pts, hbar2_2m * k**2])


class RunOptions(TypedDict, total=False):
    """What every plan takes besides its devices: ``with_edge_md=False`` leaves element and
    edge out of the start document, ``sample_name`` replaces the plan's own, ``beamline_id``
    (default "sim"), ``md`` is merged last."""

    with_edge_md: bool
    sample_name: str | None
    beamline_id: str
    md: dict[str, Any] | None


def _start_md(run: RunOptions, *, modality: str, scan_type: str, sample: str,
              truth: dict[str, Any], edge: tuple[str, str],
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    unknown = set(run) - set(RunOptions.__annotations__)
    if unknown:  # **run is not checked by Python: a misspelt option must not pass silently
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
    out: dict[str, Any] = {
        **SIM_MD,
        "beamline_id": run.get("beamline_id", "sim"),
        "modality": modality,
        "scan_type": scan_type,
        "sample": run.get("sample_name") or sample,
        "sample_truth": truth,
    }
    if run.get("with_edge_md", True):
        out["element"], out["edge"] = edge
    return {**out, **(extra or {}), **(run.get("md") or {})}


def xas_step_scan(
    ic: IonChambers,
    motor: EnergyAxis,
    stage: XasSampleStage,
    material_id: str,
    *,
    energies_ev: np.ndarray | None = None,
    descending: bool = False,
    repeat_every: int | None = None,
    **run: Unpack[RunOptions],
) -> Plan:
    """K-edge step scan (``bp.list_scan``) of ``material_id`` over ``motor`` in its units,
    about the K edge of the sample's element (Cu, or a FEFF10 sample's: ``feff10_k``).

    ``descending`` scans high to low energy; ``repeat_every=n`` measures every n-th point
    twice in a row; ``with_edge_md=False`` leaves element/edge out of the start document.
    """
    yield from bps.mv(stage, material_id)
    truth = stage.truth()
    energies = (step_energies_ev(stage.edge_ev) if energies_ev is None
                else np.asarray(energies_ev, float))
    if repeat_every:
        energies = np.repeat(
            energies, [2 if i % repeat_every == 0 else 1 for i in range(len(energies))]
        )
    if descending:
        energies = energies[::-1]
    points = [round(float(e) / motor.scale_to_ev, 7) for e in energies]
    start_md = _start_md(
        run, modality="xas_transmission", scan_type="step",
        sample=f"{truth['compound']} pellet", truth=truth, edge=(stage.element, "K"),
        extra={
            "composition": truth["compound"],  # what a scientist knows of a pellet
            "energy_units": motor.egu,
            "direction": "descending" if descending else "ascending",
        },
    )
    return (yield from bp.list_scan([ic], motor, points, md=start_md))


def fluorescence_scan(
    chambers: IonChambers,
    detector: FluorescenceDetector,
    motor: EnergyAxis,
    stage: XasSampleStage,
    material_id: str,
    *,
    energies_ev: np.ndarray | None = None,
    **run: Unpack[RunOptions],
) -> Plan:
    """Cu K-edge fluorescence step scan: I0 in line, the multi-element detector in HDF5.

    ``chambers`` is triggered before ``detector`` at each point (``bp.list_scan`` triggers
    in order), so the detector counts the fluorescence the chambers just simulated. Cu
    samples only: the detector's emission lines are Cu Kα/Kβ.
    """
    if stage.library[material_id].element != "Cu":
        raise ValueError(f"{material_id}: the fluorescence detector models Cu samples only")
    yield from bps.mv(stage, material_id)
    truth = stage.truth()
    energies = step_energies_ev() if energies_ev is None else np.asarray(energies_ev, float)
    points = [round(float(e) / motor.scale_to_ev, 7) for e in energies]
    start_md = _start_md(
        run, modality="xas_fluorescence", scan_type="step",
        sample=f"{truth['compound']} (dilute, fluorescence)", truth=truth, edge=("Cu", "K"),
        extra={"composition": truth["compound"], "energy_units": motor.egu,
               "detectors_external": [detector.name]},
    )
    return (yield from bp.list_scan([chambers, detector], motor, points, md=start_md))


def fly_scan(
    qexafs: QexafsDetector,
    stage: XasSampleStage,
    material_id: str,
    *,
    n_sweeps: int = 4,
    energy_range_ev: tuple[float, float] | None = None,
    **run: Unpack[RunOptions],
) -> Plan:
    """QEXAFS run (``bp.count``): ``n_sweeps`` events, each one whole sweep of arrays.

    The sweeps span ``energy_range_ev`` (eV), by default ``scan_range_ev`` about the K edge
    of the sample's element (E0 - 200 .. E0 + 400 eV).
    """
    yield from bps.mv(stage, material_id)
    lo, hi = scan_range_ev(stage.edge_ev) if energy_range_ev is None else energy_range_ev
    yield from bps.mv(qexafs.energy_start, lo, qexafs.energy_stop, hi)
    truth = stage.truth()
    energy_key = qexafs.energy.name
    start_md = _start_md(
        run, modality="xas_transmission", scan_type="fly",
        sample=f"{truth['compound']} pellet", truth=truth, edge=(stage.element, "K"),
        extra={"composition": truth["compound"],
               "hints": {"dimensions": [([energy_key], "primary")]}},
    )
    return (yield from bp.count([qexafs], num=n_sweeps, md=start_md))


def eels_acquisition(
    eels: EelsDetector,
    stage: EelsSpecimenStage,
    specimen: str,
    *,
    n_events: int = 4,
    **run: Unpack[RunOptions],
) -> Plan:
    """EELS run (``bp.count``): one spectrum, or one spectrum-image row, per event.

    ``specimen`` is "Cu", "Cu2O", "CuO", "MnO", "Mn2O3", "MnO2", or a layered lamella,
    "layers" (Cu) or "mn_layers" (spectrum-image detectors only). The start document names
    the specimen's element and its L2,3 edge; the spectrometer measures that edge's window.
    """
    if specimen in stage.LAYERED and eels.n_pixels is None:
        raise ValueError(f"{specimen!r} needs a spectrum-image detector (n_pixels)")
    yield from bps.mv(stage, specimen)
    truth = stage.truth(eels.n_pixels)
    image = eels.n_pixels is not None
    start_md = _start_md(
        run, modality="eels", scan_type="eels_spectrum_image" if image else "eels_spectrum",
        sample=f"{truth['compound']} lamella", truth=truth,
        edge=(stage.ELEMENT[specimen], "L2,3"),
    )
    return (yield from bp.count([eels], num=n_events, md=start_md))
