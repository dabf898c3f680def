"""Where a run measured: the sample position from the start document, or from a stream.

Beamlines keep the sample stage in different places. Some plans put it in the start
document (``sample_position: {"x": ...}`` or a top-level ``x``); NSLS-II BMM records it in
the **baseline** stream, read once before and once after the run (``sd.baseline`` holds
``xafs_linx``/``xafs_liny``, whose readings are named ``xafs_x``/``xafs_y``; its agents take
``run.baseline.data[key][0]``); a scan over the stage has it in the **primary** stream.
``PositionSpec`` says which: the keys, the source (``start`` or a stream name) and which
reading of the stream (``first``: the reading taken at the start of the run, or ``last``).

``PositionTracker`` follows documents as they arrive (start, descriptor, event,
event_page, stop) and settles each run's position as soon as it can: from the start
document, or from the first matching event; at the stop document at the latest, with a
reason a person can act on when the keys never came (``RunPosition.error``). It keeps only
what it needs: descriptor uids of the wanted stream and a few numbers per run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

START = "start"
READINGS = ("first", "last")


@dataclass(frozen=True)
class PositionSpec:
    """Which numbers of a run are its sample position."""

    keys: tuple[str, ...] = ("x",)
    source: str = START  # "start", or the stream name ("baseline", "primary", ...)
    reading: Literal["first", "last"] = "first"

    def __post_init__(self) -> None:
        if not self.keys or not all(isinstance(k, str) and k for k in self.keys):
            raise ValueError(f"position keys must be non-empty names, not {self.keys!r}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"position source must be 'start' or a stream name, not "
                             f"{self.source!r}")
        if self.reading not in READINGS:
            raise ValueError(f"position reading must be one of {READINGS}, not "
                             f"{self.reading!r}")

    @property
    def from_stream(self) -> bool:
        return self.source != START

    def describe(self) -> str:
        where = "the start document" if not self.from_stream else \
            f"the {self.reading} reading of the {self.source!r} stream"
        return f"{', '.join(self.keys)} from {where}"


@dataclass(frozen=True)
class RunPosition:
    """A run's position (None until known) or why it has none."""

    position: tuple[float, ...] | None = None
    error: str | None = None

    @property
    def settled(self) -> bool:
        return self.position is not None or self.error is not None


def _number(v: Any) -> float | None:
    """A finite float from a reading (a bare value, or a 0-d/1-element array)."""
    if hasattr(v, "tolist"):  # numpy scalars and arrays from msgpack-numpy
        v = v.tolist()
    if isinstance(v, list) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def position_from_mapping(data: dict[str, Any], keys: tuple[str, ...]
                          ) -> tuple[float, ...] | None:
    """The keys' values as floats, or None unless every one is a finite number."""
    values = [_number(data.get(k)) for k in keys]
    if any(v is None for v in values):
        return None
    return tuple(v for v in values if v is not None)


def position_from_start(doc: dict[str, Any], keys: tuple[str, ...]) -> tuple[float, ...] | None:
    """From ``sample_position`` (a mapping) when the start document has one, else top level."""
    where = doc.get("sample_position")
    return position_from_mapping(where if isinstance(where, dict) else doc, keys)


@dataclass
class _Run:
    state: RunPosition = field(default_factory=RunPosition)
    descriptors: set[str] = field(default_factory=set)
    last: tuple[float, ...] | None = None  # for reading == "last": the latest so far


class PositionTracker:
    """Settle each run's position from its documents, in the order they arrive."""

    def __init__(self, spec: PositionSpec | None = None, max_runs: int = 100_000) -> None:
        self.spec = spec or PositionSpec()
        self.max_runs = max_runs
        self.runs: dict[str, _Run] = {}
        self._descriptors: dict[str, str] = {}  # wanted descriptor uid -> run uid

    def wants(self, descriptor_uid: Any) -> bool:
        """Whether events of this descriptor can carry a position (cheap, before decoding)."""
        return isinstance(descriptor_uid, str) and descriptor_uid in self._descriptors

    def run_of(self, descriptor_uid: Any) -> str | None:
        """The run uid of a wanted descriptor (None for any other)."""
        return self._descriptors.get(descriptor_uid) if self.wants(descriptor_uid) else None

    def get(self, run_uid: str) -> RunPosition | None:
        run = self.runs.get(run_uid)
        return None if run is None else run.state

    def feed(self, name: str, doc: dict[str, Any]) -> str | None:
        """Take one document; the run uid whose position just settled, else None."""
        if not isinstance(doc, dict):
            return None
        if name == "start":
            return self._start(doc)
        if name == "descriptor":
            return self._descriptor(doc)
        if name == "event":
            return self._readings(doc.get("descriptor"), [doc.get("data") or {}])
        if name == "event_page":
            data = {k: v.tolist() if hasattr(v, "tolist") else v
                    for k, v in (doc.get("data") or {}).items()}  # msgpack-numpy arrays
            cols = {k: v for k, v in data.items() if isinstance(v, list | tuple)}
            n = max((len(v) for v in cols.values()), default=0)
            rows = [{k: v[i] for k, v in cols.items() if i < len(v)} for i in range(n)]
            return self._readings(doc.get("descriptor"), rows)
        if name == "stop":
            return self._stop(doc)
        return None

    def _start(self, doc: dict[str, Any]) -> str | None:
        uid = doc.get("uid")
        if not isinstance(uid, str):
            return None
        run = self.runs[uid] = _Run()
        while len(self.runs) > self.max_runs:
            gone = next(iter(self.runs))
            for d in self.runs.pop(gone).descriptors:
                self._descriptors.pop(d, None)
        if self.spec.from_stream:
            return None
        pos = position_from_start(doc, self.spec.keys)
        run.state = RunPosition(pos, None if pos is not None else
                                f"the start document has no numeric {self.spec.describe()}")
        return uid

    def _descriptor(self, doc: dict[str, Any]) -> str | None:
        run_uid, uid = doc.get("run_start"), doc.get("uid")
        run = self.runs.get(run_uid) if isinstance(run_uid, str) else None
        if run is None or run.state.settled or doc.get("name") != self.spec.source or \
                not isinstance(uid, str):
            return None
        keys = doc.get("data_keys") or {}
        missing = [k for k in self.spec.keys if k not in keys]
        if missing:
            run.state = RunPosition(None, f"the {self.spec.source!r} stream has no "
                                    f"{', '.join(missing)} (it has: "
                                    f"{', '.join(sorted(keys)[:12]) or 'nothing'})")
            return run_uid
        run.descriptors.add(uid)
        self._descriptors[uid] = run_uid
        return None

    def _readings(self, descriptor: Any, rows: list[dict[str, Any]]) -> str | None:
        if not self.wants(descriptor):
            return None
        run_uid = self._descriptors[descriptor]
        run = self.runs[run_uid]
        if run.state.settled:
            return None
        for row in rows:
            pos = position_from_mapping(row, self.spec.keys)
            if pos is None:
                continue
            if self.spec.reading == "first":
                run.state = RunPosition(pos)
                return run_uid
            run.last = pos
        return None

    def _stop(self, doc: dict[str, Any]) -> str | None:
        run_uid = doc.get("run_start")
        run = self.runs.get(run_uid) if isinstance(run_uid, str) else None
        if run is None:
            return None
        for d in run.descriptors:
            self._descriptors.pop(d, None)
        if run.state.settled:
            return None
        if run.last is not None:
            run.state = RunPosition(run.last)
        elif not run.descriptors:
            run.state = RunPosition(None, f"the run has no {self.spec.source!r} stream with "
                                    f"{', '.join(self.spec.keys)}")
        else:
            run.state = RunPosition(None, f"no {self.spec.source!r} reading of "
                                    f"{', '.join(self.spec.keys)} was a number")
        return run_uid


def position_of_documents(docs: Iterable[tuple[str, dict[str, Any]]],
                          spec: PositionSpec) -> RunPosition:
    """The position of the (first) run in ``docs``: a pure function of its documents."""
    tracker = PositionTracker(spec)
    first: str | None = None
    for name, doc in docs:
        tracker.feed(name, doc)
        if first is None and name == "start":
            first = doc.get("uid") if isinstance(doc.get("uid"), str) else None
    state = tracker.get(first) if first else None
    if state is None:
        return RunPosition(None, "no start document")
    if not state.settled:  # documents of a run still going: the latest reading so far
        if tracker.runs[first].last is not None:
            return RunPosition(tracker.runs[first].last)
        return RunPosition(None, f"no {spec.describe()} yet (the run has not stopped)")
    return state
