"""Derived runs into a Tiled catalog, beside the raw runs (``tiled.uri`` turns it on).

The layout is the one bluesky's ``TiledWriter`` gives raw runs, so one client reads both:
a container keyed by the derived run's uid (spec ``BlueskyRun`` 3.0, metadata ``start`` and,
when the run ends, ``stop`` and ``summary``), in it a container per stream (``annotations``,
specs ``BlueskyEventStream`` 3.0 and ``composite``, the descriptor as metadata) holding an
appendable table ``internal``: ``seq_num``, ``time``, one typed column per data key
(valence, valence_uncertainty, motif, e0, ..., the ``norm`` array) and ``ts_<key>``.

Found with tiled's queries, e.g. ``client.search(Key("start.original_run_uid") == uid)``;
``summary`` (count, elements, valence range, motifs, flagged spectra) makes whole runs
searchable too (``Key("summary.valence_max") > 1.5``).

Writing never holds up a door: ``TiledSink`` takes the derived documents on a bounded queue
and a worker thread writes them. A Tiled server that cannot be reached is retried with capped
backoff, keeping the order; a write Tiled refuses is logged and counted
(``edgestream_errors_total{reason="tiled_write_failed"}``), as are documents dropped when the
queue is full (``tiled_queue_full``) and those of a run whose start could not be written
(``tiled_write_failed``, one log line per run). A run replayed after a rebalance or restart
(same derived uids) reuses its container and skips the rows already there.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from event_model import merge_event_pages, unpack_event_page

from edgestream.config.settings import SettingsError, TiledSettings
from edgestream.metrics import Metrics
from edgestream.publish.derived import STREAM

log = logging.getLogger(__name__)

TABLE = "internal"  # the table's key in a stream container, as bluesky's TiledWriter names it
DerivedDoc = tuple[str, str, dict[str, Any]]  # (original run uid, name, document)
_STOP = object()
MAX_BATCH = 1000  # documents taken off the queue at once
SUMMARY_COLUMNS = ["element", "edge", "modality", "motif", "valence", "ood"]


def arrow_schema(data_keys: dict[str, dict[str, Any]]) -> Any:
    """The table's pyarrow schema from the descriptor's data keys: fixed column types, so
    every page appends to the same table (pyarrow would type an all-NaN or all-empty page
    on its own)."""
    import pyarrow as pa

    types = {"number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(),
             "string": pa.string(), "array": pa.list_(pa.float64())}
    fields = [pa.field("seq_num", pa.int64()), pa.field("time", pa.float64())]
    fields += [pa.field(k, types[v["dtype"]]) for k, v in data_keys.items()]
    fields += [pa.field(f"ts_{k}", pa.float64()) for k in data_keys]
    return pa.schema(fields)


def event_rows(page: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per event of a page, as bluesky's TiledWriter lays them out."""
    rows = []
    for event in unpack_event_page(page):
        row = {"seq_num": event["seq_num"], "time": event["time"], **event["data"]}
        row.update({f"ts_{k}": v for k, v in event["timestamps"].items()})
        rows.append(row)
    return rows


def read_table(table: Any, columns: list[str] | None = None) -> Any:
    """A tiled table as a DataFrame, array columns (``norm``) as arrays: tiled's client reads
    through dask, whose ``dataframe.convert-string`` (on by default with pandas 3) turns
    list columns into their text."""
    import dask

    with dask.config.set({"dataframe.convert-string": False}):
        return table.read(columns)


def summary(table: Any) -> dict[str, Any]:
    """Run-level figures for searching whole runs: from the table read back (a DataFrame)."""
    out: dict[str, Any] = {"spectra": len(table)}
    for key in ("element", "edge", "modality", "motif"):
        if key in table:
            out[key] = sorted({str(v) for v in table[key] if v})
    if "valence" in table:
        v = [float(x) for x in table["valence"] if math.isfinite(x)]
        out["valenced_spectra"] = len(v)
        if v:
            out.update(valence_min=min(v), valence_max=max(v),
                       valence_mean=round(sum(v) / len(v), 6))
    if "ood" in table:
        out["ood_spectra"] = int(sum(bool(x) for x in table["ood"]))
    return out


def coalesce(docs: list[DerivedDoc]) -> list[DerivedDoc]:
    """Consecutive event pages of one run and descriptor as one page (one append instead
    of one per poll batch: each costs a round trip, 150-290 ms on the loaded test VM);
    each run's documents keep their order."""
    out: list[DerivedDoc] = []
    last: dict[str, int] = {}  # run uid -> index in out of its latest document
    for run_uid, name, doc in docs:
        i = last.get(run_uid)
        if (name == "event_page" and i is not None and out[i][1] == "event_page"
                and out[i][2]["descriptor"] == doc["descriptor"]):
            out[i] = (run_uid, name, merge_event_pages([out[i][2], doc]))
            continue
        last[run_uid] = len(out)
        out.append((run_uid, name, doc))
    return out


def _conflict(exc: Exception) -> bool:
    """True for tiled's 409: the node exists already (a replayed run)."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 409


@dataclass
class _Run:
    node: Any
    streams: dict[str, Any] = field(default_factory=dict)  # descriptor uid -> _Stream


@dataclass
class _Stream:
    node: Any
    data_keys: dict[str, dict[str, Any]]
    table: Any = None
    written: set[str] = field(default_factory=set)  # annotation ids already in the table


class TiledRunWriter:
    """Write derived documents into the Tiled container ``root`` (synchronous; raises what
    tiled raises). ``write(run_uid, name, doc)`` in document order, per run."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.runs: dict[str, _Run] = {}  # by original run uid

    def write(self, run_uid: str, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._start(run_uid, doc)
        elif name == "descriptor":
            self._descriptor(self.runs[run_uid], doc)
        elif name in ("event_page", "event"):
            page = doc if name == "event_page" else _as_page(doc)
            self._append(self.runs[run_uid].streams[page["descriptor"]], page)
        elif name == "stop":
            self._stop(self.runs.pop(run_uid), doc)

    def _start(self, run_uid: str, doc: dict[str, Any]) -> None:
        from tiled.structures.core import Spec

        try:
            node = self.root.create_container(key=doc["uid"], metadata={"start": doc},
                                              specs=[Spec("BlueskyRun", version="3.0")])
        except Exception as exc:
            if not _conflict(exc):
                raise
            node = self.root[doc["uid"]]  # replayed: write into what is there
        self.runs[run_uid] = _Run(node)

    def _descriptor(self, run: _Run, doc: dict[str, Any]) -> None:
        from tiled.structures.core import Spec

        meta = {k: v for k, v in doc.items() if k not in ("name", "object_keys", "run_start")}
        try:
            node = run.node.create_container(
                key=doc["name"], metadata=meta,
                specs=[Spec("BlueskyEventStream", version="3.0"), Spec("composite")]).base
        except Exception as exc:
            if not _conflict(exc):
                raise
            node = run.node[doc["name"]]
            node = getattr(node, "base", node)  # the composite's plain container
        stream = _Stream(node, doc["data_keys"])
        if TABLE in node:
            stream.table = node[TABLE]
            done = read_table(stream.table, ["annotation_id"])["annotation_id"]
            stream.written = {str(a) for a in done}
        run.streams[doc["uid"]] = stream

    def _append(self, stream: _Stream, page: dict[str, Any]) -> None:
        import pyarrow as pa

        rows = [r for r in event_rows(page) if r.get("annotation_id") not in stream.written]
        if not rows:
            return
        schema = arrow_schema(stream.data_keys)
        table = pa.Table.from_pylist(rows, schema=schema)
        if stream.table is None:
            stream.table = stream.node.create_appendable_table(
                schema=schema, key=TABLE,
                metadata={k: v for k, v in stream.data_keys.items() if k in schema.names})
        stream.table.append_partition(0, table)
        stream.written.update(str(r.get("annotation_id")) for r in rows)

    def _stop(self, run: _Run, doc: dict[str, Any]) -> None:
        figures: dict[str, Any] = {"spectra": 0}
        for stream in run.streams.values():
            if stream.table is not None and stream.node.item["id"] == STREAM:
                figures = summary(read_table(stream.table, SUMMARY_COLUMNS))
        run.node.update_metadata(metadata={"stop": doc, "summary": figures},
                                 drop_revision=True)


def _as_page(event: dict[str, Any]) -> dict[str, Any]:
    from event_model import pack_event_page

    return pack_event_page(event)


def connect(settings: TiledSettings) -> Any:
    """A tiled client on the container named by ``settings.uri`` (the raw runs' container)."""
    import httpx
    from tiled.client import from_uri

    # tiled's client retries an unreachable server for up to 45 s before it says so: ask
    # once first, so the log says at once that it cannot be reached (and we back off).
    url = httpx.URL(settings.uri or "")
    httpx.get(str(url.copy_with(path="/", query=None)), timeout=5.0)
    # No client cache: a service writes, it does not re-read.
    return from_uri(settings.uri, api_key=settings.api_key, cache=None)


def _transport_error(exc: BaseException) -> bool:
    """The server could not be reached (or went away): retry, do not drop."""
    import httpx

    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


class TiledSink:
    """Derived documents to Tiled on a worker thread; ``submit`` never blocks a door."""

    def __init__(self, settings: TiledSettings, metrics: Metrics,
                 connect_to: Callable[[TiledSettings], Any] = connect,
                 max_backoff_s: float = 30.0) -> None:
        self.settings = settings
        self.metrics = metrics
        self._connect_to = connect_to
        self.max_backoff_s = max_backoff_s
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=settings.max_queue)
        self.writer: TiledRunWriter | None = None
        self.written = 0  # documents written
        self.failed = 0  # documents refused by Tiled, or of a run whose start failed
        self.dropped = 0  # documents not queued (queue full)
        self._broken_runs: set[str] = set()
        self._unreachable = False
        self.unwritten_at_close = 0  # held while the server was away, when the sink closed
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name="edgestream-tiled",
                                        daemon=True)
        self._worker.start()

    def submit(self, docs: Iterable[DerivedDoc]) -> None:
        for item in docs:
            try:
                self.queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1
                self.metrics.errors.labels("tiled_queue_full").inc()
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("tiled: queue full (%d), %d derived documents not written",
                              self.settings.max_queue, self.dropped)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # a full queue's worker is told by _stopping
            self.queue.put_nowait(_STOP)
        self._worker.join(timeout)
        if self.unwritten_at_close:
            log.error("tiled: %d derived documents not written: %s could not be reached "
                      "before the end", self.unwritten_at_close, _where(self.settings.uri))

    def _work(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH and batch[-1] is not _STOP:
                try:  # what queued up while the last write ran goes in as few writes
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            try:
                for item in coalesce([b for b in batch if b is not _STOP]):
                    self._write(*item)
            finally:
                for _ in batch:
                    self.queue.task_done()
            if stop:
                return

    def _write(self, run_uid: str, name: str, doc: dict[str, Any]) -> None:
        """One document, retried while the server is unreachable; refused ones counted."""
        backoff = min(1.0, self.max_backoff_s)
        while True:
            try:
                if self.writer is None:
                    self.writer = TiledRunWriter(self._connect_to(self.settings))
                    log.info("tiled: writing derived runs to %s", _where(self.settings.uri))
                self._write_once(run_uid, name, doc)
                if self._unreachable:
                    log.warning("tiled: %s reachable again", _where(self.settings.uri))
                    self._unreachable = False
                return
            except Exception as exc:
                if _transport_error(exc):
                    self.metrics.errors.labels("tiled_unavailable").inc()
                    if self._stopping.is_set():  # no more waiting: counted, said in close()
                        self.failed += 1
                        self.unwritten_at_close += 1
                        return
                    if not self._unreachable:  # one line per outage, not one per try
                        log.warning("tiled: cannot reach %s (%s: %s); holding derived "
                                    "documents, retrying every %.0f s at most",
                                    _where(self.settings.uri), type(exc).__name__, exc,
                                    self.max_backoff_s)
                        self._unreachable = True
                    self._stopping.wait(backoff)
                    backoff = min(2 * backoff, self.max_backoff_s)
                    continue
                self.failed += 1
                self.metrics.errors.labels("tiled_write_failed").inc()
                log.error("tiled: %s of run %s not written: %s: %s", name, run_uid,
                          type(exc).__name__, exc)
                if name == "start":
                    self._broken_runs.add(run_uid)
                return

    def _write_once(self, run_uid: str, name: str, doc: dict[str, Any]) -> None:
        assert self.writer is not None
        if name == "start":
            self._broken_runs.discard(run_uid)
        elif run_uid not in self.writer.runs:
            # Its start was refused (already logged) or never came: count, do not raise.
            if run_uid not in self._broken_runs:
                log.error("tiled: %s of run %s has no run to go to", name, run_uid)
                self._broken_runs.add(run_uid)
            self.failed += 1
            self.metrics.errors.labels("tiled_write_failed").inc()
            if name == "stop":
                self._broken_runs.discard(run_uid)
            return
        self.writer.write(run_uid, name, doc)
        self.written += 1


def _where(uri: str | None) -> str:
    """The server and path, without a query string that may carry an api_key."""
    return (uri or "").split("?", 1)[0]


def open_sink(settings: TiledSettings, metrics: Metrics) -> TiledSink | None:
    """The sink when ``tiled.uri`` is set, else None (the feature is off by default).
    ``SettingsError`` (a configuration error at start) when the tiled client is missing."""
    if not settings.uri:
        return None
    try:
        import pyarrow  # noqa: F401
        import tiled.client  # noqa: F401
    except ImportError as exc:
        raise SettingsError(f"tiled.uri is set but the tiled client is not installed "
                            f"(pip install 'edgestream[tiled]'): {exc}") from exc
    return TiledSink(settings, metrics)
