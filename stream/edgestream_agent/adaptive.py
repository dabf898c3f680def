"""Our agent as a bluesky-adaptive agent: ``EdgestreamAgent`` subclasses
``bluesky_adaptive.agents.base.Agent`` and steers one sample with an edgestream strategy
(the boundary finder by default) on edgestream's annotations.

bluesky-adaptive's contract, as its base class calls it:

- ``unpack_run(run) -> (x, y)``: ``x`` the run's sample position (``PositionSpec``: start
  document, or the first/last reading of the baseline or primary stream), ``y`` =
  ``[value, sigma]`` of the configured quantity (``valence.value`` ± its uncertainty, with
  the fallbacks of ``QuantitySpec``) over the run's annotations. A run without either raises
  ``KeyError`` with the reason, which the base class logs and skips;
- ``ingest(x, y)`` (alias ``tell``), ``suggest(batch_size) -> (docs, points)`` (alias
  ``ask``), ``report()``, ``measurement_plan(point) -> (plan_name, args, kwargs)``, ``name``;
  the docs they return are flat (numbers, strings, arrays): the base class writes them as
  events of the agent's own run (``tiled_agent_node``);
- queue and adjudicator: the base class's own ``add_suggestions_to_queue`` (``item_add``
  of a ``BPlan`` on ``qserver``, any ``REManagerAPI`` of bluesky-queueserver-api, HTTP or
  0MQ: ``transports.re_manager_api``) and ``generate_suggestions_for_adjudicator``
  (``kafka_producer``: ``AdjudicatorPublisher``).

Where the run's position joins its annotation. The annotations carry only the run uid.
Two ways were open: the service copies configured position keys into each annotation, or
the agent reads the raw documents topic too. The agent reads the documents topic
(``AnnotationConsumer``), because (1) the position keys are the agent's business: several
agents with different stages can share one service, and a service never needs restarting
to steer on another motor; (2) annotations published before an agent was configured (a
restarted agent re-reads the topics) still find their positions; (3) it is what
bluesky-adaptive agents already do (their ``AgentConsumer`` subscribes to
``<tla>.bluesky.runengine.documents``), and it costs little: only start, descriptor and stop
documents and the events of the position stream are decoded (``runner.peek`` reads an
event's descriptor uid and skips its data). The trigger is the annotation, not the stop
document: the service annotates a step scan when it stops, so at the stop document there is
nothing to ingest yet. Each annotation whose run's position has settled is ingested as
bluesky-adaptive's stop router would ingest a run (``ingest_annotation``); ``exp_catalog``
(``AnnotatedRuns``) maps run uids to ``AnnotatedRun`` s, so ``ingest_uids`` re-tells whole runs.

Importing this module needs the ``agent`` extra (bluesky-adaptive 0.x: 1.0 dropped the
Agent base class).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgpack
import numpy as np

from edgestream.documents.wire import encode
from edgestream_agent.base import MAX_WAITING_RUNS, choose
from edgestream_agent.observation import Observation, QuantitySpec, RunIndex
from edgestream_agent.positions import PositionSpec, position_of_documents
from edgestream_agent.runner import peek
from edgestream_agent.strategies import Measurements, Strategy

with warnings.catch_warnings():  # 0.x warns that 1.0 is another package; we pin <1 on purpose
    warnings.simplefilter("ignore", FutureWarning)
    from bluesky_adaptive.agents.base import Agent

log = logging.getLogger(__name__)

# What a Kafka directive may call (bluesky-adaptive registers these with its agent server).
DIRECTIVES = ("add_suggestions_to_queue", "generate_suggestions_for_adjudicator",
              "generate_report", "ingest_uids", "update_priority",
              "enable_continuous_suggesting", "disable_continuous_suggesting",
              "enable_continuous_reporting", "disable_continuous_reporting",
              "enable_direct_to_queue", "disable_direct_to_queue")


class AnnotatedRun:
    """A run as the agent sees it: the documents that place it and edgestream's annotations
    of it. Enough of bluesky-adaptive's ``BlueskyRunLike`` for ``unpack_run``: ``start``,
    ``stop``, ``metadata``, ``documents()``."""

    def __init__(self, uid: str, docs: list[tuple[str, dict[str, Any]]],
                 annotations: list[dict[str, Any]]) -> None:
        self.uid = uid
        self.docs = docs
        self.annotations = annotations

    @property
    def start(self) -> dict[str, Any]:
        return next(d for n, d in self.docs if n == "start")

    @property
    def stop(self) -> dict[str, Any] | None:
        return next((d for n, d in self.docs if n == "stop"), None)

    @property
    def metadata(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop}

    def documents(self, fill: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.docs

    def only(self, annotation: dict[str, Any]) -> AnnotatedRun:
        """The same run with one annotation: what one ingest learns."""
        return AnnotatedRun(self.uid, self.docs, [annotation])


class AnnotatedRuns(Mapping[str, AnnotatedRun]):
    """Runs assembled from the documents and annotations topics: the agent's
    ``exp_catalog``. Keeps the documents that place each run (start, descriptors, the
    position stream's events, stop), bounded to ``max_runs``; annotations that come before
    their run's position wait, and are counted as skipped with a reason when it never
    comes."""

    def __init__(self, positions: PositionSpec | None = None, max_runs: int = 10_000) -> None:
        self.index = RunIndex(positions=positions or PositionSpec(), max_runs=max_runs)
        self.max_runs = max_runs
        self._docs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._annotations: dict[str, list[dict[str, Any]]] = {}
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        self.skipped: Counter[str] = Counter()
        self._lock = threading.RLock()

    @property
    def spec(self) -> PositionSpec:
        return self.index.spec

    def wants(self, descriptor_uid: Any) -> bool:
        return self.index.wants(descriptor_uid)

    def _skip(self, reason: str, n: int, detail: str) -> None:
        self.skipped[reason] += n
        log.warning("%d annotation(s) not used (%s): %s", n, reason, detail)

    def document(self, name: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one document; the waiting annotations it makes ready to ingest."""
        with self._lock:
            run_uid = doc.get("uid") if name == "start" else doc.get("run_start")
            if name in ("event", "event_page"):
                run_uid = self.index.tracker.run_of(doc.get("descriptor"))
            if isinstance(run_uid, str) and (name == "start" or run_uid in self._docs):
                self._docs.setdefault(run_uid, []).append((name, self._slim(name, doc)))
                while len(self._docs) > self.max_runs:
                    gone = next(iter(self._docs))
                    self._docs.pop(gone)
                    self._annotations.pop(gone, None)
            info = self.index.document(name, doc)
            if info is None:
                return []
            ready = self._waiting.pop(info.run_uid, [])
            if info.position is None:
                if ready:
                    self._skip("no_position", len(ready), f"run {info.run_uid}: "
                               f"{info.position_error}")
                return []
            self._annotations.setdefault(info.run_uid, []).extend(ready)
            return ready

    def _slim(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Events keep only the position keys: a primary stream's detector pages would
        otherwise be held for every run."""
        if name not in ("event", "event_page"):
            return doc
        keys = self.spec.keys
        return {**doc, "data": {k: v for k, v in (doc.get("data") or {}).items() if k in keys},
                "timestamps": {k: v for k, v in (doc.get("timestamps") or {}).items()
                               if k in keys}, "filled": {}}

    def annotation(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one annotation; itself when its run is placed, else nothing (it waits)."""
        ids = a.get("ids") if isinstance(a.get("ids"), dict) else {}
        run_uid = ids.get("run_uid")
        with self._lock:
            if not isinstance(run_uid, str):
                self._skip("no_run_uid", 1, f"annotation {a.get('annotation_id')}")
                return []
            info = self.index.get(run_uid)
            if info is None or not info.settled:
                if run_uid not in self._waiting and len(self._waiting) >= MAX_WAITING_RUNS:
                    self._skip("run_never_seen", 1, f"run {run_uid}")
                    return []
                self._waiting.setdefault(run_uid, []).append(a)
                return []
            if info.position is None:
                self._skip("no_position", 1, f"run {run_uid}: {info.position_error}")
                return []
            self._annotations.setdefault(run_uid, []).append(a)
            return [a]

    def __getitem__(self, uid: str) -> AnnotatedRun:
        with self._lock:
            return AnnotatedRun(uid, list(self._docs[uid]), list(self._annotations.get(uid, [])))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._docs))

    def __len__(self) -> int:
        return len(self._docs)


class AgentDocuments:
    """The agent's own run (``tiled_agent_node``): bluesky-adaptive writes its start,
    ``ingest``/``suggest``/``report`` events and stop here through ``v1.insert``. Kept in
    memory (the last ``maxlen``) and handed to ``on_document`` (e.g. a Kafka publisher)."""

    def __init__(self, on_document: Callable[[str, dict[str, Any]], None] | None = None,
                 maxlen: int = 10_000) -> None:
        self.documents: list[tuple[str, dict[str, Any]]] = []
        self.on_document = on_document
        self.maxlen = maxlen
        outer = self

        class _V1:
            def insert(self, name: str, doc: dict[str, Any]) -> None:
                outer.insert(name, doc)

        self.v1 = _V1()

    def insert(self, name: str, doc: dict[str, Any]) -> None:
        self.documents.append((name, doc))
        del self.documents[:-self.maxlen]
        if self.on_document is not None:
            self.on_document(name, doc)

    def events(self, stream: str) -> list[dict[str, Any]]:
        """The data of the events of one of the agent's streams, in order."""
        descs = {d["uid"] for n, d in self.documents if n == "descriptor" and d["name"] == stream}
        return [d["data"] for n, d in self.documents if n == "event" and d["descriptor"] in descs]

    def __getitem__(self, key: str) -> Any:  # bluesky-adaptive's TiledSmoke answers None too
        raise KeyError(key)


class AdjudicatorPublisher:
    """bluesky-adaptive's ``kafka_producer``: ``(name, doc)`` as one msgpack message on the
    adjudicator topic through a kafka-python producer (facility security and all)."""

    def __init__(self, producer: Any, topic: str, key: str, timeout: float = 10.0) -> None:
        self.producer = producer
        self.topic = topic
        self.key = key.encode()
        self.timeout = timeout

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.producer.send(self.topic, key=self.key, value=encode(name, doc)).get(
            timeout=self.timeout)

    def flush(self) -> None:
        self.producer.flush()


class AnnotationConsumer:
    """bluesky-adaptive's ``kafka_consumer`` for edgestream: reads the documents topic (to
    place runs) and the annotations topic (to ingest), and hands each annotation whose run
    is placed to ``agent.ingest_annotation``. ``feed_document``/``feed_annotation`` are the
    doors, from Kafka (``start``) or from any other source."""

    def __init__(self, runs: AnnotatedRuns, kafka: Any = None, documents_topic: str = "",
                 annotations_topic: str = "", group_id: str | None = None) -> None:
        self.runs = runs
        self.kafka = kafka
        self.documents_topic = documents_topic
        self.annotations_topic = annotations_topic
        self.group_id = group_id
        self.agent: EdgestreamAgent | None = None
        self.callbacks: list[Callable[[str, dict[str, Any]], Any]] = []
        self.counts = {"documents": 0, "annotations": 0, "ingested": 0, "directives": 0,
                       "bad": 0}
        self._stop = threading.Event()
        self.ready = threading.Event()  # partitions assigned
        self.caught_up = threading.Event()  # a poll came back empty: history replayed

    def set_agent(self, agent: EdgestreamAgent) -> None:
        self.agent = agent

    def subscribe(self, callback: Callable[[str, dict[str, Any]], Any]) -> None:
        """The base class subscribes its stop router; stop documents alone trigger nothing
        here (see the module docstring), the annotations do."""
        self.callbacks.append(callback)

    def feed_document(self, name: str, doc: dict[str, Any]) -> int:
        self.counts["documents"] += 1
        return self._ingest(self.runs.document(name, doc))

    def feed_annotation(self, a: dict[str, Any]) -> int:
        self.counts["annotations"] += 1
        return self._ingest(self.runs.annotation(a))

    def _ingest(self, ready: list[dict[str, Any]]) -> int:
        if self.agent is None:
            raise RuntimeError("AnnotationConsumer has no agent (set_agent)")
        for a in ready:
            self.agent.ingest_annotation(a["ids"]["run_uid"], a)
        self.counts["ingested"] += len(ready)
        return len(ready)

    def handle(self, topic: str, value: bytes | None) -> None:
        """One Kafka message of either topic."""
        if topic == self.documents_topic:
            got = peek(value, self.runs.wants)
            if got is not None:
                self.feed_document(*got)
            elif self.agent is not None:
                self._directive(value)
            return
        try:
            a = json.loads(value or b"")
        except ValueError:
            self.counts["bad"] += 1
            return
        if isinstance(a, dict) and "annotation_id" in a:
            self.feed_annotation(a)

    def _directive(self, value: bytes | None) -> None:
        """bluesky-adaptive's ``AgentConsumer`` directives: a ``[instance_name, {"action",
        "args", "kwargs"}]`` message on the documents topic calls that agent method. Only
        the methods bluesky-adaptive registers for its own server are callable here."""
        assert self.agent is not None
        try:
            up = msgpack.Unpacker(strict_map_key=False)
            up.feed(value or b"")
            if up.read_array_header() != 2 or up.unpack() != self.agent.instance_name:
                return
            doc = up.unpack()
            action, args, kwargs = doc["action"], list(doc.get("args", [])), \
                dict(doc.get("kwargs", {}))
        except Exception:  # not a directive (or not one we can read): not ours to judge
            return
        if action not in DIRECTIVES:
            log.warning("directive %r for %s refused: allowed are %s", action,
                        self.agent.instance_name, ", ".join(DIRECTIVES))
            self.counts["bad"] += 1
            return
        try:
            getattr(self.agent, action)(*args, **kwargs)
            self.counts["directives"] += 1
        except Exception:
            log.exception("directive %s%s for %s failed", action, tuple(args),
                          self.agent.instance_name)
            self.counts["bad"] += 1

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Poll both topics until ``stop`` (the base class runs this in its thread)."""
        if self.kafka is None:
            self.caught_up.set()
            return
        from edgestream.doors.kafka.clients import make_consumer

        consumer = make_consumer(self.kafka, group_id=self.group_id,
                                 auto_offset_reset="earliest")
        consumer.subscribe([self.documents_topic, self.annotations_topic])
        try:
            while not self._stop.is_set():
                records = consumer.poll(200)
                if consumer.assignment():
                    self.ready.set()
                    if not records:
                        self.caught_up.set()
                # Documents first: an annotation is placed by its run's documents.
                for tp, messages in sorted(records.items(),
                                           key=lambda kv: kv[0].topic != self.documents_topic):
                    for msg in messages:
                        try:
                            self.handle(tp.topic, msg.value)
                        except Exception:  # an agent bug must not end the process
                            log.exception("agent failed on %s@%d", tp.topic, msg.offset)
        finally:
            consumer.close()

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self._stop.set()


class EdgestreamAgent(Agent):
    """A bluesky-adaptive agent that steers one sample along the first position key with
    an edgestream ``Strategy`` on the quantity ``quantity`` of edgestream's annotations.

    ``agent_kwargs`` are bluesky-adaptive's (``kafka_consumer``, ``qserver``,
    ``kafka_producer``, ``tiled_data_node``, ``tiled_agent_node``, ``direct_to_queue``,
    ``report_on_ingest``, ...); ``tiled_data_node`` is the ``AnnotatedRuns`` the consumer
    fills unless another catalog of ``AnnotatedRun``-like runs is given.
    """

    def __init__(self, *, strategy: Strategy, plan_name: str,
                 quantity: QuantitySpec | None = None, positions: PositionSpec | None = None,
                 plan_kwargs: dict[str, Any] | None = None, plan_motor: str | None = None,
                 sample: str | None = None, agent_name: str = "edgestream",
                 min_separation: float = 1e-3, match_tolerance: float = 0.01,
                 pending_timeout_s: float = 3600.0, **agent_kwargs: Any) -> None:
        self.strategy = strategy
        self.quantity = quantity or QuantitySpec()
        # One spec for the catalog that places runs and for unpack_run that reads them.
        self.positions = positions or getattr(agent_kwargs.get("tiled_data_node"), "spec",
                                              None) or PositionSpec()
        self.plan_name = plan_name
        self.plan_kwargs = plan_kwargs or {}
        self.plan_motor = plan_motor
        self.sample = sample
        self._name = agent_name
        self.min_separation = min_separation
        self.match_tolerance = match_tolerance
        self.pending_timeout_s = pending_timeout_s
        self.x: list[float] = []
        self.y: list[float] = []
        self.sigma: list[float] = []
        self.pending: list[tuple[float, float]] = []  # (position, time asked)
        self.stopped: str | None = None
        self.skipped: Counter[str] = Counter()
        self._lock = threading.RLock()
        super().__init__(**agent_kwargs)

    # -- bluesky-adaptive's contract --------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{self._name}-{self.strategy.name}"

    def measurement_plan(self, point: Any) -> tuple[str, list[Any], dict[str, Any]]:
        """``plan_name(x)``, or ``plan_name(plan_motor, x)`` (BMM's agent plans take the
        motor, then the position), with ``sample_name`` and the configured kwargs."""
        x = round(float(np.ravel(point)[0]), 4)
        args: list[Any] = [self.plan_motor, x] if self.plan_motor else [x]
        kwargs = copy.deepcopy(self.plan_kwargs)
        if self.sample is not None:
            kwargs.setdefault("sample_name", self.sample)
        return self.plan_name, args, kwargs

    def unpack_run(self, run: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(position, [value, sigma])`` of a run; ``KeyError`` with the reason if it has
        no position or no usable quantity (bluesky-adaptive logs those and moves on)."""
        where = position_of_documents(run.documents(), self.positions)
        if where.position is None:
            raise KeyError(f"run {getattr(run, 'uid', '?')}: no position: {where.error}")
        qs = [q for q in (self.quantity.extract(a) for a in getattr(run, "annotations", []))
              if q is not None]
        if not qs:
            raise KeyError(f"run {getattr(run, 'uid', '?')}: no usable "
                           f"{self.quantity.primary} (nor fallback) in its annotations")
        source = qs[0].source  # one quantity per sample: never mix units
        values = np.array([q.value for q in qs if q.source == source])
        sig = [q.sigma for q in qs if q.source == source]
        # Repeat spectra of one run: their mean, and the σ of the mean when each has one.
        sigma = math.sqrt(sum(s * s for s in sig)) / len(sig) if all(
            s is not None for s in sig) else math.nan
        return np.array(where.position, float), np.array([values.mean(), sigma])

    def ingest(self, independent_variable: Any, dependent_variable: Any = None
               ) -> dict[str, Any]:
        """Tell the agent one measurement; the pending suggestion it answers is cleared."""
        x = float(np.ravel(independent_variable)[0])
        y = np.ravel(np.asarray(dependent_variable, float))
        value = float(y[0])
        sigma = float(y[1]) if len(y) > 1 and np.isfinite(y[1]) else math.nan
        with self._lock:
            self.x.append(x)
            self.y.append(value)
            self.sigma.append(sigma)
            if self.pending:
                i = int(np.argmin([abs(p - x) for p, _ in self.pending]))
                if abs(self.pending[i][0] - x) <= self.match_tolerance:
                    self.pending.pop(i)
            return {"position": np.ravel(independent_variable).astype(float), "value": value,
                    "sigma": sigma, "n_observations": len(self.x)}

    def tell(self, x: Any, y: Any) -> dict[str, Any]:
        """bluesky-adaptive's earlier name of ``ingest``."""
        return self.ingest(x, y)

    def measurements(self) -> Measurements:
        with self._lock:
            sig = np.array(self.sigma, float)
            return Measurements(np.array(self.x, float), np.array(self.y, float),
                                sig if len(sig) and np.all(np.isfinite(sig)) else None)

    def suggest(self, batch_size: int) -> tuple[list[dict[str, Any]], list[float]]:
        """Up to ``batch_size`` positions from the strategy (none once its stop rule is
        met), away from positions asked for and not yet measured."""
        with self._lock:
            now = time.time()
            self.pending = [(p, t) for p, t in self.pending if now - t <= self.pending_timeout_s]
            m = self.measurements()
            if self.stopped or self.strategy.done(m):
                if not self.stopped:
                    self.stopped = f"{self.strategy.name}: stop rule met after {len(m)} scans"
                    log.info("%s: %s", self.instance_name, self.stopped)
                return [], []
            props = choose(self.strategy, m, [p for p, _ in self.pending], batch_size,
                           self.min_separation)
            self.pending += [(p.position, now) for p in props]
            docs = [{"reason": p.reason, "score": float(p.score),
                     "n_observations": len(m)} for p in props]
            return docs, [float(p.position) for p in props]

    def ask(self, batch_size: int) -> tuple[list[dict[str, Any]], list[float]]:
        """bluesky-adaptive's earlier name of ``suggest``."""
        return self.suggest(batch_size)

    def report(self, **kwargs: Any) -> dict[str, Any]:
        """Flat (a Bluesky event's data): the map so far and the strategy's boundaries."""
        with self._lock:
            m = self.measurements()
            view = self.strategy.describe(m) if len(m) >= 2 else {}
            bounds = view.get("boundaries", [])
            return {
                "strategy": self.strategy.name, "n_observations": len(m),
                "stopped": self.stopped or "", "positions": self.positions.describe(),
                "quantity": self.quantity.primary,
                "x": m.x.copy(), "y": m.y.copy(),
                "boundary_center": np.array([b["center"] for b in bounds], float),
                "boundary_lo": np.array([b["interval95"][0] for b in bounds], float),
                "boundary_hi": np.array([b["interval95"][1] for b in bounds], float),
                "boundary_found": np.array([bool(b["found"]) for b in bounds], bool),
                "pending": np.array([p for p, _ in self.pending], float),
                "skipped": int(sum(self.skipped.values()) + self._catalog_skips()),
            }

    def ingest_observations(self, observations: Iterable[Observation]) -> int:
        """Prime the agent with observations read elsewhere (``tiled_source.TiledSource``
        reads them from Tiled): each is told as one measurement, as ``ingest_uids`` re-tells
        runs; observations of another quantity source than the first are left out (units
        never mix). Returns how many were told."""
        told, source = 0, None
        for obs in observations:
            source = source or obs.quantity.source
            if obs.quantity.source != source:
                self.skipped["other_quantity"] += 1
                continue
            sigma = math.nan if obs.quantity.sigma is None else obs.quantity.sigma
            doc = self.ingest(np.array(obs.position, float), np.array([obs.quantity.value,
                                                                       sigma]))
            if self._compose_run_bundle is not None:  # started: record it like any ingest
                self._write_event("ingest", {**doc, "exp_uid": obs.run_uid,
                                             "annotation_id": obs.annotation_id})
            told += 1
        return told

    # -- edgestream's trigger: one annotation at a time -----------------------------------
    def _catalog_skips(self) -> int:
        skipped = getattr(self.exp_catalog, "skipped", None)
        return int(sum(skipped.values())) if skipped else 0

    def ingest_annotation(self, run_uid: str, annotation: dict[str, Any]) -> None:
        """What the base class's stop router does for a run, for one annotation of it:
        unpack, ingest (an ``ingest`` event), report and suggest as configured."""
        run = self.exp_catalog[run_uid]
        run = run.only(annotation) if hasattr(run, "only") else run
        try:
            x, y = self.unpack_run(run)
        except KeyError as exc:
            self.skipped["unusable"] += 1
            log.warning("annotation %s not used: %s", annotation.get("annotation_id"),
                        exc.args[0] if exc.args else exc)
            return
        doc = self.ingest(x, y)
        doc["exp_uid"] = run_uid
        doc["annotation_id"] = str(annotation.get("annotation_id"))
        self._write_event("ingest", doc)
        self.known_uid_cache.append(run_uid)
        if self.report_on_ingest:
            self.generate_report(**self.default_report_kwargs)
        if self.suggest_on_ingest:
            if self._direct_to_queue:
                self.add_suggestions_to_queue(1)
            else:
                self.generate_suggestions_for_adjudicator(1)
