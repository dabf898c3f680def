"""A simulated multi-element fluorescence detector that writes HDF5, as ophyd-async's do.

The file is open for writing from stage to unstage, as an area detector's HDF5 plugin holds
it during capture (without HDF5 file locking, as readers open it too); each trigger appends
one frame to ``<data_dir>/<file>.h5`` and flushes it: ``/entry/data/data`` (MCA
spectra ``[frame, element, bin]``, uint32), ``/entry/data/icr`` and ``/entry/data/ocr``
(input/output count rates per element). The RunEngine gets, through
``collect_asset_docs``, one ``stream_resource`` per data key (``mimetype
application/x-hdf5``, ``uri``, ``parameters.dataset``) and a ``stream_datum`` per frame,
exactly the documents an ophyd-async detector emits; the events carry no value for these
keys (``external: "STREAM:"``).

Physics: the Cu Kα/Kβ lines (counts from the ion chambers' fluorescence signal at the same
point, so ``IonChambers`` must be triggered first), an elastic peak at the beam energy and
a flat background, split over the elements with unequal solid angles. Every element is
paralyzable-dead-time limited (``OCR = ICR·exp(-ICR·τ)``, τ different per element), so the
raw ROI sum bends the edge step and ICR/OCR undo it.

``published_root`` lets the documents name another root than ``data_dir`` (a detector
writing to /nsls2/data/... mounted elsewhere here): the service maps it back with its
``data_roots`` setting.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from event_model import ComposeStreamResource, ComposeStreamResourceBundle
from ophyd import Component as Cpt
from ophyd import Device

from .devices import IonChambers, PhotonBeam
from .signals import SimSignal, _finished

CU_KA_EV = 8047.78
CU_KB_EV = 8905.3
KB_OVER_KA = 0.13
# The SDD sits closer to the sample than the If chamber: 10x its Kα counts, 60-70 kcounts/s
# per element above the edge, where dead time costs 12-30 % (2-5 µs per element).
SOLID_ANGLE_GAIN = 10.0
ELASTIC_PER_I0 = 4e-3  # elastic + Compton counts per I0 count reaching all elements
BACKGROUND_PER_BIN = 0.2  # flat background counts per bin per element per second
LINE_SIGMA_EV = 60.0  # ~140 eV FWHM: a silicon drift element at 8 keV
DATASETS = {"": "/entry/data/data", "_icr": "/entry/data/icr", "_ocr": "/entry/data/ocr"}


class FluorescenceDetector(Device):
    """Multi-element SDD writing MCA frames to HDF5 and emitting stream_resource/stream_datum.

    Its data key is the device name (``fluor``: what channel discovery knows as the
    fluorescence channel once the filler has summed the elements), plus ``<name>_icr`` and
    ``<name>_ocr``.
    """

    ev_per_bin = Cpt(SimSignal, value=10.0, kind="config", units="eV")
    n_elements = Cpt(SimSignal, value=4, kind="config")
    dwell = Cpt(SimSignal, value=1.0, kind="config", units="s", precision=3)

    def __init__(
        self,
        *,
        name: str = "fluor",
        chambers: IonChambers,
        beam: PhotonBeam,
        data_dir: str | Path,
        published_root: str | None = None,
        rng: np.random.Generator | None = None,
        n_elements: int = 4,
        n_bins: int = 1024,
        dead_time_s: tuple[float, ...] = (2.0e-6, 3.0e-6, 4.0e-6, 5.0e-6),
        delay_s: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.ev_per_bin.name = f"{name}_ev_per_bin"
        self.chambers = chambers
        self.beam = beam
        self.data_dir = Path(data_dir)
        self.published_root = published_root
        self.rng = rng or np.random.default_rng(0)
        self.n_bins = n_bins
        self.n_elements.put(int(n_elements))
        self.dead_time_s = np.resize(np.asarray(dead_time_s, float), n_elements)
        # unequal solid angles: the elements see 31 %, 27 %, 23 %, 19 % of the emission
        w = np.linspace(1.6, 1.0, n_elements)
        self.solid_angle = w / w.sum()
        self.delay_s = delay_s
        self.path: Path | None = None
        self._frames = 0
        self._emitted = 0
        self._bundles: list[ComposeStreamResourceBundle] = []
        self._files = itertools.count()
        self._lock = threading.Lock()
        self._file: h5py.File | None = None

    # -- the bluesky protocol --------------------------------------------------------------
    def describe(self) -> dict[str, dict[str, Any]]:
        n_el = int(self.n_elements.get())
        source = f"sim:{self.name}:hdf5"
        return {
            self.name: {"source": source, "dtype": "array", "dtype_numpy": "<u4",
                        "shape": [n_el, self.n_bins], "dims": ["element", "bin"],
                        "external": "STREAM:"},
            f"{self.name}_icr": {"source": source, "dtype": "array", "dtype_numpy": "<f8",
                                 "shape": [n_el], "units": "counts/s", "external": "STREAM:"},
            f"{self.name}_ocr": {"source": source, "dtype": "array", "dtype_numpy": "<f8",
                                 "shape": [n_el], "units": "counts/s", "external": "STREAM:"},
        }

    def read(self) -> dict[str, dict[str, Any]]:
        return {}  # everything is in the file; the documents point at it

    def stage(self) -> list[Any]:
        """A new file per run, with empty, growing datasets."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / f"{self.name}_{uuid.uuid4().hex[:12]}.h5"
        n_el = int(self.n_elements.get())
        self._close()
        self._file = f = h5py.File(self.path, "w", locking=False)
        f.create_dataset(DATASETS[""], shape=(0, n_el, self.n_bins),
                         maxshape=(None, n_el, self.n_bins), dtype="<u4",
                         chunks=(1, n_el, self.n_bins))
        for suffix in ("_icr", "_ocr"):
            f.create_dataset(DATASETS[suffix], shape=(0, n_el), maxshape=(None, n_el),
                             dtype="<f8", chunks=(64, n_el))
        f.flush()
        self._frames = self._emitted = 0
        uri = f"file://localhost{self._published(self.path)}"
        compose = ComposeStreamResource()
        self._bundles = [
            compose(mimetype="application/x-hdf5", uri=uri, data_key=f"{self.name}{suffix}",
                    parameters={"dataset": dataset, "swmr": False, "multiplier": 1,
                                "chunk_shape": [1]})
            for suffix, dataset in DATASETS.items()
        ]
        return super().stage()

    def unstage(self) -> list[Any]:
        self._bundles = []
        self._close()
        return super().unstage()

    def _close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def trigger(self) -> Any:
        """One frame at the current energy, appended and closed (flushed) at once."""
        if self._file is None or not self._bundles:
            raise RuntimeError(f"{self.name} is not staged")
        mca, icr, ocr = self.spectrum(float(self.chambers.If.get()),
                                      float(self.chambers.I0.get()), self.beam.energy_ev)
        with self._lock:
            f = self._file
            for key, value in ((DATASETS[""], mca), (DATASETS["_icr"], icr),
                               (DATASETS["_ocr"], ocr)):
                ds = f[key]
                ds.resize(self._frames + 1, axis=0)
                ds[self._frames] = value
            f.flush()  # readers (the service) see each frame as soon as its event is out
            self._frames += 1
        return _finished(self, self.delay_s)

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, Any]]:
        """stream_resource once per run, then a stream_datum per key for new frames."""
        if self._emitted == 0:
            for bundle in self._bundles:
                yield "stream_resource", bundle.stream_resource_doc
        if self._frames > self._emitted:
            indices = {"start": self._emitted, "stop": self._frames}
            for bundle in self._bundles:
                yield "stream_datum", bundle.compose_stream_datum(indices)
            self._emitted = self._frames

    # -- the simulation --------------------------------------------------------------------
    def spectrum(self, kalpha_counts: float, i0_counts: float, beam_ev: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MCA counts [element, bin] and ICR, OCR [element] (counts/s) of one point."""
        dwell = float(self.dwell.get())
        centres = (np.arange(self.n_bins) + 0.5) * float(self.ev_per_bin.get())

        def line(ev: float) -> np.ndarray:
            g = np.exp(-0.5 * ((centres - ev) / LINE_SIGMA_EV) ** 2)
            return g / g.sum()

        lines = line(CU_KA_EV) + KB_OVER_KA * line(CU_KB_EV)
        shape = (SOLID_ANGLE_GAIN * max(kalpha_counts, 0.0) * lines
                 + ELASTIC_PER_I0 * max(i0_counts, 0.0) * line(beam_ev)
                 + BACKGROUND_PER_BIN * dwell)
        expected = self.solid_angle[:, None] * shape[None, :]  # [element, bin], true counts
        icr = expected.sum(axis=1) / dwell
        live = np.exp(-icr * self.dead_time_s)  # paralyzable: OCR = ICR·exp(-ICR·τ)
        mca = self.rng.poisson(expected * live[:, None]).astype(np.uint32)
        return mca, icr, icr * live

    def _published(self, path: Path) -> str:
        if self.published_root is None:
            return str(path.resolve())
        rel = path.resolve().relative_to(self.data_dir.resolve())
        return f"{self.published_root.rstrip('/')}/{rel.as_posix()}"
