"""ophyd.sim-based devices: a monochromator axis, ion chambers, a QEXAFS fly detector, EELS.

Every ``describe()`` reports the true shape, dtype, numpy dtype and units of what ``read()``
returns. Sample stages are soft Signals: ``bps.mv(stage, key)`` loads a sample and draws new
per-run conditions; their value never appears in any document.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.sim import SynAxis
from ophyd.status import DeviceStatus

from .spectra import (
    FEFF9_ENERGY_SHIFT_EV,
    SCAN_RANGE_EV,
    EelsAxis,
    EelsSimulator,
    ReferenceSpectrum,
    Segment,
    XasConditions,
    XasSimulator,
    fly_energy_axis,
    layered_fractions,
)

UNIT_SCALE_TO_EV = {"eV": 1.0, "keV": 1000.0}


class SimSignal(Signal):
    """A soft Signal whose describe() is derived from its value and carries units."""

    def __init__(
        self,
        *,
        units: str | None = None,
        precision: int | None = None,
        dims: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._units = units
        self._precision = precision
        self.dims = list(dims) if dims else None

    def describe(self) -> dict[str, dict[str, Any]]:
        value = np.asarray(self.get())
        if value.dtype.kind in "US":
            dtype = "string"
        elif value.ndim > 0:
            dtype = "array"
        elif value.dtype.kind == "b":
            dtype = "boolean"
        elif value.dtype.kind in "iu":
            dtype = "integer"
        else:
            dtype = "number"
        desc: dict[str, Any] = {
            "source": self.source_name,
            "dtype": dtype,
            "dtype_numpy": value.dtype.str,
            "shape": list(value.shape),
        }
        if self._units is not None:
            desc["units"] = self._units
        if self._precision is not None:
            desc["precision"] = self._precision
        if self.dims:
            desc["dims"] = self.dims
        return {self.name: desc}


def _finished(device: Any, delay_s: float = 0.0) -> DeviceStatus:
    """A status that finishes now, or after ``delay_s`` (simulated exposure)."""
    st = DeviceStatus(device=device)
    if delay_s > 0:
        threading.Timer(delay_s, st.set_finished).start()
    else:
        st.set_finished()
    return st


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


class XasSampleStage(Signal):
    """The XAS sample position; value = material id of the loaded reference spectrum."""

    def __init__(
        self,
        *,
        name: str = "xas_sample",
        library: Sequence[ReferenceSpectrum],
        rng: np.random.Generator,
        shift_ev: float = FEFF9_ENERGY_SHIFT_EV,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, value="", kind="omitted", **kwargs)
        self.library = {ref.material_id: ref for ref in library}
        self.rng = rng
        self.shift_ev = shift_ev
        self.simulator: XasSimulator | None = None
        self.conditions: XasConditions | None = None

    def set(self, value: str, **kwargs: Any) -> DeviceStatus:
        """Load ``value`` (a material id) and draw new run conditions."""
        ref = self.library[value]
        self.conditions = XasConditions.draw(self.rng)
        self.simulator = XasSimulator(ref, self.conditions, self.rng, self.shift_ev)
        self.put(value)
        return _finished(self)

    def truth(self) -> dict[str, Any]:
        """Ground truth of the loaded sample and conditions (plain Python types)."""
        if self.simulator is None or self.conditions is None:
            raise RuntimeError("no XAS sample loaded")
        return {**self.simulator.reference.truth(self.shift_ev), **self.conditions.truth()}

    def measure(
        self, energy_ev: np.ndarray, time_s: np.ndarray, dwell_s: float | np.ndarray
    ) -> dict[str, np.ndarray]:
        if self.simulator is None:
            raise RuntimeError("no XAS sample loaded: mv the sample stage first")
        return self.simulator.measure(energy_ev, time_s, dwell_s)


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


class EelsSpecimenStage(Signal):
    """The EELS specimen: value "Cu", "Cu2O", "CuO" or "layers" (Cu | Cu2O | CuO across a row)."""

    SPECIMENS = ("Cu", "Cu2O", "CuO", "layers")
    LAYERS = (("Cu", 0.0, 0.3), ("Cu2O", 0.3, 0.65), ("CuO", 0.65, 1.0))  # fractions of a row
    VALENCE: ClassVar[dict[str, int]] = {"Cu": 0, "Cu2O": 1, "CuO": 2}

    def __init__(
        self, *, name: str = "eels_specimen", rng: np.random.Generator, **kwargs: Any
    ) -> None:
        super().__init__(name=name, value="", kind="omitted", **kwargs)
        self.rng = rng
        self.energy_drift_ev = 0.0
        self.edge_jump = 0.4

    def set(self, value: str, **kwargs: Any) -> DeviceStatus:
        """Load a specimen and draw new per-run conditions (spectrometer drift, thickness)."""
        if value not in self.SPECIMENS:
            raise ValueError(f"specimen must be one of {self.SPECIMENS}, not {value!r}")
        self.energy_drift_ev = float(self.rng.uniform(-0.5, 0.5))
        self.edge_jump = float(self.rng.uniform(0.25, 0.6))
        self.put(value)
        return _finished(self)

    def segments(self, n_pixels: int) -> list[Segment]:
        bounds = [round(f * n_pixels) for _, f, _ in self.LAYERS] + [n_pixels]
        return [Segment(c, bounds[i], bounds[i + 1] - 1) for i, (c, _, _) in enumerate(self.LAYERS)]

    def truth(self, n_pixels: int | None = None) -> dict[str, Any]:
        """Ground truth; for "layers" the pixel segments of a row of ``n_pixels``."""
        value = self.get()
        base = {"energy_drift_ev": self.energy_drift_ev,
                "source": "FEFF10 Cu L2,3 (data/cu_l23_feff10.npz)"}
        if value != "layers":
            return {"compound": value, "valence": self.VALENCE[value], **base}
        if n_pixels is None:
            raise ValueError("layers truth needs n_pixels")
        segs = [
            {
                "compound": s.compound,
                "valence": self.VALENCE[s.compound],
                "first_pixel": s.first_pixel,
                "last_pixel": s.last_pixel,
            }
            for s in self.segments(n_pixels)
        ]
        return {"compound": "Cu|Cu2O|CuO", "segments": segs, **base}

    def acquire(self, axis: EelsAxis, n_pixels: int | None) -> np.ndarray:
        """Counts: shape [n_channels], or [n_pixels, n_channels] for a spectrum-image row."""
        value = self.get()
        if not value:
            raise RuntimeError("no EELS specimen loaded: mv the specimen stage first")
        sim = EelsSimulator(
            axis, self.rng, edge_jump=self.edge_jump, energy_drift_ev=self.energy_drift_ev
        )
        if n_pixels is None:
            if value == "layers":
                raise ValueError("'layers' needs a spectrum-image detector (n_pixels)")
            return sim.spectrum(value, thickness=float(self.rng.uniform(0.9, 1.1)))
        if value == "layers":
            fractions = layered_fractions(self.segments(n_pixels), n_pixels)
        else:
            fractions = {value: np.ones(n_pixels)}
        return sim.row(fractions)


class EelsDetector(Device):
    """EELS spectrometer: one trigger = one spectrum, or one spectrum-image row.

    Configuration: ``eels_offset`` (eV), ``eels_dispersion`` (eV/channel), ``beam_energy``
    (keV), ``eels_exposure`` (s). The energy loss of channel i is offset + dispersion * i.
    """

    spectrum = Cpt(SimSignal, value=0, kind="hinted", units="counts")
    energy_loss = Cpt(
        SimSignal, value=0.0, kind="omitted", units="eV", precision=3, dims=["channel"]
    )
    row = Cpt(SimSignal, value=0, kind="omitted")
    offset = Cpt(SimSignal, value=880.0, kind="config", units="eV", precision=3)
    dispersion = Cpt(SimSignal, value=0.1, kind="config", units="eV/channel", precision=4)
    beam_energy = Cpt(SimSignal, value=200.0, kind="config", units="keV", precision=1)
    exposure = Cpt(SimSignal, value=0.5, kind="config", units="s", precision=3)

    def __init__(
        self,
        *,
        name: str = "eels",
        stage: EelsSpecimenStage,
        axis: EelsAxis | None = None,
        n_pixels: int | None = None,
        include_axis: bool = False,
        delay_s: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.beam_energy.name = "beam_energy"
        self.sample_stage = stage
        self.axis = axis or EelsAxis()
        self.n_pixels = n_pixels
        self.delay_s = delay_s
        self.rows = 0
        self.spectra_emitted = 0
        self.offset.put(float(self.axis.offset))
        self.dispersion.put(float(self.axis.dispersion))
        shape = (self.axis.n_channels,) if n_pixels is None else (n_pixels, self.axis.n_channels)
        self.spectrum.dims = ["channel"] if n_pixels is None else ["pixel", "channel"]
        self.spectrum.put(np.zeros(shape, dtype=np.uint32))
        self.energy_loss.put(self.axis.loss())
        if include_axis:
            self.energy_loss.kind = "normal"
        if n_pixels is not None:
            self.row.kind = "normal"

    def stage(self) -> list[Any]:
        """Each run starts at row 0."""
        self.rows = 0
        return super().stage()

    def trigger(self) -> DeviceStatus:
        self.spectrum.put(self.sample_stage.acquire(self.axis, self.n_pixels))
        self.row.put(self.rows)
        self.rows += 1
        self.spectra_emitted += self.n_pixels or 1
        return _finished(self, self.delay_s)
