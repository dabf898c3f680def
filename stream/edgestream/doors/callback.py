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
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable
from typing import Any

from edgestream.pipeline import Outcome, Pipeline
from edgestream.publish.annotation import records
from edgestream.publish.policy import Message, PublishPolicy

log = logging.getLogger(__name__)

_STOP = object()
QUEUE_LABEL = "callback"
# Finished runs whose annotations plans can still read (``latest``, ``wait_for``): older ones
# are forgotten, so that a days-long beamtime holds a bounded memory.
KEEP_RUNS = 1000
# How often idle open runs are looked at (``run_timeout_s``, ``max_open_runs``)
EXPIRE_EVERY_S = 1.0


class AnnotatingCallback:
    """Annotate documents in-process; plans read results with ``latest``/``wait_for``.

    ``producer`` (a ``KafkaProducer``) also publishes each annotation, keyed by run uid, on
    ``topic`` ("{beamline}" is the run's beamline, else the pipeline's default), with the
    Kafka door's policy (``edgestream.publish.policy``: dead letters, derived documents, the
    size limit); sends are asynchronous and failures are counted, so acquisition never waits
    on the broker. ``tiled`` (an ``edgestream.publish.tiled.TiledSink``, or made from the
    pipeline's settings when ``tiled.uri`` is set) also writes each run's derived run into
    Tiled beside the raw run.

    Runs idle longer than ``run_timeout_s`` (or beyond ``max_open_runs``) expire as in the
    Kafka door: partial annotations, or a failure. The results of the last ``keep_runs``
    finished runs stay readable; older ones are forgotten.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        max_queue: int = 10_000,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
        producer: Any | None = None,
        topic: str = "{beamline}.xas.annotations",
        tiled: Any | None = None,
        keep_runs: int = KEEP_RUNS,
        expire_every_s: float = EXPIRE_EVERY_S,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = pipeline.metrics
        self.producer = producer
        self.topic = topic
        if tiled is None and pipeline.settings.tiled.uri:
            from edgestream.publish.tiled import open_sink

            tiled = open_sink(pipeline.settings.tiled, pipeline.metrics)
        self.policy = PublishPolicy(pipeline.settings, self.metrics,
                                    self._send if producer is not None else None,
                                    annotations_topic=topic, tiled=tiled,
                                    on_annotation=on_annotation)
        self.keep_runs = keep_runs
        self.expire_every_s = expire_every_s
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self._by_run: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._done = threading.Condition()
        self._finished_runs: OrderedDict[str, None] = OrderedDict()
        self._last_expiry = time.monotonic()
        self._worker = threading.Thread(target=self._work, name="edgestream-callback",
                                        daemon=True)
        self._worker.start()

    @property
    def tiled(self) -> Any:
        """The Tiled sink (None unless given or tiled.uri is set)."""
        return self.policy.tiled

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
            try:
                item = self.queue.get(timeout=self.expire_every_s)
            except queue.Empty:  # idle: open runs may have timed out meanwhile
                self._expire()
                continue
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
            ended = []
            if name == "start" and isinstance(doc.get("uid"), str):
                self.policy.note_run(doc["uid"], str(doc.get("beamline_id") or
                                                     self.pipeline.settings.beamline))
            if name == "stop" and isinstance(doc.get("run_start"), str):
                ended.append(doc["run_start"])
            self._publish(out, ended)
            if time.monotonic() - self._last_expiry > self.expire_every_s:
                self._expire()

    def _expire(self) -> None:
        """Runs idle over ``run_timeout_s`` (or beyond ``max_open_runs``) end as partial
        annotations or a failure, as in the Kafka door."""
        self._last_expiry = time.monotonic()
        open_before = set(self.pipeline.router.runs)
        try:
            out = self.pipeline.expire()
        except Exception:  # a bug here must not kill the worker
            log.exception("edgestream callback could not expire idle runs")
            self.metrics.errors.labels("internal").inc()
            return
        # an expired run may end with nothing to say (its spectra were out already)
        ended = open_before - set(self.pipeline.router.runs)
        ended |= {a["ids"]["run_uid"] for a in out.annotations}
        ended |= {f.run_uid for f in out.failures if f.run_uid is not None}
        ended |= {s.run_uid for s in out.skips}
        self._publish(out, sorted(ended))

    def _publish(self, out: Outcome, ended: Iterable[str]) -> None:
        ended = list(ended)
        try:
            batch = self.policy.publish(out, ended)
            self.policy.delivered(batch, acked=False)  # counted as the broker acknowledges
        except Exception:  # a bug here must not kill the worker
            log.exception("edgestream callback could not publish")
            self.metrics.errors.labels("internal").inc()
        with self._done:
            for a in (r for m in out.annotations for r in records(m)):  # compact: per spectrum
                self._by_run.setdefault(a["ids"]["run_uid"], []).append(a)
            for run_uid in ended:
                self._finished_runs.pop(run_uid, None)
                self._finished_runs[run_uid] = None
            self._forget_old_runs()
            self._done.notify_all()

    def _forget_old_runs(self) -> None:
        """Keep the results of the last ``keep_runs`` finished runs, and of open runs at most
        as many as the pipeline keeps open (the rest were dropped or expired there)."""
        while len(self._finished_runs) > self.keep_runs:
            uid, _ = self._finished_runs.popitem(last=False)
            self._by_run.pop(uid, None)
        bound = self.keep_runs + self.pipeline.settings.max_open_runs
        while len(self._by_run) > bound:
            self._by_run.popitem(last=False)

    def _send(self, m: Message) -> None:
        try:
            fut = self.producer.send(m.topic, key=m.key.encode() if m.key else None,
                                     value=m.value)
            if m.annotation is not None:
                fut.add_callback(lambda _, a=m.annotation: self.policy.acked(a))
            fut.add_errback(self._publish_failed, size=len(m.value))
        except Exception as exc:
            self._publish_failed(exc, len(m.value))

    def _publish_failed(self, exc: BaseException, size: int = 0) -> None:
        """A send failed (kafka-python calls errbacks with the exception)."""
        from kafka.errors import MessageSizeTooLargeError

        self.metrics.errors.labels("publish_failed").inc()
        log.error("edgestream callback could not publish to Kafka: %s", exc)
        if isinstance(exc, MessageSizeTooLargeError):  # the next ones stay under its limit
            self.policy.refused(size)

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
        self.policy.close(timeout)


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
