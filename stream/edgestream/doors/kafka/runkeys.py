"""Which run each Bluesky document belongs to, read from the message bytes: the router's state.

Only the link fields (uid, run_start, descriptor, resource, stream_resource) of a
``[name, doc]`` msgpack message are read; arrays and data are skipped unparsed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack
from kafka import TopicPartition

from edgestream.errors import MalformedDocument

# The only fields the router reads; every other value is skipped unparsed (arrays included).
LINK_FIELDS = frozenset({"uid", "run_start", "descriptor", "resource", "stream_resource"})
# Documents routed through a parent document rather than by their own run_start
PARENT_FIELD = {"event": "descriptor", "event_page": "descriptor", "datum": "resource",
                "datum_page": "resource", "stream_datum": "stream_resource"}
# Parents whose uid later documents name: their own run_start, or the run now open on the
# source partition (old resources carry no run_start)
PARENTS = frozenset({"descriptor", "resource", "stream_resource"})

def peek(value: bytes | None) -> tuple[str, dict[str, Any]]:
    """Name and link fields of a ``[name, doc]`` msgpack message, without decoding the rest.

    Raises MalformedDocument for anything that is not such a message."""
    if value is None:
        raise MalformedDocument("empty message (tombstone)")
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(value) + 1)
    unpacker.feed(value)
    try:
        if unpacker.read_array_header() != 2:
            raise MalformedDocument("expected a 2-element [name, doc] list")
        name = unpacker.unpack()
        if not isinstance(name, str):
            raise MalformedDocument("document name is not a string")
        links: dict[str, Any] = {}
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key in LINK_FIELDS:
                links[key] = unpacker.unpack()
            else:
                unpacker.skip()
    except MalformedDocument:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise MalformedDocument(f"not a msgpack [name, doc]: {type(exc).__name__}") from None
    return name, links


@dataclass
class _Run:
    source: TopicPartition
    children: list[str] = field(default_factory=list)
    last_seen: float = 0.0


class RunKeys:
    """Which run each document belongs to: the little state the router keeps.

    Open runs by start uid, and the uids of their descriptors, resources and stream
    resources. A stop closes its run; runs idle over ``timeout_s`` and, beyond
    ``max_runs``, the longest idle ones are forgotten (their later documents keep their
    original key)."""

    def __init__(self, max_runs: int, timeout_s: float) -> None:
        self.max_runs = max_runs
        self.timeout_s = timeout_s
        self.runs: OrderedDict[str, _Run] = OrderedDict()  # least recently seen first
        self.parent_run: dict[str, str] = {}
        self.current: dict[TopicPartition, str] = {}  # last run started on each source

    def route(self, name: str, links: dict[str, Any], source: TopicPartition,
              now: float | None = None) -> str | None:
        """The run uid of one document (None: unknown), updating the state."""
        now = time.monotonic() if now is None else now
        uid = links.get("uid")
        if name == "start":
            if not isinstance(uid, str):
                return None
            run = self.runs.get(uid) or _Run(source)
            run.last_seen = now
            self.runs[uid] = run
            self.runs.move_to_end(uid)
            self.current[source] = uid
            return uid
        run_uid = self._run_of(name, links, source)
        if run_uid is None:
            return None
        run = self.runs[run_uid]
        run.last_seen = now
        self.runs.move_to_end(run_uid)
        if name in PARENTS and isinstance(uid, str):
            self.parent_run[uid] = run_uid
            run.children.append(uid)
        if name == "stop":
            self.forget(run_uid)
        return run_uid

    def _run_of(self, name: str, links: dict[str, Any], source: TopicPartition) -> str | None:
        parent_field = PARENT_FIELD.get(name)
        if parent_field is not None:
            found = self.parent_run.get(links.get(parent_field))  # type: ignore[arg-type]
            if found is None and name == "stream_datum":  # newer ones also name the stream
                found = self.parent_run.get(links.get("descriptor"))  # type: ignore[arg-type]
            return found
        run_start = links.get("run_start")
        if isinstance(run_start, str):
            return run_start if run_start in self.runs else None
        if name in ("resource", "stream_resource"):  # no run_start: the run now open there
            current = self.current.get(source)
            return current if current in self.runs else None
        return None

    def forget(self, run_uid: str) -> None:
        run = self.runs.pop(run_uid, None)
        if run is None:
            return
        for child in run.children:
            self.parent_run.pop(child, None)
        if self.current.get(run.source) == run_uid:
            del self.current[run.source]

    def expire(self, now: float | None = None) -> list[str]:
        """Forget runs idle over the timeout and, beyond ``max_runs``, the longest idle."""
        now = time.monotonic() if now is None else now
        gone = [uid for uid, run in self.runs.items() if now - run.last_seen > self.timeout_s]
        for uid in gone:
            self.forget(uid)
        while len(self.runs) > self.max_runs:
            uid = next(iter(self.runs))
            self.forget(uid)
            gone.append(uid)
        return gone

    def in_sources(self, sources: Iterable[TopicPartition]) -> list[str]:
        wanted = set(sources)
        return [uid for uid, run in self.runs.items() if run.source in wanted]

    def clear(self) -> None:
        self.runs.clear()
        self.parent_run.clear()
        self.current.clear()
