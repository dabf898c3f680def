"""The simulated EELS devices: the specimen (Cu, Cu2O, CuO or the three in layers; MnO, Mn2O3,
MnO2 or the three in layers) and the spectrometer (one spectrum, or one spectrum-image row,
per trigger, on the energy-loss window of the loaded specimen's element). Importable from
``edgestream_sim.devices`` too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.device import Staged
from ophyd.status import DeviceStatus

from .eels_spectra import EELS_AXES, L23_SOURCES
from .signals import SimSignal, _finished
from .spectra import EelsAxis, EelsSimulator, Segment, layered_fractions

Layers = tuple[tuple[str, float, float], ...]  # (compound, first, last fraction of a row)


class EelsSpecimenStage(Signal):
    """The EELS specimen: a compound of ``VALENCE`` ("Cu", "Cu2O", "CuO", "MnO", "Mn2O3",
    "MnO2") or a layered lamella of ``LAYERED`` ("layers": Cu | Cu2O | CuO, "mn_layers":
    MnO | Mn2O3 | MnO2 across a row).

    Specimens of another element than Cu draw their per-run conditions and noise from their
    own generator in ``rngs`` (as the Fe K samples do), so adding them leaves the Cu runs'
    draws alone; without one they share ``rng``.
    """

    LAYERS: ClassVar[Layers] = (("Cu", 0.0, 0.3), ("Cu2O", 0.3, 0.65), ("CuO", 0.65, 1.0))
    MN_LAYERS: ClassVar[Layers] = (("MnO", 0.0, 0.3), ("Mn2O3", 0.3, 0.65), ("MnO2", 0.65, 1.0))
    LAYERED: ClassVar[dict[str, Layers]] = {"layers": LAYERS, "mn_layers": MN_LAYERS}
    VALENCE: ClassVar[dict[str, int]] = {"Cu": 0, "Cu2O": 1, "CuO": 2,
                                         "MnO": 2, "Mn2O3": 3, "MnO2": 4}
    ELEMENT: ClassVar[dict[str, str]] = {"Cu": "Cu", "Cu2O": "Cu", "CuO": "Cu", "layers": "Cu",
                                         "MnO": "Mn", "Mn2O3": "Mn", "MnO2": "Mn",
                                         "mn_layers": "Mn"}
    SPECIMENS = tuple(ELEMENT)
    # Per element: its single compounds (in the order the schedule cycles them) and its
    # layered lamella
    BY_ELEMENT: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = {
        "Cu": (("Cu", "Cu2O", "CuO"), "layers"),
        "Mn": (("MnO", "Mn2O3", "MnO2"), "mn_layers"),
    }

    def __init__(
        self, *, name: str = "eels_specimen", rng: np.random.Generator,
        rngs: Mapping[str, np.random.Generator] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, value="", kind="omitted", **kwargs)
        self.rng = rng
        self.rngs = dict(rngs or {})
        self.energy_drift_ev = 0.0
        self.edge_jump = 0.4

    @property
    def element(self) -> str | None:
        """The loaded specimen's element (None: none loaded)."""
        return self.ELEMENT.get(self.get())

    def _rng(self) -> np.random.Generator:
        return self.rngs.get(self.element or "Cu", self.rng)

    def set(self, value: str, **kwargs: Any) -> DeviceStatus:
        """Load a specimen and draw new per-run conditions (spectrometer drift, thickness)."""
        if value not in self.SPECIMENS:
            raise ValueError(f"specimen must be one of {self.SPECIMENS}, not {value!r}")
        self.put(value)
        rng = self._rng()
        self.energy_drift_ev = float(rng.uniform(-0.5, 0.5))
        self.edge_jump = float(rng.uniform(0.25, 0.6))
        return _finished(self)

    def segments(self, n_pixels: int) -> list[Segment]:
        layers = self.LAYERED.get(self.get(), self.LAYERS)
        bounds = [round(f * n_pixels) for _, f, _ in layers] + [n_pixels]
        return [Segment(c, bounds[i], bounds[i + 1] - 1) for i, (c, _, _) in enumerate(layers)]

    def truth(self, n_pixels: int | None = None) -> dict[str, Any]:
        """Ground truth; for a layered lamella the pixel segments of a row of ``n_pixels``."""
        value = self.get()
        base = {"energy_drift_ev": self.energy_drift_ev,
                "source": L23_SOURCES[self.element or "Cu"]}
        if value not in self.LAYERED:
            return {"compound": value, "valence": self.VALENCE[value], **base}
        if n_pixels is None:
            raise ValueError(f"{value} truth needs n_pixels")
        segs = [
            {
                "compound": s.compound,
                "valence": self.VALENCE[s.compound],
                "first_pixel": s.first_pixel,
                "last_pixel": s.last_pixel,
            }
            for s in self.segments(n_pixels)
        ]
        compound = "|".join(c for c, _, _ in self.LAYERED[value])
        return {"compound": compound, "segments": segs, **base}

    def acquire(self, axis: EelsAxis, n_pixels: int | None) -> np.ndarray:
        """Counts: shape [n_channels], or [n_pixels, n_channels] for a spectrum-image row."""
        value = self.get()
        if not value:
            raise RuntimeError("no EELS specimen loaded: mv the specimen stage first")
        rng = self._rng()
        sim = EelsSimulator(axis, rng, edge_jump=self.edge_jump,
                            energy_drift_ev=self.energy_drift_ev, element=self.element or "Cu")
        if n_pixels is None:
            if value in self.LAYERED:
                raise ValueError(f"{value!r} needs a spectrum-image detector (n_pixels)")
            return sim.spectrum(value, thickness=float(rng.uniform(0.9, 1.1)))
        if value in self.LAYERED:
            fractions = layered_fractions(self.segments(n_pixels), n_pixels)
        else:
            fractions = {value: np.ones(n_pixels)}
        return sim.row(fractions)


class EelsDetector(Device):
    """EELS spectrometer: one trigger = one spectrum, or one spectrum-image row.

    Configuration: ``eels_offset`` (eV), ``eels_dispersion`` (eV/channel), ``beam_energy``
    (keV), ``eels_exposure`` (s). The energy loss of channel i is offset + dispersion * i.
    Without a fixed ``axis`` the spectrometer takes the window of the loaded specimen's
    element (``EELS_AXES``: Cu 880-982.3 eV, Mn 590-719.9 eV) when a run stages it, as an
    operator sets the energy offset for the edge; the run's descriptor then has its shape.
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
        self.fixed_axis = axis  # None: the loaded specimen's element's window
        self.n_pixels = n_pixels
        self.delay_s = delay_s
        self.rows = 0
        self.spectra_emitted = 0
        self.spectrum.dims = ["channel"] if n_pixels is None else ["pixel", "channel"]
        self.use_axis(axis or EELS_AXES["Cu"])
        if include_axis:
            self.energy_loss.kind = "normal"
        if n_pixels is not None:
            self.row.kind = "normal"

    def use_axis(self, axis: EelsAxis) -> None:
        """Put the spectrometer on ``axis``: configuration, energy-loss array, array shape."""
        self.axis = axis
        self.offset.put(float(axis.offset))
        self.dispersion.put(float(axis.dispersion))
        shape = (axis.n_channels,) if self.n_pixels is None else (self.n_pixels, axis.n_channels)
        self.spectrum.put(np.zeros(shape, dtype=np.uint32))
        self.energy_loss.put(axis.loss())

    def _follow_specimen(self) -> None:
        axis = EELS_AXES.get(self.sample_stage.element or "")
        if self.fixed_axis is None and axis is not None and axis != self.axis:
            self.use_axis(axis)

    def stage(self) -> list[Any]:
        """Each run starts at row 0, on the window of its specimen's element."""
        self.rows = 0
        self._follow_specimen()
        return super().stage()

    def trigger(self) -> DeviceStatus:
        if self._staged == Staged.no:  # outside a run: no descriptor holds the shape yet
            self._follow_specimen()
        self.spectrum.put(self.sample_stage.acquire(self.axis, self.n_pixels))
        self.row.put(self.rows)
        self.rows += 1
        self.spectra_emitted += self.n_pixels or 1
        return _finished(self, self.delay_s)
