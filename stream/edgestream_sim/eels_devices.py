"""The simulated EELS devices: the specimen (Cu, Cu2O, CuO or the three in layers) and the
spectrometer (one spectrum, or one spectrum-image row, per trigger). Importable from
``edgestream_sim.devices`` too."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.status import DeviceStatus

from .signals import SimSignal, _finished
from .spectra import EelsAxis, EelsSimulator, Segment, layered_fractions


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
