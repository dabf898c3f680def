"""ophyd.sim-based devices: a monochromator axis, ion chambers, a QEXAFS fly detector, EELS.

Every ``describe()`` reports the true shape, dtype, numpy dtype and units of what ``read()``
returns. Sample stages are soft Signals: ``bps.mv(stage, key)`` loads a sample and draws new
per-run conditions; their value never appears in any document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.sim import SynAxis
from ophyd.status import DeviceStatus

from .eels_devices import EelsDetector, EelsSpecimenStage
from .signals import SimSignal, _finished
from .spectra import (
    CU_K_EDGE_EV,
    FEFF9_ENERGY_SHIFT_EV,
    SCAN_RANGE_EV,
    ReferenceSpectrum,
    XasConditions,
    XasSimulator,
    fly_energy_axis,
)

# The EELS devices and the soft signals live in their own modules; importable from here.
__all__ = ["EelsDetector", "EelsSpecimenStage", "EnergyAxis", "IonChambers", "PhotonBeam",
           "QexafsDetector", "SampleSignal", "SimSignal", "XasSampleStage", "_finished"]

UNIT_SCALE_TO_EV = {"eV": 1.0, "keV": 1000.0}


class PhotonBeam:
    """Shared beam state: photon energy (eV) set by the monochromator, simulated clock (s)."""

    def __init__(self, energy_ev: float = 8979.0) -> None:
        self.energy_ev = energy_ev
        self.clock_s = 0.0

    def advance(self, dt_s: float) -> float:
        """Move the simulated clock on by ``dt_s``; return the time at the start (s)."""
        t = self.clock_s
        self.clock_s += dt_s
        return t


class EnergyAxis(SynAxis):
    """Monochromator energy (SynAxis) in "eV" or "keV"; tells the beam its energy in eV."""

    def __init__(
        self, *, name: str = "dcm_energy", beam: PhotonBeam, egu: str = "eV", **kwargs: Any
    ) -> None:
        if egu not in UNIT_SCALE_TO_EV:
            raise ValueError(f"egu must be one of {sorted(UNIT_SCALE_TO_EV)}, not {egu!r}")
        self.beam = beam
        scale = UNIT_SCALE_TO_EV[egu]

        def to_beam(position: float) -> float:
            beam.energy_ev = float(position) * scale
            return position

        value = kwargs.pop("value", beam.energy_ev / scale)
        super().__init__(
            name=name,
            readback_func=to_beam,
            value=value,
            egu=egu,
            precision=4 if egu == "eV" else 7,
            **kwargs,
        )

    @property
    def scale_to_ev(self) -> float:
        return UNIT_SCALE_TO_EV[self.egu]

    def describe(self) -> dict[str, dict[str, Any]]:
        desc = super().describe()
        for key in desc:
            desc[key]["units"] = self.egu
        return desc


class SampleSignal(Signal):
    """A sample position whose loaded spot is measured by ``simulator`` (None until the
    stage is moved): what the ion chambers call ``measure`` on."""

    not_loaded = "no XAS sample loaded: mv the sample stage first"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.simulator: XasSimulator | None = None

    def measure(
        self, energy_ev: np.ndarray, time_s: np.ndarray, dwell_s: float | np.ndarray
    ) -> dict[str, np.ndarray]:
        if self.simulator is None:
            raise RuntimeError(self.not_loaded)
        return self.simulator.measure(energy_ev, time_s, dwell_s)

    @property
    def element(self) -> str:
        """The absorbing element of the loaded sample (Cu before any is loaded)."""
        return "Cu" if self.simulator is None else self.simulator.reference.element

    @property
    def edge_ev(self) -> float:
        """Tabulated K edge of the loaded sample's element, eV: where scans are centred."""
        return CU_K_EDGE_EV if self.simulator is None else self.simulator.reference.edge_ev


class XasSampleStage(SampleSignal):
    """The XAS sample position; value = material id of the loaded reference spectrum.

    ``rngs``: generators by element for samples not of Cu (conditions and noise): they take
    no draws from the Cu runs' ``rng`` (a Cu run after one still sees a later clock).
    """

    def __init__(
        self,
        *,
        name: str = "xas_sample",
        library: Sequence[ReferenceSpectrum],
        rng: np.random.Generator,
        shift_ev: float = FEFF9_ENERGY_SHIFT_EV,
        rngs: Mapping[str, np.random.Generator] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, value="", kind="omitted", **kwargs)
        self.library = {ref.material_id: ref for ref in library}
        self.rng = rng
        self.rngs = dict(rngs or {})
        self.shift_ev = shift_ev
        self.conditions: XasConditions | None = None

    def set(self, value: str, **kwargs: Any) -> DeviceStatus:
        """Load ``value`` (a material id) and draw new run conditions."""
        ref = self.library[value]
        rng = self.rngs.get(ref.element, self.rng)
        self.conditions = XasConditions.draw(rng)
        self.simulator = XasSimulator(ref, self.conditions, rng, self.shift_ev)
        self.put(value)
        return _finished(self)

    def truth(self) -> dict[str, Any]:
        """Ground truth of the loaded sample and conditions (plain Python types)."""
        if self.simulator is None or self.conditions is None:
            raise RuntimeError("no XAS sample loaded")
        return {**self.simulator.reference.truth(self.shift_ev), **self.conditions.truth()}


class IonChambers(Device):
    """Step-scan ion chambers: one trigger = counts I0, It, If, Ir at the current energy."""

    I0 = Cpt(SimSignal, value=0.0, kind="hinted", units="counts", precision=1)
    It = Cpt(SimSignal, value=0.0, kind="hinted", units="counts", precision=1)
    If = Cpt(SimSignal, value=0.0, kind="normal", units="counts", precision=1)
    Ir = Cpt(SimSignal, value=0.0, kind="normal", units="counts", precision=1)
    dwell = Cpt(SimSignal, value=1.0, kind="config", units="s", precision=3)

    def __init__(
        self,
        *,
        name: str = "ic",
        stage: XasSampleStage,
        beam: PhotonBeam,
        delay_s: float = 0.0,
        channels: Sequence[str] = XasSimulator.CHANNELS,
        **kwargs: Any,
    ) -> None:
        """``channels``: the ones read into events; the others are still counted (a
        fluorescence detector takes If from them) but omitted from the documents."""
        super().__init__(name=name, **kwargs)
        for attr in XasSimulator.CHANNELS:  # data keys are the bare channel names
            getattr(self, attr).name = attr
            if attr not in channels:
                getattr(self, attr).kind = "omitted"
        self.sample_stage = stage
        self.beam = beam
        self.delay_s = delay_s

    def trigger(self) -> DeviceStatus:
        dwell = float(self.dwell.get())
        t = self.beam.advance(dwell)
        counts = self.sample_stage.measure(np.array([self.beam.energy_ev]), np.array([t]), dwell)
        for attr, value in counts.items():
            getattr(self, attr).put(float(value[0]))
        return _finished(self, self.delay_s)


class QexafsDetector(Device):
    """Fly/QEXAFS: one trigger = one mono sweep, arrays of energy (eV) and counts.

    Sweeps alternate up and down in energy; the points are denser at both ends (cosine
    mono motion). ``n_points`` is fixed at construction so describe() stays truthful.
    """

    energy = Cpt(SimSignal, value=0.0, kind="hinted", units="eV", precision=3, dims=["point"])
    I0 = Cpt(SimSignal, value=0.0, kind="hinted", units="counts", precision=1, dims=["point"])
    It = Cpt(SimSignal, value=0.0, kind="hinted", units="counts", precision=1, dims=["point"])
    If = Cpt(SimSignal, value=0.0, kind="normal", units="counts", precision=1, dims=["point"])
    Ir = Cpt(SimSignal, value=0.0, kind="normal", units="counts", precision=1, dims=["point"])
    energy_start = Cpt(SimSignal, value=SCAN_RANGE_EV[0], kind="config", units="eV", precision=2)
    energy_stop = Cpt(SimSignal, value=SCAN_RANGE_EV[1], kind="config", units="eV", precision=2)
    sweep_time = Cpt(SimSignal, value=1.0, kind="config", units="s", precision=3)
    n_points = Cpt(SimSignal, value=0, kind="config")

    # QEXAFS runs at higher flux than step scans: counts per point = flux * GAIN * dt.
    GAIN = 200.0

    def __init__(
        self,
        *,
        name: str = "qexafs",
        stage: XasSampleStage,
        beam: PhotonBeam,
        n_points: int = 1200,
        delay_s: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.sample_stage = stage
        self.beam = beam
        self.delay_s = delay_s
        self.sweeps = 0
        self.n_points.put(int(n_points))
        for attr in ("energy", "I0", "It", "If", "Ir"):
            getattr(self, attr).put(np.zeros(n_points))

    def stage(self) -> list[Any]:
        """Each run starts with an ascending sweep."""
        self.sweeps = 0
        return super().stage()

    def trigger(self) -> DeviceStatus:
        n = int(self.n_points.get())
        sweep = float(self.sweep_time.get())
        descending = self.sweeps % 2 == 1
        self.sweeps += 1
        energy = fly_energy_axis(
            float(self.energy_start.get()), float(self.energy_stop.get()), n, descending
        )
        t = self.beam.advance(sweep) + np.linspace(0.0, sweep, n)
        counts = self.sample_stage.measure(energy, t, self.GAIN * sweep / n)
        self.energy.put(energy)
        for attr in ("I0", "It", "If", "Ir"):
            getattr(self, attr).put(counts[attr])
        return _finished(self, self.delay_s)


