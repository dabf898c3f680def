"""The simulated beamline: a real RunEngine, simulated devices, documents published to Kafka.

``run_beamline`` may be called from any thread: the RunEngine is built with
``context_managers=[]`` (no SIGINT handler, which only the main thread may install) and
bluesky runs its event loop in its own background thread.

    python -m edgestream_sim.beamline --bootstrap localhost:9092 --duration 60
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bluesky import RunEngine

from .devices import (
    EelsDetector,
    EelsSpecimenStage,
    EnergyAxis,
    IonChambers,
    PhotonBeam,
    QexafsDetector,
    XasSampleStage,
)
from .feff10_k import FEFF10_ELEMENTS, load_feff10_fixture
from .fluorescence import FluorescenceDetector
from .publisher import KafkaPublisher, ProducerLike, topic_for
from .schedule import DEFAULT_COUNTS, EELS_ELEMENTS, RUN_KINDS, RunSchedule
from .spectra import FEFF9_ENERGY_SHIFT_EV, load_fixture

log = logging.getLogger(__name__)

DocumentCallback = Callable[[str, dict[str, Any]], None]
# Where the fluorescence detector writes its HDF5 files unless told otherwise.
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "edgestream-sim-data"

@dataclass
class SimBeamline:
    """All simulated hardware of one beamline (XAS and an EELS spectrometer).

    The XAS stage holds the Cu K samples (FEFF9) and those of ``FEFF10_ELEMENTS`` (Fe K);
    the latter draw from their own generator, none from the Cu runs'.
    """

    beam: PhotonBeam
    dcm_energy: EnergyAxis  # in eV
    dcm_energy_kev: EnergyAxis  # the same monochromator, reporting keV
    xas_stage: XasSampleStage
    ic: IonChambers
    qexafs: QexafsDetector
    eels_stage: EelsSpecimenStage
    eels: EelsDetector  # single spectra, energy-loss axis array included
    eels_si: EelsDetector  # spectrum-image rows
    fl_chambers: IonChambers  # I0 only: the fluorescence station's chamber
    fluor: FluorescenceDetector  # 4-element SDD writing HDF5 (stream_resource/stream_datum)

    @classmethod
    def build(
        cls,
        seed: int = 0,
        *,
        delay_s: float = 0.0,
        fly_points: int = 1200,
        si_pixels: int = 32,
        shift_ev: float = FEFF9_ENERGY_SHIFT_EV,
        data_dir: str | Path | None = None,
        published_root: str | None = None,
    ) -> SimBeamline:
        rng = np.random.default_rng(seed)
        beam = PhotonBeam()
        others = [ref for el in FEFF10_ELEMENTS for ref in load_feff10_fixture(el)]
        rngs = {el: np.random.default_rng([seed, 2, i]) for i, el in enumerate(FEFF10_ELEMENTS)}
        stage = XasSampleStage(library=[*load_fixture(), *others], rng=rng, shift_ev=shift_ev,
                               rngs=rngs)
        # Mn specimens draw from their own generator: the Cu runs' draws stay as they were
        eels_stage = EelsSpecimenStage(rng=rng, rngs={"Mn": np.random.default_rng([seed, 3, 0])})
        fl_chambers = IonChambers(name="fl_ic", stage=stage, beam=beam, delay_s=delay_s,
                                  channels=("I0",))
        fluor = FluorescenceDetector(chambers=fl_chambers, beam=beam,
                                     data_dir=data_dir or DEFAULT_DATA_DIR,
                                     published_root=published_root,
                                     rng=np.random.default_rng(seed + 1), delay_s=delay_s)
        return cls(
            beam=beam,
            dcm_energy=EnergyAxis(beam=beam, egu="eV"),
            dcm_energy_kev=EnergyAxis(beam=beam, egu="keV"),
            xas_stage=stage,
            ic=IonChambers(stage=stage, beam=beam, delay_s=delay_s),
            qexafs=QexafsDetector(stage=stage, beam=beam, n_points=fly_points, delay_s=delay_s),
            eels_stage=eels_stage,
            eels=EelsDetector(stage=eels_stage, include_axis=True, delay_s=delay_s),
            eels_si=EelsDetector(stage=eels_stage, n_pixels=si_pixels, delay_s=delay_s),
            fl_chambers=fl_chambers,
            fluor=fluor,
        )

    @property
    def materials(self) -> list[str]:
        """The Cu K samples (FEFF9 fixture order)."""
        return [k for k, ref in self.xas_stage.library.items() if ref.element == "Cu"]

    @property
    def other_materials(self) -> list[str]:
        """The samples of other elements (FEFF10 fixtures' order)."""
        return [k for k, ref in self.xas_stage.library.items() if ref.element != "Cu"]


@dataclass
class BeamlineSummary:
    """What ``run_beamline`` did: runs per kind, documents emitted and published."""

    runs: dict[str, int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)  # emitted by the RunEngine
    published: dict[str, Any] = field(default_factory=dict)  # PublisherStats.as_dict()
    run_uids: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    topic: str | None = None
    eels_spectra: int = 0  # spectra the EELS detectors emitted (pixels of SI rows each)
    eels_seconds: float = 0.0  # wall time inside EELS runs

    def as_dict(self) -> dict[str, Any]:
        return {
            "eels_spectra": self.eels_spectra,
            "eels_seconds": round(self.eels_seconds, 3),
            "runs": self.runs,
            "documents": self.documents,
            "published": self.published,
            "run_uids": self.run_uids,
            "elapsed_s": self.elapsed_s,
            "topic": self.topic,
        }


def _safe(callback: DocumentCallback) -> DocumentCallback:
    def wrapped(name: str, doc: dict[str, Any]) -> None:
        try:
            callback(name, doc)
        except Exception:
            log.exception("on_document callback failed on %s", name)

    return wrapped


def run_beamline(
    bootstrap_servers: str | list[str] | None,
    beamline: str = "sim",
    n_step: int | None = None,
    n_fly: int | None = None,
    n_eels: int | None = None,
    duration: float | None = None,
    seed: int = 0,
    on_document: DocumentCallback | None = None,
    *,
    producer_config: dict[str, Any] | None = None,
    producer: ProducerLike | None = None,
    event_pages: bool = True,
    point_delay_s: float = 0.0,
    stop_event: threading.Event | None = None,
    shift_ev: float = FEFF9_ENERGY_SHIFT_EV,
    si_pixels: int = 32,
    si_rows: int | None = None,
    n_fluor: int | None = 0,
    data_dir: str | Path | None = None,
    published_root: str | None = None,
    n_other_k: int | None = 0,
    eels_elements: tuple[str, ...] = EELS_ELEMENTS,
) -> BeamlineSummary:
    """Run step, fly and EELS runs until the counts are reached or ``duration`` (s) elapsed.

    K-edge runs of samples of other elements (``other_k``: Fe, step and fly scans in turn,
    their element in the start document, their own random generator) take part only when
    asked: ``n_other_k`` runs, or None for no limit within ``duration``.
    Fluorescence runs (HDF5 external data, ``stream_resource``/``stream_datum``) take part
    only when asked: ``n_fluor`` runs, or None for no limit within ``duration``. Their files
    go to ``data_dir`` (default: ``DEFAULT_DATA_DIR``), named in the documents under
    ``published_root`` instead when given.

    Spectrum images are ``si_rows`` events (default: as many as other EELS runs, 4) of
    ``si_pixels`` spectra each. The EELS runs measure the L2,3 edges of ``eels_elements`` in
    turn (default Cu and Mn: a Cu map, a Mn map, then single spectra of each); ``("Cu",)``
    for Cu only. ``n_eels`` counts them all.

    A count of None means "no limit" when ``duration`` is given and the default
    (6 step, 3 fly, 3 EELS) otherwise. ``bootstrap_servers=None`` and no ``producer``
    publishes nothing (``on_document`` still sees every document). A run in progress
    always completes; ``stop_event`` ends the loop between runs.
    """
    counts = {"step": n_step, "fly": n_fly, "eels": n_eels}
    if duration is None:
        counts = {k: DEFAULT_COUNTS[k] if v is None else v for k, v in counts.items()}
    if n_fluor != 0:
        counts["fluor"] = n_fluor
    if n_other_k != 0:
        counts["other_k"] = n_other_k
    bl = SimBeamline.build(seed, delay_s=point_delay_s, shift_ev=shift_ev, si_pixels=si_pixels,
                           data_dir=data_dir, published_root=published_root)
    topic = topic_for(beamline)
    publisher = None
    if producer is not None or bootstrap_servers is not None:
        publisher = KafkaPublisher(
            bootstrap_servers, topic, producer_config, producer=producer, event_pages=event_pages
        )

    RE = RunEngine({}, context_managers=[])
    emitted: Counter[str] = Counter()
    summary = BeamlineSummary(topic=topic if publisher else None)
    starts: dict[str, dict[str, Any]] = {}

    def record(name: str, doc: dict[str, Any]) -> None:
        emitted[name] += 1
        if name == "start":
            starts[doc["uid"]] = {
                "scan_type": doc.get("scan_type"),
                "sample_truth": doc.get("sample_truth"),
            }

    RE.subscribe(record)
    if publisher is not None:
        RE.subscribe(publisher)
    if on_document is not None:
        RE.subscribe(_safe(on_document))

    t0 = time.monotonic()
    schedule = RunSchedule(bl, beamline, counts, si_rows=si_rows,
                           eels_elements=tuple(eels_elements))
    try:
        while not (stop_event is not None and stop_event.is_set()):
            if duration is not None and time.monotonic() - t0 >= duration:
                break
            kind = schedule.next_kind()
            if kind is None:
                break
            t_run = time.monotonic()
            for uid in RE(schedule.plan(kind)):
                summary.run_uids.append({"uid": uid, "kind": kind, **starts.get(uid, {})})
            if kind == "eels":
                summary.eels_seconds += time.monotonic() - t_run
    finally:
        if publisher is not None:
            publisher.close()
            summary.published = publisher.stats.as_dict()
    summary.runs = {k: schedule.done[k] for k in RUN_KINDS if k in counts}
    summary.eels_spectra = bl.eels.spectra_emitted + bl.eels_si.spectra_emitted
    summary.documents = dict(emitted)
    summary.elapsed_s = round(time.monotonic() - t0, 3)
    return summary


def eels_elements_arg(text: str) -> tuple[str, ...]:
    """``"Cu,Mn"`` -> ("Cu", "Mn"), each one the simulated microscope knows (argparse type)."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    known = EelsSpecimenStage.BY_ELEMENT
    if not names or set(names) - set(known):
        raise argparse.ArgumentTypeError(f"comma-separated, some of {', '.join(known)}: "
                                         f"{text!r}")
    return names


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Simulated XAS/EELS beamline publishing to Kafka.")
    p.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    p.add_argument(
        "--beamline", default="sim", help="topic: <beamline>.bluesky.runengine.documents"
    )
    p.add_argument("--duration", type=float, default=None, help="seconds; default: run counts")
    p.add_argument("--n-step", type=int, default=None)
    p.add_argument("--n-fly", type=int, default=None)
    p.add_argument("--n-eels", type=int, default=None)
    p.add_argument("--n-other-k", type=int, default=0,
                   help="K-edge runs of other elements than Cu (Fe); -1: no limit")
    p.add_argument("--eels-elements", type=eels_elements_arg, default=EELS_ELEMENTS,
                   help="L2,3 edges the EELS runs measure in turn, comma-separated "
                   f"(default {','.join(EELS_ELEMENTS)}; Cu: Cu only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--point-delay", type=float, default=0.0, help="simulated dwell per trigger, s")
    p.add_argument("--no-event-pages", action="store_true", help="send fly/EELS as events")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    summary = run_beamline(
        args.bootstrap,
        args.beamline,
        args.n_step,
        args.n_fly,
        args.n_eels,
        duration=args.duration,
        seed=args.seed,
        event_pages=not args.no_event_pages,
        point_delay_s=args.point_delay,
        n_other_k=None if args.n_other_k < 0 else args.n_other_k,
        eels_elements=args.eels_elements,
    )
    print(json.dumps(summary.as_dict(), indent=2))


if __name__ == "__main__":
    main()
