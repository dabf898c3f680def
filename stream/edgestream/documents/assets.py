"""What resource/datum and stream_resource/stream_datum documents said, and reading it.

The filler (:mod:`edgestream.documents.external`) keeps one :class:`Assets` and asks it for
the value behind a datum id or a (descriptor, data key, seq_num). Anything not seen yet
raises :class:`~edgestream.documents.hdf5.NotYetAvailable`, so the run waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from event_model import unpack_datum_page

from edgestream.documents.hdf5 import Files, NotYetAvailable, Source, source_of
from edgestream.errors import MalformedDocument, StreamError

# (first seq_num, seq_num after the last, first index in the dataset, stream_resource uid)
Range = tuple[int, int, int, str]


class Assets:
    """Resources, datums and stream datums by uid, each remembered with its run."""

    def __init__(self) -> None:
        # resource / stream_resource uid -> where the data is, or why it cannot be read
        self.sources: dict[str, Source | StreamError] = {}
        self.datums: dict[str, tuple[str, dict[str, Any]]] = {}  # datum id -> (resource, kw)
        self.stream_key: dict[str, str] = {}  # stream_resource uid -> data key
        self.ranges: dict[str, dict[str, list[Range]]] = {}  # descriptor -> key -> ranges
        self.orphans: dict[str, list[tuple[str, Range]]] = {}  # before their stream_resource
        self.owned: dict[str, list[str]] = {}  # run uid -> resource uids
        self.owner: dict[str, str] = {}  # resource uid -> run uid
        self.datums_of: dict[str, list[str]] = {}  # resource uid -> datum ids

    def add(self, name: str, doc: Mapping[str, Any], latest_run: str | None) -> None:
        """Remember one asset document. ``latest_run`` owns resources that name no run
        (old ophyd versions left ``run_start`` out)."""
        if name == "datum_page":
            for datum in unpack_datum_page(doc):  # type: ignore[arg-type]
                self.add("datum", datum, latest_run)
        elif name == "datum":
            datum_id, resource = doc.get("datum_id"), doc.get("resource")
            if not isinstance(datum_id, str) or not isinstance(resource, str):
                raise MalformedDocument("datum needs string datum_id and resource")
            kwargs = doc.get("datum_kwargs")
            self.datums[datum_id] = (resource, dict(kwargs) if isinstance(kwargs, Mapping)
                                     else {})
            self.datums_of.setdefault(resource, []).append(datum_id)
        elif name == "stream_datum":
            self._stream_datum(doc)
        else:
            self._resource(name, doc, latest_run)

    def _resource(self, name: str, doc: Mapping[str, Any], latest_run: str | None) -> None:
        uid = doc.get("uid")
        if not isinstance(uid, str):
            raise MalformedDocument(f"{name} has no string uid")
        try:
            self.sources[uid] = source_of(name, doc)
        except StreamError as exc:  # raised when an event needs it: unused ones harm nothing
            self.sources[uid] = exc
        run = doc.get("run_start") or latest_run
        if isinstance(run, str):
            self.owner[uid] = run
            self.owned.setdefault(run, []).append(uid)
        if name == "stream_resource":
            key = self.stream_key[uid] = str(doc.get("data_key"))
            for desc, entry in self.orphans.pop(uid, []):
                self.ranges.setdefault(desc, {}).setdefault(key, []).append(entry)

    def _stream_datum(self, doc: Mapping[str, Any]) -> None:
        try:
            sr, desc = doc["stream_resource"], doc["descriptor"]
            seq, idx = doc["seq_nums"], doc["indices"]
            entry = (int(seq["start"]), int(seq["stop"]), int(idx["start"]), str(sr))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedDocument(f"stream_datum lacks or mistypes {exc}") from None
        key = self.stream_key.get(sr)
        if key is None:  # its stream_resource may come later (another partition)
            self.orphans.setdefault(sr, []).append((desc, entry))
            return
        self.ranges.setdefault(desc, {}).setdefault(key, []).append(entry)

    def forget(self, run: str, descriptors: set[str]) -> None:
        """Drop what belongs to a run that ended."""
        for uid in self.owned.pop(run, []):
            self.sources.pop(uid, None)
            self.stream_key.pop(uid, None)
            self.owner.pop(uid, None)
            for datum in self.datums_of.pop(uid, []):
                self.datums.pop(datum, None)
        for desc in descriptors:
            self.ranges.pop(desc, None)
        for sr in [sr for sr, items in self.orphans.items()
                   if any(d in descriptors for d, _ in items)]:
            del self.orphans[sr]

    # -- reading ------------------------------------------------------------------------------
    def source(self, uid: str) -> Source:
        found = self.sources.get(uid)
        if found is None:
            raise NotYetAvailable(f"(resource {uid})", "resource document not seen (yet)")
        if isinstance(found, StreamError):
            raise found
        return found

    def datum_value(self, datum_id: Any, files: Files) -> np.ndarray:
        if not isinstance(datum_id, str):
            raise MalformedDocument(f"external value {datum_id!r} is not a datum id")
        found = self.datums.get(datum_id)
        if found is None:
            raise NotYetAvailable(f"(datum {datum_id})", "datum document not seen (yet)")
        resource, kwargs = found
        return files.datum(self.source(resource), kwargs)

    def stream_value(self, descriptor: str, key: str, seq: int, files: Files) -> np.ndarray:
        for start, stop, index, sr in self.ranges.get(descriptor, {}).get(key, []):
            if start <= seq < stop:
                i = index + seq - start
                return files.rows(self.source(sr), i, i + 1)[0]
        raise NotYetAvailable(f"(data key {key})", f"no stream_datum for seq_num {seq} (yet)")

    def stream_rows(self, descriptor: str, key: str, seqs: list[int], files: Files
                    ) -> list[np.ndarray]:
        """Rows of ``key`` for each sequence number, read one stream_datum at a time."""
        out: dict[int, np.ndarray] = {}
        for start, stop, index, sr in self.ranges.get(descriptor, {}).get(key, []):
            rows = files.rows(self.source(sr), index, index + stop - start)
            out.update(zip(range(start, stop), rows, strict=True))
        missing = [s for s in seqs if s not in out]
        if missing:
            raise NotYetAvailable(f"(data key {key})",
                                  f"no stream_datum for seq_num {missing[0]} (yet)")
        return [out[s] for s in seqs]

    def seq_nums(self, descriptor: str) -> list[int]:
        """Every sequence number stream_datum documents gave for a descriptor."""
        return sorted({s for ranges in self.ranges.get(descriptor, {}).values()
                       for a, b, _, _ in ranges for s in range(a, b)})
