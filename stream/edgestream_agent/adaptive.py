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
import logging
import math
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from edgestream.apps.quantity import QuantitySpec
from edgestream_agent.adaptive_runs import (
    DIRECTIVES,
    AdjudicatorPublisher,
    AgentDocuments,
    AnnotatedRun,
    AnnotatedRuns,
    AnnotationConsumer,
)
from edgestream_agent.base import choose
from edgestream_agent.observation import Observation
from edgestream_agent.positions import PositionSpec, position_of_documents
from edgestream_agent.strategies import Measurements, Strategy

with warnings.catch_warnings():  # 0.x warns that 1.0 is another package; we pin <1 on purpose
    warnings.simplefilter("ignore", FutureWarning)
    from bluesky_adaptive.agents.base import Agent

# The runs, consumer and publishers it is built with (``adaptive_runs``), importable from here.
__all__ = ["DIRECTIVES", "AdjudicatorPublisher", "AgentDocuments", "AnnotatedRun",
           "AnnotatedRuns", "AnnotationConsumer", "EdgestreamAgent"]

log = logging.getLogger(__name__)



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
