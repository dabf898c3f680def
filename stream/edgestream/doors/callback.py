"""The Bluesky callback door: ``RE.subscribe(AnnotatingCallback(...))``, no Kafka needed.

The RunEngine only ever does a non-blocking ``put`` on a bounded queue; a worker thread runs
the pipeline. Nothing raises into the RunEngine: errors are logged and counted. Plans read
results with ``latest``/``wait_for``, or, without blocking the RunEngine, with the plan stub
``wait_for_annotations``. Optionally every annotation is also published to Kafka.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from edgestream.pipeline import Outcome, Pipeline
from edgestream.publish.annotation import to_json
from edgestream.publish.derived import DerivedRuns

log = logging.getLogger(__name__)

_STOP = object()
QUEUE_LABEL = "callback"


class AnnotatingCallback:
    """Annotate documents in-process; plans read results with ``latest``/``wait_for``.

    ``producer`` (a ``KafkaProducer``) also publishes each annotation, keyed by run uid, on
    ``topic`` ("{beamline}" is the run's beamline, else the pipeline's default); sends are
    asynchronous and failures are counted, so acquisition never waits on the broker.
    ``tiled`` (an ``edgestream.publish.tiled.TiledSink``, or made from the pipeline's settings when
    ``tiled.uri`` is set) also writes each run's derived run into Tiled beside the raw run.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        max_queue: int = 10_000,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
        producer: Any | None = None,
        topic: str = "{beamline}.xas.annotations",
        tiled: Any | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = pipeline.metrics
        self.on_annotation = on_annotation
        self.producer = producer
        self.topic = topic
        if tiled is None and pipeline.settings.tiled.uri:
            from edgestream.publish.tiled import open_sink

            tiled = open_sink(pipeline.settings.tiled, pipeline.metrics)
        self.tiled = tiled
        self.derived = DerivedRuns()
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self._by_run: dict[str, list[dict[str, Any]]] = {}
        self._done = threading.Condition()
        self._finished_runs: set[str] = set()
        self._worker = threading.Thread(target=self._work, name="edgestream-callback",
                                        daemon=True)
        self._worker.start()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((name, doc))
        except queue.Full:  # never block acquisition; the loss is counted and logged
            self.dropped += 1
            self.metrics.errors.labels("callback_queue_full").inc()
            log.error("edgestream callback queue full: dropped a %s document", name)
        except Exception:  # nothing may raise into the RunEngine
            log.exception("edgestream callback could not queue a %s document", name)
        self.metrics.queue_depth.labels(QUEUE_LABEL).set(self.queue.qsize())

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            self.metrics.queue_depth.labels(QUEUE_LABEL).set(self.queue.qsize())
            if item is _STOP:
                return
            name, doc = item
            try:
                out: Outcome = self.pipeline(name, doc)
            except Exception:  # a bug here must not kill the worker
                log.exception("edgestream callback failed on a %s document", name)
                self.metrics.errors.labels("internal").inc()
                continue
            for f in out.failures:
                log.warning("edgestream: %s: %s", f.error.reason, f.error.message)
            for a in out.annotations:
                self._deliver(a)
            if self.tiled is not None:
                self._to_tiled(name, doc, out)
            with self._done:
                for a in out.annotations:
                    self._by_run.setdefault(a["ids"]["run_uid"], []).append(a)
                if name == "stop" and isinstance(doc.get("run_start"), str):
                    self._finished_runs.add(doc["run_start"])
                self._done.notify_all()

    def _deliver(self, a: dict[str, Any]) -> None:
        if self.producer is not None:
            a["timing"]["published_at"] = time.time()
            topic = self.topic.format(beamline=a.get("beamline") or
                                      self.pipeline.settings.beamline)
            try:
                fut = self.producer.send(topic, key=a["ids"]["run_uid"].encode(),
                                         value=to_json(a))
                fut.add_callback(lambda _: self._published(a))
                fut.add_errback(self._publish_failed)
            except Exception as exc:
                self._publish_failed(exc)
        if self.on_annotation is not None:
            try:
                self.on_annotation(a)
            except Exception:
                log.exception("on_annotation failed")
                self.metrics.errors.labels("internal").inc()

    def _to_tiled(self, name: str, doc: dict[str, Any], out: Outcome) -> None:
        try:
            docs = self.derived.on_annotations(out.annotations) if out.annotations else []
            if name == "stop" and isinstance(doc.get("run_start"), str):
                docs += [(doc["run_start"], n, d) for n, d in
                         self.derived.on_run_end(doc["run_start"])]
            self.tiled.submit(docs)
        except Exception:
            log.exception("edgestream callback could not make derived documents")
            self.metrics.errors.labels("internal").inc()

    def _published(self, a: dict[str, Any]) -> None:
        self.metrics.annotations.labels(a["kind"]).inc()
        t_event = a["timing"]["event_time"][1]
        if t_event > 0:
            self.metrics.latency.observe(max(0.0, time.time() - t_event))

    def _publish_failed(self, exc: BaseException) -> None:
        self.metrics.errors.labels("publish_failed").inc()
        log.error("edgestream callback could not publish an annotation: %s", exc)

    def latest(self, run_uid: str) -> list[dict[str, Any]]:
        with self._done:
            return list(self._by_run.get(run_uid, []))

    def finished(self, run_uid: str) -> bool:
        """True once the run's stop document has been processed."""
        with self._done:
            return run_uid in self._finished_runs

    def wait_for(self, run_uid: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block (a thread, never the RunEngine's callback path) until the run is processed."""
        with self._done:
            self._done.wait_for(lambda: run_uid in self._finished_runs, timeout=timeout)
            return list(self._by_run.get(run_uid, []))

    def close(self, timeout: float = 10.0) -> None:
        self.queue.put(_STOP)
        self._worker.join(timeout)
        if self.producer is not None:
            self.producer.flush(timeout=timeout)
        if self.tiled is not None:
            self.tiled.close(timeout)


def wait_for_annotations(
    callback: AnnotatingCallback, run_uid: str, timeout: float = 30.0, poll: float = 0.1
) -> Generator[Any, Any, list[dict[str, Any]]]:
    """Plan stub: wait (``bps.sleep``, so the RunEngine stays responsive to pause and
    abort) until ``run_uid`` is annotated; return its annotations (empty on timeout)."""
    import bluesky.plan_stubs as bps

    deadline = time.monotonic() + timeout
    while not callback.finished(run_uid) and time.monotonic() < deadline:
        yield from bps.sleep(poll)
    return callback.latest(run_uid)
