"""The Bluesky callback door: ``RE.subscribe(AnnotatingCallback(...))``, no Kafka needed.

The RunEngine only ever does a non-blocking ``put`` on a bounded queue; a worker thread runs
the pipeline. Nothing raises into the RunEngine: errors are logged and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from edgestream.pipeline import Outcome, Pipeline

log = logging.getLogger(__name__)

_STOP = object()


class AnnotatingCallback:
    """Annotate documents in-process; plans read results with ``latest``/``wait_for``."""

    def __init__(
        self,
        pipeline: Pipeline,
        max_queue: int = 10_000,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.on_annotation = on_annotation
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
            self.pipeline.metrics.errors.labels("callback_queue_full").inc()
            log.error("edgestream callback queue full: dropped a %s document", name)

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            name, doc = item
            try:
                out: Outcome = self.pipeline(name, doc)
            except Exception:  # a bug here must not kill the worker
                log.exception("edgestream callback failed on a %s document", name)
                continue
            for f in out.failures:
                log.warning("edgestream: %s: %s", f.error.reason, f.error.message)
            with self._done:
                for a in out.annotations:
                    self._by_run.setdefault(a["ids"]["run_uid"], []).append(a)
                    if self.on_annotation is not None:
                        self.on_annotation(a)
                if name == "stop" and isinstance(doc.get("run_start"), str):
                    self._finished_runs.add(doc["run_start"])
                self._done.notify_all()

    def latest(self, run_uid: str) -> list[dict[str, Any]]:
        with self._done:
            return list(self._by_run.get(run_uid, []))

    def wait_for(self, run_uid: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block (a plan, not the RunEngine's callback path) until the run is processed."""
        with self._done:
            self._done.wait_for(lambda: run_uid in self._finished_runs, timeout=timeout)
            return list(self._by_run.get(run_uid, []))

    def close(self, timeout: float = 10.0) -> None:
        self.queue.put(_STOP)
        self._worker.join(timeout)
