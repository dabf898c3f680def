"""The filler: external detector data read from HDF5, in front of the run router.

Detectors that write files (area detectors, multi-element fluorescence detectors, EELS
cameras, PandA boxes) put references in the documents instead of values. This stage, in
the spirit of event-model's ``Filler`` (written here, not copied), takes ``resource``,
``datum``, ``datum_page`` (ophyd) and ``stream_resource``, ``stream_datum`` (ophyd-async, both
the ``spec``/``root``/``resource_path``/``resource_kwargs`` layout and the newer
``mimetype``/``uri``/``parameters`` one) and passes every other document on; events and
event pages leave it with the values read from the files, so the router and assemblers see
ordinary in-line data. Descriptors leave it rewritten to match: no ``external`` marks, and
each fluorescence detector replaced as below.

Paths go through ``data_roots`` (``{"/nsls2/data": "/mnt/nsls2"}``: the detector's prefix to
where it is mounted here). A file, dataset, frame or datum that is not there yet holds the
run's documents back, in order, without holding back any other run; they are retried on the
run's next document and on every ``tick``. After ``timeout_s`` without progress the run is
given up: :class:`~edgestream.errors.ExternalDataUnavailable` naming the path.

**Fluorescence convention** (what channel discovery sees). A multi-element fluorescence
detector (see :mod:`edgestream.documents.detectors`) comes out as ONE scalar data key per
event, the dead-time-corrected sum over elements of the counts in the ROI of the absorber's
emission line:

- a single key holding every element (``fluor``: ``[element, bin]``) keeps its name;
- per-element keys (``xs_channels_channel01``, ...) become ``<stem>_fluor`` (``xs_fluor``);
- the member keys and their ICR/OCR keys are removed from the descriptor and the events;
- the descriptor entry of the summed key says ``dtype: number``, ``shape: []`` and carries
  ``edgestream_fluorescence`` (sources, ROI, whether dead time was corrected): discovery may
  take any key carrying it as the fluorescence (``if``) channel.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from event_model import unpack_event_page

from edgestream.documents.assets import Assets
from edgestream.documents.detectors import FluorescenceGroup, find_fluorescence
from edgestream.documents.fluorescence import emission_line_ev
from edgestream.documents.hdf5 import Files, NotYetAvailable
from edgestream.documents.runs import element_and_edge
from edgestream.errors import (
    ExternalDataUnavailable,
    MalformedDocument,
    MissingChannel,
    StreamError,
    internal_error,
)

log = logging.getLogger(__name__)

Doc = tuple[str, dict[str, Any]]
ASSET_DOCUMENTS = ("resource", "datum", "datum_page", "stream_resource", "stream_datum")


@dataclass
class Item:
    """One output of the filler: a document to route, or an error of one of its documents."""

    run_uid: str | None
    name: str | None = None
    doc: dict[str, Any] | None = None
    error: StreamError | None = None
    current: bool = False  # made from the document of this call (not a held earlier one)


@dataclass
class _Plan:
    """How to fill the events of one descriptor."""

    descriptor: dict[str, Any]  # as passed on (rewritten)
    stream_keys: set[str]  # external "STREAM:" keys: values from stream_datum
    datum_keys: set[str]  # other external keys: the event holds a datum id
    groups: list[FluorescenceGroup]
    line_ev: float | None
    # every key is "STREAM:": a collect()-ed fly scan may send stream_datum and no events
    all_streamed: bool = False
    events_seen: bool = False


@dataclass
class _Run:
    uid: str
    start: dict[str, Any]
    plans: dict[str, _Plan] = field(default_factory=dict)
    descriptors: set[str] = field(default_factory=set)
    held: deque[Doc] = field(default_factory=deque)
    blocked_since: float | None = None
    last_try: float = 0.0
    waiting_for: NotYetAvailable | None = None
    unreadable: dict[str, StreamError] = field(default_factory=dict)  # data key -> why
    errors: list[StreamError] = field(default_factory=list)  # not yet passed on


class ExternalFiller:
    """Documents in, documents with external data filled in out (see the module docstring)."""

    def __init__(self, data_roots: Mapping[str, str] | None = None, timeout_s: float = 60.0,
                 retry_s: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.data_roots = dict(data_roots or {})
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.clock = clock
        self.runs: dict[str, _Run] = {}
        self.descriptor_run: dict[str, str] = {}
        self.assets = Assets()
        self.given_up: deque[str] = deque(maxlen=1000)
        self._latest_run: str | None = None

    @property
    def held_runs(self) -> int:
        return sum(1 for r in self.runs.values() if r.held)

    def holding(self, run_uid: str) -> bool:
        """Whether documents of this run are held back, waiting for their data."""
        run = self.runs.get(run_uid)
        return run is not None and bool(run.held)

    # -- documents in ------------------------------------------------------------------------
    def __call__(self, name: str, doc: dict[str, Any]) -> list[Item]:
        """One document; returns what can go on now (this run's held documents included)."""
        if not isinstance(doc, dict):  # the router says what is wrong with it
            return [Item(None, name, doc, current=True)]
        if name in ASSET_DOCUMENTS:
            try:
                self.assets.add(name, doc, self._latest_run)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise MalformedDocument(f"{name} document is malformed: {exc!r}") from None
            return []
        if name == "start":
            uid = doc.get("uid")
            if isinstance(uid, str):
                self.forget(uid)
                self.runs[uid] = _Run(uid, doc)
                self._latest_run = uid
            return [Item(uid if isinstance(uid, str) else None, name, doc, current=True)]
        run = self._run_of(name, doc)
        if run is None:
            uid = self._run_uid(name, doc)
            if uid is not None and uid in self.given_up:
                return []  # its dead letter is out already; the rest of it is moot
            return [Item(uid, name, doc, current=True)]
        if not run.held and name in ("event", "event_page"):  # the common case, made fast
            plan = run.plans.get(doc.get("descriptor"))  # type: ignore[arg-type]
            if plan is not None and not (plan.stream_keys or plan.datum_keys):
                plan.events_seen = True
                return [Item(run.uid, name, doc, current=True)]
        if name == "descriptor" and isinstance(doc.get("uid"), str):
            # known at once, so that its events are held behind it, not routed before it
            self.descriptor_run[doc["uid"]] = run.uid
            run.descriptors.add(doc["uid"])
        run.held.append((name, doc))
        return self._drain(run, doc)

    def tick(self) -> list[Item]:
        """Retry every held run; give up those held longer than ``timeout_s``."""
        out: list[Item] = []
        now = self.clock()
        for run in list(self.runs.values()):
            if not run.held or now - run.last_try < self.retry_s:
                continue
            out += self._drain(run)
            if run.held and run.blocked_since is not None \
                    and now - run.blocked_since > self.timeout_s:
                out.append(Item(run.uid, error=self._give_up(run, now)))
        return out

    def forget(self, uid: str) -> None:
        """Drop a run's state (its resources, datums and descriptors)."""
        run = self.runs.pop(uid, None)
        if run is None:
            return
        self.assets.forget(uid, run.descriptors)
        for desc in run.descriptors:
            self.descriptor_run.pop(desc, None)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _run_uid(self, name: str, doc: Mapping[str, Any]) -> str | None:
        if name in ("descriptor", "stop"):
            uid = doc.get("run_start")
        elif name in ("event", "event_page"):
            desc = doc.get("descriptor")
            uid = self.descriptor_run.get(desc) if isinstance(desc, str) else None
        else:
            uid = None
        return uid if isinstance(uid, str) else None

    def _run_of(self, name: str, doc: Mapping[str, Any]) -> _Run | None:
        uid = self._run_uid(name, doc)
        return self.runs.get(uid) if uid is not None else None

    # -- holding and releasing ------------------------------------------------------------------
    def _drain(self, run: _Run, current: dict[str, Any] | None = None) -> list[Item]:
        """Pass on the run's held documents, in order, up to the first not yet readable."""
        out: list[Item] = []
        run.last_try = self.clock()
        with Files(self.data_roots) as files:
            while run.held:
                name, doc = run.held[0]
                try:
                    docs = self._process(run, name, doc, files)
                except NotYetAvailable as exc:
                    if run.blocked_since is None:
                        run.blocked_since = run.last_try
                        log.info("run %s waits for external data: %s", run.uid, exc)
                    run.waiting_for = exc
                    return out
                except StreamError as exc:
                    out.append(Item(run.uid, name, None, exc, current=doc is current))
                except (KeyError, TypeError, AttributeError, ValueError) as exc:
                    # a malformed document must not stay at the head of the run for ever
                    err = MalformedDocument(f"{name} document is malformed: {exc!r}")
                    out.append(Item(run.uid, name, None, err, current=doc is current))
                except Exception as exc:  # a bug costs this document, never the run's queue
                    log.exception("filling a %s document of run %s failed", name, run.uid)
                    out.append(Item(run.uid, name, None, internal_error(exc),
                                    current=doc is current))
                else:
                    out += [Item(run.uid, n, d, current=doc is current) for n, d in docs]
                # unreadable keys: one dead letter per run and key, not one per event
                out += [Item(run.uid, name, None, e) for e in run.errors]
                run.errors.clear()
                run.held.popleft()
                run.blocked_since, run.waiting_for = None, None
        if out and out[-1].name == "stop":
            self.forget(run.uid)
        return out

    def _give_up(self, run: _Run, now: float) -> ExternalDataUnavailable:
        why = run.waiting_for
        err = ExternalDataUnavailable(
            f"external data not readable after {now - (run.blocked_since or now):.0f} s "
            f"(external_data_timeout_s={self.timeout_s:g}): {why}; check that the path is "
            "mounted here (data_roots) and that the detector finished writing",
            path=why.path if why else None, run_uid=run.uid, held_documents=len(run.held))
        log.warning("run %s given up: %s", run.uid, err.message)
        self.given_up.append(run.uid)
        self.forget(run.uid)
        return err

    # -- filling ----------------------------------------------------------------------------
    def _process(self, run: _Run, name: str, doc: dict[str, Any], files: Files) -> list[Doc]:
        if name == "descriptor":
            return [(name, self._plan(run, doc).descriptor)]
        if name == "stop":
            try:
                collected = self._collected(run, files)
            except StreamError as exc:  # the stop still closes the run downstream
                run.errors.append(exc)
                collected = []
            return [*collected, (name, doc)]
        if name in ("event", "event_page"):
            plan = run.plans.get(doc.get("descriptor"))  # type: ignore[arg-type]
            if plan is not None:
                plan.events_seen = True
            if plan is None or not (plan.stream_keys or plan.datum_keys):
                return [(name, doc)]
            if name == "event":
                return [(name, self._fill(run, plan, doc, files))]
            try:
                events = list(unpack_event_page(doc))
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedDocument(f"event_page cannot be unpacked: {exc}") from None
            return [("event", self._fill(run, plan, e, files)) for e in events]
        return [(name, doc)]

    def _plan(self, run: _Run, doc: dict[str, Any]) -> _Plan:
        uid = doc.get("uid")
        if not isinstance(uid, str):
            raise MalformedDocument("descriptor has no string uid")
        data_keys: dict[str, Any] = dict(doc.get("data_keys") or {})
        external = {k for k, v in data_keys.items()
                    if isinstance(v, Mapping) and v.get("external")}
        stream = {k for k in external if str(data_keys[k]["external"]).startswith("STREAM")}
        element, edge = element_and_edge(run.start)
        line_ev = emission_line_ev(element, edge)
        groups = find_fluorescence(doc, external) if external else []
        for k in external:
            data_keys[k] = {f: v for f, v in data_keys[k].items() if f != "external"}
        for g in groups:
            first = data_keys[g.members[0]]
            for k in g.consumed:
                data_keys.pop(k, None)
            data_keys[g.out_key] = {
                "source": f"edgestream:fluorescence:{first.get('source', g.members[0])}",
                "dtype": "number", "dtype_numpy": "<f8", "shape": [], "units": "counts",
                "edgestream_fluorescence": g.describe(line_ev)}
        descriptor = dict(doc, data_keys=data_keys) if external else doc
        if groups and isinstance(doc.get("object_keys"), Mapping):
            consumed = {k for g in groups for k in g.consumed}
            descriptor["object_keys"] = {
                dev: [k for k in keys if k not in consumed]
                + [g.out_key for g in groups if g.members[0] in keys]
                for dev, keys in doc["object_keys"].items() if isinstance(keys, list)}
        plan = _Plan(descriptor, stream, external - stream, groups, line_ev,
                     all_streamed=bool(stream) and stream == set(doc.get("data_keys") or {}))
        run.plans[uid] = plan
        self.descriptor_run[uid] = run.uid
        return plan

    def _fill(self, run: _Run, plan: _Plan, event: dict[str, Any], files: Files
              ) -> dict[str, Any]:
        data = dict(event.get("data") or {})
        filled = dict(event.get("filled") or {})
        seq = event.get("seq_num")
        for key in plan.stream_keys | plan.datum_keys:
            if key in run.unreadable:
                data[key] = np.nan  # reported once; the spectrum may not need it
                continue
            streamed = key in plan.stream_keys
            if streamed and not isinstance(seq, int):
                raise MalformedDocument("event without an integer seq_num")
            if not streamed and (filled.get(key) is True or not isinstance(data.get(key), str)):
                if key not in data:
                    raise MissingChannel(f"event lacks external data key {key!r}",
                                         seq_num=seq)
                continue  # filled upstream already
            try:
                data[key] = self.assets.stream_value(event["descriptor"], key, seq, files) \
                    if streamed else self.assets.datum_value(data[key], files)
            except ExternalDataUnavailable as exc:  # a format or path that never will be
                exc.context.setdefault("data_key", key)
                run.unreadable[key] = exc
                run.errors.append(exc)
                data[key] = np.nan
            filled[key] = True
        timestamps = dict(event.get("timestamps") or {})
        for g in plan.groups:
            unreadable = any(k in run.unreadable for k in g.members)
            data[g.out_key] = np.nan if unreadable else g.reduce(data, plan.line_ev, seq)
            timestamps.setdefault(g.out_key, timestamps.get(g.members[0], event.get("time")))
            for k in g.consumed:
                if k != g.out_key:
                    data.pop(k, None)
                    timestamps.pop(k, None)
                filled.pop(k, None)
        return dict(event, data=data, filled=filled, timestamps=timestamps)

    def _collected(self, run: _Run, files: Files) -> list[Doc]:
        """Events for the streams a fly scan collected without events (ophyd-async
        ``collect``, e.g. PandA): only stream_datum documents say which rows are which
        sequence numbers. Made at the stop, when every stream_datum is in."""
        pages: list[Doc] = []
        for uid, plan in run.plans.items():
            seqs = self.assets.seq_nums(uid)
            if not plan.all_streamed or plan.events_seen or not seqs:
                continue
            columns = {k: self.assets.stream_rows(uid, k, seqs, files)
                       for k in plan.stream_keys}
            events = [{"descriptor": uid, "seq_num": seq, "time": run.last_try,
                       "uid": f"{uid}/{seq}", "data": {k: v[i] for k, v in columns.items()},
                       "timestamps": dict.fromkeys(columns, run.last_try), "filled": {}}
                      for i, seq in enumerate(seqs)]
            for event in events:
                for g in plan.groups:
                    event["data"][g.out_key] = g.reduce(event["data"], plan.line_ev,
                                                        event["seq_num"])
                    for k in g.consumed:
                        if k != g.out_key:
                            event["data"].pop(k, None)
                            event["timestamps"].pop(k, None)
                    event["timestamps"][g.out_key] = run.last_try
            pages += [("event", e) for e in events]
        return pages
