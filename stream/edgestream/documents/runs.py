"""Route documents to per-run assemblers, keyed by start uid, in the spirit of event-model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from event_model import DocumentRouter, unpack_event_page

from edgestream.documents.assemble import ArrayAssembler, StepAssembler
from edgestream.documents.channels import ChannelMap, discover
from edgestream.documents.infer import FIXED_ENERGY_SPAN_EV
from edgestream.documents.pending import PendingStream, Skip, span
from edgestream.documents.shape import check_document
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.errors import (
    MalformedDocument,
    MissingChannel,
    StreamError,
    UnknownDescriptor,
    UnknownRun,
    internal_error,
)

__all__ = ["PendingStream", "RunAssembler", "RunRouter", "Skip", "eels_loss_axis",
           "element_and_edge"]

ChannelMapping = Callable[[Mapping[str, Any]], Mapping[str, str] | None]


def element_and_edge(start: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Element and edge from start metadata: ``element``/``edge`` or the XDI-style block."""
    element, edge = start.get("element"), start.get("edge")
    xdi = start.get("XDI")
    if isinstance(xdi, Mapping) and isinstance(xdi.get("Element"), Mapping):
        element = element or xdi["Element"].get("symbol")
        edge = edge or xdi["Element"].get("edge")
    element = element.strip().capitalize() if isinstance(element, str) and element else None
    edge = edge.strip().upper() if isinstance(edge, str) and edge else None
    return element, edge


def eels_loss_axis(
    start: Mapping[str, Any], descriptor: Mapping[str, Any], n_channels: int
) -> np.ndarray | None:
    """Energy-loss axis (eV) from offset + dispersion × channel, zero-loss corrected.

    Looks in the descriptor's device configuration for keys ending in ``offset`` and
    ``dispersion`` (eV, eV/channel), then in the start document (``eels_offset``,
    ``eels_dispersion``). Returns None when either is missing. A zero-loss peak position
    measured on the same nominal scale (a key ending in ``zero_loss``, or the start's
    ``eels_zero_loss_ev``: e.g. from the low-loss half of a dual-EELS acquisition) is
    subtracted, so the axis is loss relative to the measured zero loss.
    """
    found: dict[str, float] = {}
    names = ("offset", "dispersion", "zero_loss")
    for device in (descriptor.get("configuration") or {}).values():
        for key, value in ((device or {}).get("data") or {}).items():
            for name in names:
                if str(key).lower().endswith(name) and name not in found:
                    found[name] = _ev(value, f"descriptor configuration {key!r}")
    for name, start_key in zip(names, ("eels_offset", "eels_dispersion", "eels_zero_loss_ev"),
                               strict=True):
        if name not in found and start_key in start:
            found[name] = _ev(start[start_key], f"start document's {start_key}")
    if "offset" not in found or "dispersion" not in found or n_channels <= 0:
        return None
    axis = found["offset"] + found["dispersion"] * np.arange(n_channels, dtype=float)
    return axis - found.get("zero_loss", 0.0)


def _ev(value: Any, what: str) -> float:
    """A finite number (eV, eV/channel) from a user's document; MalformedDocument else."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number):
        raise MalformedDocument(f"{what} is not a finite number", value=repr(value)[:80])
    return number


class RunAssembler(DocumentRouter):
    """All the documents of one run; finished spectra collect in ``self.finished``."""

    def __init__(self, start: Mapping[str, Any], mapping: Mapping[str, str] | None,
                 beamline: str = "sim") -> None:
        super().__init__()
        self.start_doc = start
        self.mapping = mapping
        self.beamline = str(start.get("beamline_id") or beamline)
        self.streams: dict[str, StepAssembler | ArrayAssembler | PendingStream | None] = {}
        self.stream_names: dict[str, str] = {}
        self.finished: list[RawSpectrum] = []
        self.produced = 0  # spectra handed out so far (fly scans: one per event)
        self.skipped: Skip | None = None
        self.failed_streams = 0  # descriptors already dead-lettered: the run is explained
        self.last_seen = time.monotonic()

    def _base(self, descriptor: Mapping[str, Any], channels: ChannelMap | None = None
              ) -> RawSpectrum:
        element, edge = element_and_edge(self.start_doc)
        keep = ("beamline_id", "sample", "sample_name", "scan_id", "plan_name", "sample_truth",
                "energy_shift_ev", "reference_e0_ev", "composition")
        return RawSpectrum(
            ids=SpectrumIds(
                run_uid=self.start_doc["uid"],
                descriptor_uid=descriptor["uid"],
                stream_name=descriptor.get("name", "primary"),
                seq_range=(0, 0),
            ),
            modality="xas_mu",
            energy=np.empty(0),
            signal=np.empty(0),
            element=element,
            edge=edge,
            element_source="metadata" if element and edge else None,
            metadata={k: self.start_doc[k] for k in keep if k in self.start_doc},
            channels=None if channels is None else channels.describe(),
        )

    def _assembler(self, channels: ChannelMap, doc: Mapping[str, Any]
                   ) -> StepAssembler | ArrayAssembler:
        if not channels.is_array:
            return StepAssembler(channels, self._base(doc, channels))
        loss = None
        if channels.get("eels") and not channels.get("energy_loss"):
            shape = doc["data_keys"][channels.keys["eels"]].get("shape") or [0]
            loss = eels_loss_axis(self.start_doc, doc, int(shape[-1]))
        return ArrayAssembler(channels, self._base(doc, channels), loss)

    def descriptor(self, doc: dict[str, Any]) -> None:
        self.stream_names[doc["uid"]] = str(doc.get("name", "primary"))
        if doc.get("name") == "baseline":  # readings before and after: never a spectrum
            self.streams[doc["uid"]] = None
            return
        # a descriptor that fails (units that are not energy) is dead-lettered once; its
        # events are then ignored instead of each being an unknown_descriptor
        self.streams[doc["uid"]] = None
        self.failed_streams += 1  # until discovery returns
        found = discover(self.start_doc, doc, self.mapping)
        self.failed_streams -= 1
        if found.channels is not None:
            self.streams[doc["uid"]] = self._assembler(found.channels, doc)
        else:
            self.streams[doc["uid"]] = PendingStream(found, doc, self.mapping or {})

    def event(self, doc: dict[str, Any]) -> None:
        uid = doc.get("descriptor")
        if uid not in self.streams:
            raise UnknownDescriptor("event for a descriptor this run has not declared",
                                    descriptor=uid)
        assembler = self.streams[uid]
        if isinstance(assembler, ArrayAssembler):
            spectra = assembler.add_event(doc)
            self.produced += len(spectra)
            self.finished.extend(spectra)
        elif assembler is not None:
            assembler.add_event(doc)

    def event_page(self, doc: dict[str, Any]) -> None:
        for event in unpack_event_page(doc):
            self.event(event)

    def finish(self, partial: bool = False) -> list[RawSpectrum]:
        """Close the streams (at stop, or at expiry with ``partial``) and decide the run:
        its spectra; else MissingChannel for an energy scan whose channels are unknown;
        else a skip (``self.skipped``) with its reason."""
        spectra: list[RawSpectrum] = []
        missing: list[MissingChannel] = []
        notes: list[str] = []
        energy_scan = False
        for uid, assembler in self.streams.items():
            name = self.stream_names.get(uid, "?")
            if isinstance(assembler, PendingStream):
                channels = assembler.resolve()
                if channels is None:
                    energy_scan |= assembler.energy_like
                    if assembler.energy_like and assembler.events:
                        missing.append(assembler.missing(self.beamline))
                    notes.append(f"{name}: {assembler.why}")
                    continue
                pending, assembler = assembler, self._assembler(channels, assembler.descriptor)
                for event in pending.events:
                    if isinstance(assembler, ArrayAssembler):
                        spectra += assembler.add_event(event)
                    else:
                        assembler.add_event(event)
            if isinstance(assembler, StepAssembler):
                n_points = len(assembler.points)
                spectrum = assembler.finish(partial=partial)
                if spectrum is None:
                    energy_scan = True
                    notes.append(f"{name}: no events")
                elif (n_points >= 3 or self._over_time(name)) and spectrum.energy.size and \
                        np.ptp(spectrum.energy) < FIXED_ENERGY_SPAN_EV:
                    notes.append(f"{name}: energy did not move ({span(spectrum.energy)})")
                else:
                    spectra.append(spectrum)
            elif isinstance(assembler, ArrayAssembler):
                energy_scan = True
            elif assembler is None:
                notes.append(f"{name}: not a spectrum stream")
        spectra = [replace(s, partial=partial) if partial and not s.partial else s
                   for s in spectra]
        self.finished.extend(spectra)
        self.produced += len(spectra)
        if self.produced == 0 and not self.failed_streams:
            if missing:
                raise missing[0]
            reason = "no_events" if energy_scan else "not_spectroscopy"
            detail = "; ".join(notes) or "no event streams"
            self.skipped = Skip(self.start_doc["uid"], reason, detail, partial)
        return self.drain()

    def drain(self) -> list[RawSpectrum]:
        out, self.finished = self.finished, []
        return out

    def _over_time(self, stream: str) -> bool:
        """The start hints this stream's dimension as time: a count, not a scan."""
        dims = (self.start_doc.get("hints") or {}).get("dimensions") or []
        return any(isinstance(d, list | tuple) and len(d) == 2 and d[1] == stream
                   and list(d[0]) == ["time"] for d in dims)


@dataclass
class RunRouter:
    """Dispatch documents to a RunAssembler per start uid; drop the state at stop.

    Unlike event-model's RunRouter, a repeated start (Kafka redelivery) restarts the run,
    and documents of runs it never saw start raise a typed error instead of a KeyError.
    """

    mapping_for: ChannelMapping = lambda start: None
    runs: dict[str, RunAssembler] = field(default_factory=dict)
    descriptor_run: dict[str, str] = field(default_factory=dict)
    # the beamline named in a missing_channel's settings snippet when the start has none
    beamline: str = "sim"
    # runs that ended without a spectrum and without an error; the pipeline drains them
    skipped: list[Skip] = field(default_factory=list)

    def __call__(self, name: str, doc: dict[str, Any]) -> list[RawSpectrum]:
        handler = getattr(self, f"_{name}", None)
        if handler is None:  # resource/datum documents: external data is not read (yet)
            return []
        check_document(name, doc)  # the user's mistakes: malformed_document
        try:
            return handler(doc)
        except StreamError:
            raise
        except Exception as exc:  # the document was checked above: this is our bug
            raise internal_error(exc) from exc

    def _start(self, doc: dict[str, Any]) -> list[RawSpectrum]:
        uid = doc["uid"]
        self.forget(uid)
        self.runs[uid] = RunAssembler(doc, self.mapping_for(doc), self.beamline)
        return []

    def _run_of(self, uid: Any, what: str) -> RunAssembler:
        run = self.runs.get(uid) if isinstance(uid, str) else None
        if run is None:
            raise UnknownRun(f"{what} for a run whose start was not seen", run_start=uid)
        run.last_seen = time.monotonic()
        return run

    def _descriptor(self, doc: dict[str, Any]) -> list[RawSpectrum]:
        run = self._run_of(doc["run_start"], "descriptor")
        self.descriptor_run[doc["uid"]] = doc["run_start"]  # known even if it fails below
        run.descriptor(doc)
        return []

    def _event(self, doc: dict[str, Any], name: str = "event") -> list[RawSpectrum]:
        run_uid = self.descriptor_run.get(doc["descriptor"])
        if run_uid is None:
            raise UnknownDescriptor(f"{name} before (or without) its descriptor",
                                    descriptor=doc["descriptor"])
        run = self._run_of(run_uid, name)
        getattr(run, name)(doc)
        return run.drain()

    def _event_page(self, doc: dict[str, Any]) -> list[RawSpectrum]:
        return self._event(doc, "event_page")

    def _stop(self, doc: dict[str, Any]) -> list[RawSpectrum]:
        run = self._run_of(doc["run_start"], "stop")
        try:
            return run.finish()
        finally:
            self._note_skip(run)
            self.forget(doc["run_start"])

    def _note_skip(self, run: RunAssembler) -> None:
        if run.skipped is not None:
            self.skipped.append(run.skipped)
            run.skipped = None

    def forget(self, uid: str) -> None:
        run = self.runs.pop(uid, None)
        if run is not None:
            for desc in run.streams:
                self.descriptor_run.pop(desc, None)

    def expire(
        self, older_than_s: float, max_runs: int | None = None
    ) -> list[tuple[str, list[RawSpectrum] | StreamError]]:
        """Finish, with partial spectra, runs idle longer than ``older_than_s`` and, beyond
        ``max_runs`` open runs, the longest idle ones (a bound on memory)."""
        now = time.monotonic()
        by_idle = sorted(self.runs, key=lambda uid: self.runs[uid].last_seen)
        stale = [uid for uid in by_idle if now - self.runs[uid].last_seen > older_than_s]
        if max_runs is not None and len(self.runs) - len(stale) > max_runs:
            fresh = [uid for uid in by_idle if uid not in stale]
            stale += fresh[: len(self.runs) - len(stale) - max_runs]
        out: list[tuple[str, list[RawSpectrum] | StreamError]] = []
        for uid in stale:
            try:
                out.append((uid, self.runs[uid].finish(partial=True)))
            except StreamError as exc:
                out.append((uid, exc))
            finally:
                self._note_skip(self.runs[uid])
                self.forget(uid)
        return out
