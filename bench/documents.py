"""Realistic Bluesky documents for the benchmark, made fast without a RunEngine.

Three kinds of run, with the data keys, units and configuration of the simulated beamline
(``edgestream_sim``):

- step scans: one event per energy point (``dcm_energy``, ``I0``, ``It``, ``If``, ``Ir``),
  one spectrum per run, finished at the stop document;
- fly/QEXAFS scans: one array event per sweep (``qexafs_energy``, ``qexafs_I0``, ...),
  alternately ascending and descending; every other run sends its sweeps as ``event_page``;
- EELS spectrum-image rows: one ``[n_pixels, n_channels]`` uint32 array per event
  (``eels_spectrum``), the energy-loss axis given by ``eels_offset``/``eels_dispersion`` in the
  descriptor's configuration; every pixel is a spectrum.

Counts come from ``XasSimulator`` (FEFF9 Cu K-edge references) and ``EelsSimulator`` (Cu
L2,3 models) with Poisson noise. A pool of distinct measurements is simulated once and reused
across runs; every run still gets its own uids, sequence numbers and times. event-model
validates each run's first event against its schema (all of them would only slow the set-up).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from event_model import compose_run, pack_event_page

from edgestream.documents.wire import encode
from edgestream_sim.spectra import (
    SCAN_RANGE_EV,
    EelsAxis,
    EelsSimulator,
    Segment,
    XasConditions,
    XasSimulator,
    fly_energy_axis,
    layered_fractions,
    load_fixture,
)

Document = tuple[str, dict[str, Any]]
KINDS = ("step", "fly", "eels")
POOL_SIZE = 8  # distinct simulated measurements per kind
FLY_GAIN = 200.0  # QexafsDetector.GAIN: fly scans run at higher flux than step scans
EELS_LAYERS = (("Cu", 0.0), ("Cu2O", 0.35), ("CuO", 0.7))  # layer, where it starts (fraction)


@dataclass(frozen=True)
class Workload:
    """How many runs of each kind, and how big each measurement is."""

    step_runs: int = 20
    step_points: int = 160  # ~ the simulated beamline's step scan (pre-edge, XANES, k-space)
    fly_runs: int = 12
    fly_sweeps: int = 40
    fly_points: int = 1200  # the simulated QEXAFS detector's default
    fly_page: int = 5  # sweeps per event_page, in every other fly run
    eels_runs: int = 4
    eels_rows: int = 16
    eels_pixels: int = 32
    eels_channels: int = 1024

    @classmethod
    def quick(cls) -> Workload:
        return cls(step_runs=6, fly_runs=4, fly_sweeps=30, eels_runs=1)

    @classmethod
    def tiny(cls) -> Workload:
        """For the smoke test: a handful of spectra of each kind."""
        return cls(step_runs=1, step_points=40, fly_runs=2, fly_sweeps=3, fly_points=300,
                   fly_page=2, eels_runs=1, eels_rows=2, eels_pixels=4)

    def warmup(self) -> Workload:
        """One short run of each kind (the fly runs: one with events, one with a page)."""
        return replace(self, step_runs=1, fly_runs=2, fly_sweeps=max(2, self.fly_page),
                       eels_runs=1, eels_rows=2)

    def only(self, kind: str) -> Workload:
        """The runs of one kind only."""
        return replace(self, **{f"{k}_runs": 0 for k in KINDS if k != kind})

    def scaled(self, spectra: float) -> Workload:
        """About ``spectra`` spectra in the same mix (at least one run of each kind)."""
        f = spectra / max(1, sum(self.spectra().values()))
        return replace(self, **{f"{k}_runs": max(1, round(getattr(self, f"{k}_runs") * f))
                                for k in KINDS})

    def spectra(self) -> dict[str, int]:
        """Spectra (= annotations) per kind."""
        return {"step": self.step_runs, "fly": self.fly_runs * self.fly_sweeps,
                "eels": self.eels_runs * self.eels_rows * self.eels_pixels}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"spectra": self.spectra()}


@dataclass(frozen=True)
class Run:
    """One run's documents and how many spectra (annotations) it should produce."""

    kind: str
    docs: list[Document]
    spectra: int

    @property
    def uid(self) -> str:
        return str(self.docs[0][1]["uid"])

    def weights(self) -> list[float]:
        """Spectra each document carries (a step-scan point: 1/n of the run's one spectrum);
        the paced publisher spaces documents by these."""
        events = [len(d["seq_num"]) if n == "event_page" else int(n == "event")
                  for n, d in self.docs]
        total = max(1, sum(events))
        return [e * self.spectra / total for e in events]


class DataPool:
    """Simulated measurements, made once per benchmark and shared by all runs."""

    def __init__(self, workload: Workload, seed: int = 0) -> None:
        self.w = workload
        rng = np.random.default_rng(seed)
        refs = load_fixture()
        picks = rng.choice(len(refs), size=POOL_SIZE, replace=len(refs) < POOL_SIZE)
        self.truth = [refs[i].truth() for i in picks]
        sims = [XasSimulator(refs[i], XasConditions.draw(rng), rng) for i in picks]
        lo, hi = SCAN_RANGE_EV
        self.step_energy = _step_energies(workload.step_points)
        self.step = [s.measure(self.step_energy, np.arange(self.step_energy.size), 1.0)
                     for s in sims]
        self.fly: list[dict[str, np.ndarray]] = []
        n = workload.fly_points
        for j, s in enumerate(sims):
            energy = fly_energy_axis(lo, hi, n, descending=j % 2 == 1)
            counts = s.measure(energy, np.linspace(0.0, 1.0, n), FLY_GAIN / n)
            self.fly.append({"energy": energy} | {k: counts[k] for k in ("I0", "It", "If")})
        self.eels_axis = EelsAxis(n_channels=workload.eels_channels)
        px = workload.eels_pixels
        bounds = [round(f * px) for _, f in EELS_LAYERS] + [px]
        segments = [Segment(c, bounds[i], bounds[i + 1] - 1) for i, (c, _) in
                    enumerate(EELS_LAYERS) if bounds[i + 1] > bounds[i]]
        fractions = layered_fractions(segments, px)
        self.eels = [EelsSimulator(self.eels_axis, rng, edge_jump=float(rng.uniform(0.25, 0.6)))
                     .row(fractions) for _ in range(POOL_SIZE)]


def _step_energies(n: int) -> np.ndarray:
    """The simulated beamline's step-scan energies, thinned or padded to ``n`` points."""
    from edgestream_sim.plans import step_energies_ev

    e = step_energies_ev()
    return e if e.size == n else np.interp(np.linspace(0, e.size - 1, n), np.arange(e.size), e)


def _start_md(kind: str, i: int, pool: DataPool) -> dict[str, Any]:
    eels = kind == "eels"
    return {
        "beamline_id": "bench", "simulated": True, "scan_type": kind, "scan_id": i,
        "modality": "eels" if eels else "xas_transmission",
        "element": "Cu", "edge": "L2,3" if eels else "K",
        "sample": "Cu|Cu2O|CuO lamella" if eels else f"{pool.truth[i % POOL_SIZE]['compound']}",
        "sample_truth": {} if eels else pool.truth[i % POOL_SIZE],
    }


def step_run(i: int, pool: DataPool, w: Workload) -> Run:
    """A step scan: one event per point (hinted ``dcm_energy``), one spectrum at stop."""
    bundle = compose_run(metadata=_start_md("step", i, pool) | {
        "plan_name": "list_scan", "hints": {"dimensions": [(["dcm_energy"], "primary")]}})
    num = {"dtype": "number", "shape": []}
    keys = {"dcm_energy": {"source": "SIM:dcm", "units": "eV", **num}} | {
        k: {"source": f"SIM:{k}", "units": "counts", **num} for k in ("I0", "It", "If", "Ir")}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    docs: list[Document] = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    counts = pool.step[i % POOL_SIZE]
    now = time.time()
    for j, e in enumerate(pool.step_energy):
        data = {"dcm_energy": float(e)} | {k: float(counts[k][j]) for k in ("I0", "It", "If",
                                                                              "Ir")}
        docs.append(("event", dict(desc.compose_event(
            data=data, timestamps=dict.fromkeys(data, now), seq_num=j + 1, time=now,
            validate=j == 0))))
    docs.append(("stop", dict(bundle.compose_stop())))
    return Run("step", docs, 1)


def fly_run(i: int, pool: DataPool, w: Workload) -> Run:
    """A QEXAFS run: one array event per sweep; odd runs send pages of ``fly_page`` sweeps."""
    bundle = compose_run(metadata=_start_md("fly", i, pool) | {
        "plan_name": "count", "hints": {"dimensions": [(["qexafs_energy"], "primary")]}})
    arr = {"dtype": "array", "shape": [w.fly_points], "dims": ["point"]}
    keys = {"qexafs_energy": {"source": "SIM:qexafs", "units": "eV", **arr}} | {
        f"qexafs_{k}": {"source": "SIM:qexafs", "units": "counts", **arr}
        for k in ("I0", "It", "If")}
    config = {"qexafs": {
        "data": {"qexafs_energy_start": SCAN_RANGE_EV[0], "qexafs_energy_stop": SCAN_RANGE_EV[1],
                 "qexafs_sweep_time": 1.0, "qexafs_n_points": w.fly_points},
        "timestamps": {}, "data_keys": {}}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys, configuration=config,
                                     object_keys={"qexafs": list(keys)})
    docs: list[Document] = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    events = []
    now = time.time()
    for j in range(w.fly_sweeps):
        sweep = pool.fly[(i + j) % POOL_SIZE]
        data = {f"qexafs_{k}": v for k, v in sweep.items()}
        events.append(dict(desc.compose_event(data=data, timestamps=dict.fromkeys(data, now),
                                              seq_num=j + 1, time=now, validate=j == 0)))
    if i % 2 and w.fly_page > 1:
        for k in range(0, len(events), w.fly_page):
            docs.append(("event_page", dict(pack_event_page(*events[k:k + w.fly_page]))))
    else:
        docs += [("event", e) for e in events]
    docs.append(("stop", dict(bundle.compose_stop())))
    return Run("fly", docs, w.fly_sweeps)


def eels_run(i: int, pool: DataPool, w: Workload) -> Run:
    """EELS spectrum-image rows: one [n_pixels, n_channels] event per row."""
    axis = pool.eels_axis
    bundle = compose_run(metadata=_start_md("eels", i, pool) | {"plan_name": "count"})
    keys = {"eels_spectrum": {"source": "SIM:eels", "dtype": "array", "units": "counts",
                              "shape": [w.eels_pixels, w.eels_channels],
                              "dims": ["pixel", "channel"]},
            "eels_row": {"source": "SIM:eels", "dtype": "integer", "shape": []}}
    config = {"eels": {
        "data": {"eels_offset": axis.offset, "eels_dispersion": axis.dispersion,
                 "beam_energy": 200.0, "eels_exposure": 0.5},
        "timestamps": {}, "data_keys": {
            "eels_offset": {"source": "SIM:eels", "dtype": "number", "shape": [], "units": "eV"},
            "eels_dispersion": {"source": "SIM:eels", "dtype": "number", "shape": [],
                                "units": "eV/channel"}}}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys, configuration=config,
                                     object_keys={"eels": list(keys)})
    docs: list[Document] = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    now = time.time()
    for j in range(w.eels_rows):
        data = {"eels_spectrum": pool.eels[(i + j) % POOL_SIZE], "eels_row": j}
        docs.append(("event", dict(desc.compose_event(
            data=data, timestamps=dict.fromkeys(data, now), seq_num=j + 1, time=now,
            validate=j == 0))))
    docs.append(("stop", dict(bundle.compose_stop())))
    return Run("eels", docs, w.eels_rows * w.eels_pixels)


def make_runs(workload: Workload, pool: DataPool) -> list[Run]:
    """All runs of a workload, kinds interleaved as concurrent beamline activity would be.

    Run sizes (points, sweeps, pixels, channels) must be those the pool was made for."""
    makers = {"step": step_run, "fly": fly_run, "eels": eels_run}
    queues = {k: [make(i, pool, workload) for i in range(getattr(workload, f"{k}_runs"))]
              for k, make in makers.items()}
    runs: list[Run] = []
    while any(queues.values()):
        for kind in KINDS:
            if queues[kind]:
                runs.append(queues[kind].pop(0))
    return runs


def encoded(runs: list[Run]) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every document in order, keyed by the run's start uid."""
    for run in runs:
        key = run.uid.encode()
        for name, doc in run.docs:
            yield key, encode(name, doc)


def restamp(name: str, doc: dict[str, Any], now: float) -> dict[str, Any]:
    """The document with its event time(s) set to ``now`` (the paced publisher's send time)."""
    if name == "event":
        return doc | {"time": now, "timestamps": dict.fromkeys(doc["timestamps"], now)}
    if name == "event_page":
        n = len(doc["seq_num"])
        return doc | {"time": [now] * n,
                      "timestamps": {k: [now] * n for k in doc["timestamps"]}}
    return doc
