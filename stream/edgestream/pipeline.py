"""The core: documents in, annotations out. The Kafka loop, the callback and files share it."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgestream.config.settings import Settings
from edgestream.documents.external import ExternalFiller, Item
from edgestream.documents.runs import RunRouter, Skip
from edgestream.documents.spectrum import RawSpectrum
from edgestream.errors import (
    BadReference,
    MalformedDocument,
    PluginFailure,
    StreamError,
    TooFewPoints,
    internal_error,
)
from edgestream.metrics import Metrics
from edgestream.normalize import annotation_grid, batch_of, main_edge, normalize_spectra
from edgestream.physics import edge_energy, identify_edge
from edgestream.physics.calibration import reference_calibration, reference_edges
from edgestream.plugin.api import SpectrumModel
from edgestream.publish import annotation as ann

log = logging.getLogger(__name__)
# Skips kept until a door drains them (each is also counted and logged when it happens)
MAX_KEPT_SKIPS = 100
# Run uids remembered so that a run replayed after a rewind is not counted as skipped twice
MAX_REMEMBERED_SKIPS = 10_000


@dataclass
class Failure:
    """A document or spectrum that could not be processed, with what is known about it."""

    error: StreamError
    run_uid: str | None = None
    document_name: str | None = None


@dataclass
class Outcome:
    # JSON annotations (one spectrum each) and compact blocks (publish.compact: several)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    # runs that ended with no spectrum and nothing wrong (counted and logged, not dead letters)
    skips: list[Skip] = field(default_factory=list)


class Pipeline:
    """Assemble → normalize → plugins → annotation, for any door."""

    def __init__(
        self,
        settings: Settings,
        models: Iterable[SpectrumModel] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.models = list(models)
        self.metrics = metrics or Metrics()
        # External detector data (HDF5) is read in front of the router: it sees values
        self.filler = ExternalFiller(settings.data_roots, settings.external_data_timeout_s)
        self._deferred: list[Failure] = []  # errors of held documents, out with expire()
        self.router = RunRouter(mapping_for=self._mapping_for, beamline=settings.beamline)
        self.skips: list[Skip] = []  # drained into Outcomes by __call__ and expire
        self._skipped_runs: OrderedDict[str, None] = OrderedDict()  # counted once each
        self.grid = annotation_grid(settings.grid)
        for model in self.models:
            model.load()

    def _mapping_for(self, start: dict[str, Any]) -> dict[str, str] | None:
        return self.settings.channels.get(str(start.get("beamline_id", self.settings.beamline)))

    def ingest(self, name: str, doc: dict[str, Any]) -> list[RawSpectrum]:
        """Route one document; return the spectra it finished. Raises StreamError."""
        self.metrics.documents.labels(name).inc()
        items = self.filler(name, doc)
        if len(items) == 1 and items[0].doc is doc:  # the usual case: routed as it came
            spectra = self.router(name, doc)
        else:  # filled, or held documents released (their errors go out with expire())
            spectra = self._route(items, raise_current=True)
        self.metrics.open_runs.set(len(self.router.runs))
        self._note_skips()
        return spectra

    def _note_skips(self) -> None:
        """Count and log, once per run, the runs that ended without a spectrum."""
        for skip in self.router.skipped:
            if skip.run_uid in self._skipped_runs:  # replayed (Kafka rewind, redelivery)
                continue
            self._skipped_runs[skip.run_uid] = None
            if len(self._skipped_runs) > MAX_REMEMBERED_SKIPS:
                self._skipped_runs.popitem(last=False)
            self.metrics.skipped_runs.labels(skip.reason).inc()
            log.info("run %s skipped (%s%s): %s", skip.run_uid, skip.reason,
                     ", expired" if skip.partial else "", skip.detail)
            self.skips.append(skip)
        self.router.skipped.clear()
        del self.skips[:-MAX_KEPT_SKIPS]  # the Kafka door only reads the metric and the log

    def drain_skips(self) -> list[Skip]:
        """The skips noted since the last call."""
        self._note_skips()
        out, self.skips = self.skips, []
        return out

    def _route(self, items: list[Item], raise_current: bool = False) -> list[RawSpectrum]:
        """Route what the filler let through. An error of the document being ingested is
        raised (``raise_current``, after the rest is routed); others are deferred."""
        spectra: list[RawSpectrum] = []
        current: StreamError | None = None
        for item in items:
            try:
                if item.error is not None:
                    raise item.error
                if item.doc is not None and item.name is not None:
                    spectra += self.router(item.name, item.doc)
            except StreamError as exc:
                if item.name is None:  # the filler gave the run up: it ends here
                    self.router.forget(item.run_uid or "")
                if raise_current and item.current and current is None:
                    current = exc
                    continue
                self.metrics.errors.labels(exc.reason).inc()
                self._deferred.append(Failure(exc, item.run_uid, item.name))
        if current is not None:
            raise current
        return spectra

    def expire(self) -> Outcome:
        """Partial annotations for runs idle longer than ``run_timeout_s``; runs waiting
        for external data retried, or dead-lettered after ``external_data_timeout_s``."""
        out = Outcome()
        spectra: list[RawSpectrum] = self._route(self.filler.tick())
        out.failures, self._deferred = self._deferred, []
        for uid, finished in self.router.expire(self.settings.run_timeout_s,
                                                    self.settings.max_open_runs):
            log.warning("run %s expired without a stop; publishing partial annotations", uid)
            self.filler.forget(uid)
            if isinstance(finished, StreamError):
                self.metrics.errors.labels(finished.reason).inc()
                out.failures.append(Failure(finished, uid, "stop"))
            else:
                spectra.extend(finished)
        more = self.annotate(spectra)
        out.annotations += more.annotations
        out.failures += more.failures
        out.skips += self.drain_skips()
        return out

    def __call__(self, name: str, doc: dict[str, Any]) -> Outcome:
        """One document through the whole path (callback and file doors)."""
        try:
            spectra = self.ingest(name, doc)
        except StreamError as exc:
            self.metrics.errors.labels(exc.reason).inc()
            return Outcome(failures=[Failure(exc, _run_uid(name, doc), name)],
                           skips=self.drain_skips())
        if self.filler.held_runs or self._deferred:  # no tick in these doors: retry here
            spectra += self._route(self.filler.tick())
            deferred, self._deferred = self._deferred, []
            out = self.annotate(spectra)
            out.failures = deferred + out.failures
            out.skips = self.drain_skips()
            return out
        out = self.annotate(spectra)
        out.skips = self.drain_skips()
        return out

    def annotate(self, spectra: list[RawSpectrum]) -> Outcome:
        """Normalize and run plugins on a batch of spectra, grouped for vectorized work."""
        out = Outcome()
        if not spectra:
            return out
        t0 = time.perf_counter()
        self.metrics.batch_size.observe(len(spectra))
        ready: list[RawSpectrum] = []
        foils = self._locate_references(spectra)
        for i, s in enumerate(spectra):
            try:
                ready.append(self._prepare(s, foils.get(i)))
            except StreamError as exc:
                self._fail(out, exc, s)
            except Exception as exc:  # a bug costs this spectrum, never the batch
                log.exception("could not prepare a spectrum of run %s", s.ids.run_uid)
                self._fail(out, internal_error(exc), s)
        results = normalize_spectra(ready, self.grid)
        normalized = []
        for s, result in zip(ready, results, strict=True):
            if isinstance(result, StreamError):
                self._fail(out, result, s)
            else:
                try:
                    normalized.append((self._identify(s, result.e0), result))
                except StreamError as exc:
                    self._fail(out, exc, s)
        t1 = time.perf_counter()
        self.metrics.processing.labels("normalize").observe(t1 - t0)
        predictions = self._predict(normalized, out)
        elapsed = time.perf_counter() - t0
        per_spectrum = elapsed / max(1, len(normalized))
        as_json = self._blocks(normalized, predictions, per_spectrum, out)
        for i in as_json:
            (s, result), preds = normalized[i], predictions[i]
            try:
                out.annotations.append(ann.build(s, result, preds, per_spectrum,
                                                 self.settings.grid))
            except Exception as exc:  # a bug costs one annotation, never the batch
                log.exception("could not build the annotation of run %s", s.ids.run_uid)
                self._fail(out, internal_error(exc), s)
                continue
            self.metrics.spectra.labels(s.modality, s.element or "unknown").inc()
        return out

    def _blocks(self, items: list[tuple[RawSpectrum, Any]], predictions: list[list[dict]],
                processing_s: float, out: Outcome) -> list[int]:
        """Compact annotations (one per event and element/edge) of the spectra that the
        ``annotations.form`` setting sends compact, into ``out``; the indices of the rest,
        which go as JSON annotations."""
        form = self.settings.annotations.form
        if form == "json":
            return list(range(len(items)))
        events: dict[tuple, list[int]] = defaultdict(list)
        for i, (s, _) in enumerate(items):
            events[(s.ids.run_uid, s.ids.descriptor_uid, s.ids.stream_name, s.ids.seq_range,
                    s.modality, s.element, s.edge, s.element_source, s.partial)].append(i)
        as_json: list[int] = []
        for idx in events.values():
            s0 = items[idx[0]][0]
            # auto: spectrum-image rows (an EELS event with several spectra) go compact
            if form == "auto" and not (s0.modality == "eels" and (
                    len(idx) > 1 or s0.ids.index_in_event > 0)):
                as_json += idx
                continue
            try:
                out.annotations.append(ann.build_block(
                    [items[i][0] for i in idx], [items[i][1] for i in idx],
                    [predictions[i] for i in idx], processing_s, self.settings.grid))
            except Exception:  # a bug (or plugins that differ): these go as JSON instead
                log.exception("no compact annotation for %d spectra of run %s", len(idx),
                              s0.ids.run_uid)
                as_json += idx
                continue
            self.metrics.spectra.labels(s0.modality, s0.element or "unknown").inc(len(idx))
        return sorted(as_json)

    def _fail(self, out: Outcome, exc: StreamError, s: RawSpectrum) -> None:
        exc.context.setdefault("run_uid", s.ids.run_uid)
        exc.context.setdefault("seq_range", list(s.ids.seq_range))
        self.metrics.errors.labels(exc.reason).inc()
        out.failures.append(Failure(exc, s.ids.run_uid))

    def _uses_reference(self, s: RawSpectrum) -> bool:
        return (s.reference is not None and self.settings.align_on_reference
                and "energy_shift_ev" not in s.metadata)

    def _locate_references(self, spectra: list[RawSpectrum]) -> dict[int, Any]:
        """The reference foils' edges, located in batches of equal length (one ``pre_edge``
        per batch, as the samples): {spectrum index: (e0, step) or its error}."""
        groups: dict[int, list[int]] = defaultdict(list)
        for i, s in enumerate(spectra):
            if (self._uses_reference(s) and s.energy.size >= self.settings.min_points
                    and s.reference.shape == s.energy.shape):
                groups[s.energy.size].append(i)
        located: dict[int, Any] = {}
        for idx in groups.values():
            try:
                edges = reference_edges(np.stack([spectra[i].energy for i in idx]),
                                        np.stack([spectra[i].reference for i in idx]))
            except Exception:  # located one by one in _prepare, where a bug costs one spectrum
                log.exception("could not locate %d reference edges at once", len(idx))
                continue
            located.update(zip(idx, edges, strict=True))
        return located

    def _prepare(self, s: RawSpectrum, foil: Any = None) -> RawSpectrum:
        if s.energy.size < self.settings.min_points:
            raise TooFewPoints(
                f"{s.energy.size} points, at least {self.settings.min_points} needed"
            )
        calibration = self._energy_calibration(s, foil)
        self.metrics.energy_calibrations.labels(calibration["source"]).inc()
        if calibration["shift_ev"]:
            s = replace(s, energy=s.energy + calibration["shift_ev"])
        return replace(s, metadata=s.metadata | {"_calibration": calibration})

    def _energy_calibration(self, s: RawSpectrum, foil: Any = None) -> dict[str, Any]:
        """The shift added to measured energies, and where it came from.

        An explicit shift in the run's metadata wins; then the scan's own reference foil
        (``foil``: its edge when already located with its batch); then the beamline's
        configured shift; else none.
        """
        if "energy_shift_ev" in s.metadata:
            return {"shift_ev": _energy_ev(s.metadata, "energy_shift_ev"), "source": "metadata"}
        note: dict[str, Any] = {}
        if self._uses_reference(s):
            try:
                cal = reference_calibration(
                    s.energy, s.reference, s.element, main_edge(s.edge) if s.edge else None,
                    reference_e0=self._reference_e0(s), located=foil,
                )
            except BadReference as exc:
                log.warning("run %s: reference foil not used: %s", s.ids.run_uid, exc.message)
                self.metrics.errors.labels(exc.reason).inc()
                note = {"reference_rejected": exc.message}
            else:
                return {"shift_ev": round(cal.shift_ev, 4), "source": "reference",
                        "reference": cal.as_dict()}
        beamline = self._beamline(s)
        if beamline in self.settings.energy_shift_ev:
            return {"shift_ev": float(self.settings.energy_shift_ev[beamline]),
                    "source": "settings", **note}
        return {"shift_ev": 0.0, "source": "none", **note}

    def _beamline(self, s: RawSpectrum) -> str:
        return str(s.metadata.get("beamline_id", self.settings.beamline))

    def _reference_e0(self, s: RawSpectrum) -> float | None:
        """Where the reference's edge belongs when it is not the element's foil."""
        if "reference_e0_ev" in s.metadata:
            return _energy_ev(s.metadata, "reference_e0_ev")
        return self.settings.reference_e0_ev.get(self._beamline(s))

    def _identify(self, s: RawSpectrum, e0: float) -> RawSpectrum:
        if s.element and s.edge:
            edge_energy(s.element, main_edge(s.edge))  # UnknownElement for "Xx" or edge "Q"
            return s
        element, edge, _ = identify_edge(e0)
        return replace(s, element=element, edge=edge, element_source="edge_energy")

    def _predict(self, items: list[tuple[RawSpectrum, Any]], out: Outcome) -> list[list[dict]]:
        preds: list[list[dict]] = [[] for _ in items]
        groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for i, (s, _) in enumerate(items):
            groups[(s.element or "", s.edge or "", s.modality)].append(i)
        for (element, edge, modality), idx in groups.items():
            models = [m for m in self.models if m.applies_to(element, edge, modality)]
            if not models:
                continue
            batch = batch_of([items[i][0] for i in idx], [items[i][1] for i in idx],
                             self.grid)
            for model in models:
                t0 = time.perf_counter()
                try:
                    outputs = model.predict(batch)
                    if len(outputs) != len(idx):
                        raise PluginFailure(f"{model.name} returned {len(outputs)} results "
                                            f"for {len(idx)} spectra")
                except Exception as exc:  # a plugin bug must not lose the annotation
                    err = exc if isinstance(exc, PluginFailure) else PluginFailure(
                        f"{model.name}: {type(exc).__name__}: {exc}", plugin=model.name)
                    log.error("plugin %s failed on %d spectra: %s", model.name, len(idx), exc)
                    self._fail(out, err, items[idx[0]][0])
                    continue
                self.metrics.inference.labels(model.name).observe(time.perf_counter() - t0)
                for i, o in zip(idx, outputs, strict=True):
                    preds[i].append({
                        "plugin": model.name,
                        "version": model.version,
                        "model_sha256": model.model_sha256,
                        "provider": model.provider,
                        "outputs": o,
                    })
        return preds


def _energy_ev(metadata: dict[str, Any], key: str) -> float:
    """A finite energy (eV) from the run's metadata; MalformedDocument otherwise."""
    try:
        value = float(metadata[key])
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise MalformedDocument(f"start document's {key} is not a finite number of eV",
                                **{key: repr(metadata[key])[:80]})
    return value


def _run_uid(name: str, doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    key = {"start": "uid", "stop": "run_start", "descriptor": "run_start"}.get(name)
    value = doc.get(key) if key else None
    return value if isinstance(value, str) else None
