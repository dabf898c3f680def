"""What the live page shows, kept small and bounded; changes fan out to subscribers.

``LiveState`` takes annotations (``on_annotation``), raw spectra (``on_raw``, from
``TappedPipeline``) and agent reports (``on_agent``), and reads health from the service's
``Metrics``. The series holds the last ``max_series`` spectra, each with its run, so the
current run stands out among the ones before it. Each change becomes an event
(``spectrum``, ``series``, ``eels_map``, ``agent``, ``health``) for the server-sent-event
stream; ``snapshot`` is the whole state for a page that just connected.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import numpy as np

from edgestream.apps.quantity import QuantitySpec
from edgestream.documents.spectrum import RawSpectrum
from edgestream.metrics import Metrics
from edgestream.pipeline import Outcome, Pipeline
from edgestream.publish import compact
from edgestream.publish.annotation import annotation_id
from edgestream.publish.eelsmap import is_l_valence, value_range

MAX_POINTS = 600  # a raw spectrum is thinned to this many points for the page


def _thin(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    step = max(1, math.ceil(len(x) / n))
    return [round(float(v), 4) for v in x[::step]], [round(float(v), 6) for v in y[::step]]


class TappedPipeline(Pipeline):
    """The pipeline, also handing each spectrum's measured μ(E) (or counts) to ``on_raw``."""

    def __init__(self, *args: Any, on_raw: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_raw = on_raw

    def annotate(self, spectra: list[RawSpectrum]) -> Outcome:
        out = super().annotate(spectra)
        if self.on_raw is not None and out.annotations:
            by_id = {annotation_id(s.ids): s for s in spectra}
            for a in out.annotations:  # a compact block: each of its spectra
                for aid in (compact.annotation_ids(a) if compact.is_block(a)
                            else [a["annotation_id"]]):
                    s = by_id.get(aid)
                    if s is not None:
                        self.on_raw(aid, s.energy, s.signal)
        return out


class LiveState:
    """Bounded live view of the stream; thread-safe; ``subscribe`` for events."""

    def __init__(self, metrics: Metrics | None = None, valence: QuantitySpec | None = None,
                 motif: str = "motif", max_series: int = 500, max_raw: int = 64) -> None:
        self.metrics = metrics
        self.valence = valence or QuantitySpec()
        # EELS maps show the L2,3 valence of whichever plugin of that family annotated the
        # run (cu_l_valence, mn_l_valence, ...: eelsmap.is_l_valence; out-of-distribution
        # pixels stay blank), else the series' quantity
        self._eels_specs: dict[str, QuantitySpec] = {}
        self.motif = motif
        self.max_series = max_series
        self._raw: OrderedDict[str, dict[str, list[float]]] = OrderedDict()
        self._max_raw = max_raw
        self.latest: dict[str, Any] | None = None
        self.series: dict[str, Any] = {"run_uid": None, "points": []}
        self.eels: dict[str, Any] | None = None
        self.agent: dict[str, Any] | None = None
        self.count = 0
        self._arrivals: deque[float] = deque(maxlen=5000)
        self._throughput: deque[tuple[float, float]] = deque(maxlen=300)
        self._subscribers: list[queue.Queue[tuple[str, Any]]] = []
        self._lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------
    def on_raw(self, aid: str, energy: np.ndarray, signal: np.ndarray) -> None:
        x, y = _thin(np.asarray(energy, float), np.asarray(signal, float))
        with self._lock:
            self._raw[aid] = {"energy": x, "signal": y}
            while len(self._raw) > self._max_raw:
                self._raw.popitem(last=False)

    def on_annotation(self, a: dict[str, Any]) -> None:
        now = time.time()
        view = self._spectrum_view(a)
        point = self._series_point(a, now)
        with self._lock:
            view["raw"] = self._raw.get(a["annotation_id"])
            self.count += 1
            self._arrivals.append(now)
            self.latest = view
            self.series["run_uid"] = a["ids"]["run_uid"]
            self.series["sample"] = a.get("sample")
            self.series["points"].append(point)
            del self.series["points"][:-self.max_series]
            eels = self._eels_update(a)
        self._publish("spectrum", view)
        self._publish("series", {"run_uid": a["ids"]["run_uid"], "sample": a.get("sample"),
                                 "point": point})
        if eels is not None:
            self._publish("eels_map", eels)

    def on_agent(self, report: dict[str, Any]) -> None:
        with self._lock:
            self.agent = report
        self._publish("agent", report)

    # -- derived views --------------------------------------------------------------------
    def _spectrum_view(self, a: dict[str, Any]) -> dict[str, Any]:
        g = a["spectrum"]["grid"]
        calibration = a.get("energy_calibration") or {}
        return {
            "annotation_id": a["annotation_id"], "run_uid": a["ids"]["run_uid"],
            "seq_range": a["ids"]["seq_range"], "index_in_event": a["ids"]["index_in_event"],
            "sample": a.get("sample"), "beamline": a.get("beamline"),
            "element": a["element"], "edge": a["edge"], "modality": a["modality"],
            "kind": a["kind"], "e0": a["e0"], "edge_step": a["edge_step"],
            # the raw view is on the measured axis: the page adds the shift to meet e0
            "calibration": {"shift_ev": calibration.get("shift_ev", 0.0),
                            "source": calibration.get("source", "none")},
            "grid": [g["start"], g["stop"], g["step"]], "norm": a["spectrum"]["norm"] or [],
            "features": a["edge_features"],
            "predictions": [{"plugin": p["plugin"], "version": p["version"],
                             "outputs": {k: v for k, v in p["outputs"].items()
                                         if not isinstance(v, list | dict)}}
                            for p in a["predictions"]],
        }

    def _series_point(self, a: dict[str, Any], now: float) -> dict[str, Any]:
        q = self.valence.extract(a)
        motif = next((p["outputs"] for p in a["predictions"] if p["plugin"] == self.motif),
                     None)
        return {"t": now, "run": a["ids"]["run_uid"], "seq": a["ids"]["seq_range"][1],
                "px": a["ids"]["index_in_event"],
                "value": None if q is None else q.value,
                "sigma": None if q is None else q.sigma,
                "source": None if q is None else q.source,
                "motif": None if motif is None else motif.get("value"),
                "motif_p": None if motif is None else motif.get("probability")}

    def _eels_valence(self, a: dict[str, Any]) -> QuantitySpec | None:
        """The quantity of the first L2,3 valence plugin among ``a``'s predictions."""
        name = next((p["plugin"] for p in a["predictions"] if is_l_valence(p["plugin"])), None)
        if name is None:
            return None
        if name not in self._eels_specs:
            self._eels_specs[name] = QuantitySpec(name, "value", "uncertainty", ())
        return self._eels_specs[name]

    def _eels_update(self, a: dict[str, Any]) -> dict[str, Any] | None:
        """Spectrum-image rows: one map cell per (event, pixel) of the latest such run; the
        map says its element and the colour range of its plugin's value (Cu 0..3, Mn 2..4;
        None for a quantity without one)."""
        if a["modality"] != "eels":
            return None
        spec = self._eels_valence(a)
        q = (spec.extract(a) if spec is not None else None) or self.valence.extract(a)
        if q is None:
            return None
        run = a["ids"]["run_uid"]
        if self.eels is None or self.eels["run_uid"] != run:
            plugin = q.source.rpartition(".")[0]
            vrange = value_range(plugin) if is_l_valence(plugin) else None
            self.eels = {"run_uid": run, "sample": a.get("sample"), "source": q.source,
                         "element": a.get("element"),
                         "range": None if vrange is None else list(vrange), "cells": {}}
        if q.source != self.eels["source"]:
            return None  # one quantity per map: a pixel without it stays blank
        row, px = a["ids"]["seq_range"][1], a["ids"]["index_in_event"]
        self.eels["cells"][f"{row},{px}"] = q.value
        return {"run_uid": run, "sample": a.get("sample"), "source": q.source,
                "element": self.eels["element"], "range": self.eels["range"],
                "cell": [row, px, q.value]}

    def eels_map(self) -> dict[str, Any] | None:
        with self._lock:
            if self.eels is None:
                return None
            cells = [[*map(int, k.split(",")), v] for k, v in self.eels["cells"].items()]
            return {k: v for k, v in self.eels.items() if k != "cells"} | {"cells": cells}

    def health(self) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            recent = sum(1 for t in self._arrivals if now - t <= 10.0) / 10.0
            self._throughput.append((now, recent))
            tp = list(self._throughput)
        out: dict[str, Any] = {"t": now, "annotations": self.count, "spectra_per_s": recent,
                               "throughput": tp[-120:]}
        if self.metrics is not None:
            out |= _metric_totals(self.metrics)
        return out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = {"latest": self.latest, "series": dict(self.series), "agent": self.agent}
        return state | {"eels_map": self.eels_map(), "health": self.health()}

    # -- events ---------------------------------------------------------------------------
    def subscribe(self, maxsize: int = 256) -> queue.Queue[tuple[str, Any]]:
        q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=maxsize)
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[tuple[str, Any]]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    @property
    def n_subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _publish(self, event: str, data: Any) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for q in subs:  # a slow browser loses events, never the service
            with contextlib.suppress(queue.Full):
                q.put_nowait((event, data))


def _metric_totals(m: Metrics) -> dict[str, Any]:
    """Counter totals by label, read from the service's own registry."""
    out: dict[str, Any] = {"documents": 0.0, "spectra": 0.0, "errors": {}, "dead_letters": {},
                           "skipped": {}, "lag": 0.0, "queue_depth": 0.0, "latency_s": None}
    lat_sum = lat_count = 0.0
    for family in m.registry.collect():
        for s in family.samples:
            if s.name == "edgestream_documents_consumed_total":
                out["documents"] += s.value
            elif s.name == "edgestream_spectra_processed_total":
                out["spectra"] += s.value
            elif s.name == "edgestream_errors_total":
                out["errors"][s.labels["reason"]] = s.value
            elif s.name == "edgestream_dead_letters_total":
                out["dead_letters"][s.labels["reason"]] = s.value
            elif s.name == "edgestream_runs_skipped_total":  # runs with no spectrum, by reason
                out["skipped"][s.labels["reason"]] = s.value
            elif s.name == "edgestream_consumer_lag_messages":
                out["lag"] += s.value
            elif s.name == "edgestream_queue_depth_items":
                out["queue_depth"] += s.value
            elif s.name == "edgestream_end_to_end_latency_seconds_sum":
                lat_sum = s.value
            elif s.name == "edgestream_end_to_end_latency_seconds_count":
                lat_count = s.value
    if lat_count:
        out["latency_s"] = lat_sum / lat_count
    return out
