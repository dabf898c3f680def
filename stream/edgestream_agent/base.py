"""The agent: ingest annotations, suggest measurements, report (bluesky-adaptive's model).

``Agent`` keeps one ``SampleState`` per sample and turns a strategy's proposals into plan
items whose metadata carry ``agent_name``, ``agent_class``, ``agent_suggestion_uid`` and the
annotation ids the decision used; transports (queueserver, adjudicator topic, dry run)
deliver them. Subclasses say which strategy a sample gets and which plan measures a point.
"""

from __future__ import annotations

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from edgestream_agent.observation import (
    Observation,
    QuantitySpec,
    RunIndex,
    edge_grid,
    observe,
)
from edgestream_agent.positions import PositionSpec
from edgestream_agent.state import SampleState, Suggestion
from edgestream_agent.strategies import Measurements, Proposal, Strategy

log = logging.getLogger(__name__)

MAX_WAITING_RUNS = 10_000
# The edge whose spectra the agent keeps (k-means clusters them) unless configured otherwise
# (``AgentConfig.element``/``edge``, ``edgestream agent --element --edge``): the simulated
# gradient sample's.
DEFAULT_EDGE: tuple[str, str] = ("Cu", "K")


def choose(strategy: Strategy, m: Measurements, busy: list[float], room: int,
           min_separation: float) -> list[Proposal]:
    """Up to ``room`` of the strategy's proposals, none within ``min_separation`` of a
    position already asked for (``busy``) or of each other: a strategy that has not seen a
    pending point come back would otherwise propose it again."""
    if room <= 0:
        return []
    out: list[Proposal] = []
    for p in strategy.suggest(m, room + len(busy)):
        if any(abs(p.position - b) < min_separation for b in busy + [q.position for q in out]):
            continue
        out.append(p)
        if len(out) == room:
            break
    return out


class Transport(Protocol):
    """Where suggestions go (``transports.py``)."""

    def send(self, suggestions: list[Suggestion]) -> None: ...

    def close(self) -> None: ...


class Agent(ABC):
    """Per-sample state, ask on each new observation, deliver through ``transports``."""

    name = "agent"

    def __init__(
        self,
        *,
        quantity: QuantitySpec | None = None,
        transports: Sequence[Transport] = (),
        instance_name: str | None = None,
        ask_on_ingest: bool = True,
        max_pending: int = 1,
        pending_timeout_s: float = 600.0,
        min_separation: float = 1e-3,
        spectrum_edge: tuple[str, str] | None = DEFAULT_EDGE,
        position_keys: tuple[str, ...] = ("x",),
        positions: PositionSpec | None = None,
        on_report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.quantity = quantity or QuantitySpec()
        self.transports = list(transports)
        self.instance_name = instance_name or f"{self.name}-{uuid.uuid4().hex[:6]}"
        self.ask_on_ingest = ask_on_ingest
        self.max_pending = max_pending
        self.pending_timeout_s = pending_timeout_s
        self.min_separation = min_separation
        self.grid = edge_grid(*spectrum_edge) if spectrum_edge else None
        self.runs = RunIndex(position_keys=position_keys, positions=positions)
        self.skipped: Counter[str] = Counter()  # annotations not used, by reason
        # (reason, run) pairs already logged: an EELS image is a thousand annotations of one
        # run, and one line says why that run is not used (each one is still counted)
        self._said: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.samples: dict[str, SampleState] = {}
        self.on_report = on_report
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.RLock()

    @property
    def default_plan_md(self) -> dict[str, str]:
        cls = type(self)
        return {"agent_name": self.instance_name,
                "agent_class": f"{cls.__module__}.{cls.__qualname__}"}

    # -- what subclasses decide -----------------------------------------------------------
    @abstractmethod
    def strategy(self, sample: str) -> Strategy:
        """The strategy that steers ``sample`` (the same object on every call)."""

    @abstractmethod
    def measurement_plan(self, sample: str, position: float) -> tuple[str, list[Any],
                                                                    dict[str, Any]]:
        """Plan name, args and kwargs that measure ``sample`` at ``position``."""

    # -- the doors: documents and annotations ---------------------------------------------
    def on_document(self, name: str, doc: dict[str, Any]) -> list[Suggestion]:
        """Documents place the runs (start document, or the stream the positions come
        from); annotations that came before their run's position are ingested once it
        settles, or counted as skipped when it never will."""
        with self._lock:
            info = self.runs.document(name, doc)
            early = self._waiting.pop(info.run_uid, []) if info else []
        out: list[Suggestion] = []
        for a in early:
            out += self.on_annotation(a)
        return out

    def _skip(self, reason: str, detail: str, run_uid: str = "") -> list[Suggestion]:
        self.skipped[reason] += 1
        key = (reason, run_uid)
        if not run_uid or key not in self._said:
            log.warning("annotation not used (%s): %s", reason, detail)
            if run_uid:
                self._said[key] = None
                while len(self._said) > MAX_WAITING_RUNS:
                    self._said.popitem(last=False)
        return []

    def on_annotation(self, a: dict[str, Any]) -> list[Suggestion]:
        """Ingest one annotation and, if asked to, suggest what to measure next."""
        ids = a.get("ids") if isinstance(a.get("ids"), dict) else {}
        run_uid = ids.get("run_uid")
        with self._lock:
            if not isinstance(run_uid, str):
                return self._skip("no_run_uid", f"annotation {a.get('annotation_id')}")
            info = self.runs.get(run_uid)
            if info is None or not info.settled:  # its run's documents are still to come
                if run_uid not in self._waiting and len(self._waiting) >= MAX_WAITING_RUNS:
                    return self._skip("run_never_seen", f"{MAX_WAITING_RUNS} runs already "
                                      f"wait for their documents; run {run_uid} dropped")
                self._waiting.setdefault(run_uid, []).append(a)
                return []
            if info.position is None:
                return self._skip("no_position", f"run {run_uid}: {info.position_error}",
                                  run_uid)
            obs = observe(a, info, self.quantity, self.grid)
            if obs is None:
                return self._skip("no_quantity", f"run {run_uid}: none of "
                                  f"{', '.join((self.quantity.primary, *self.quantity.fallbacks))}"
                                  " is usable (missing, not finite or out of distribution)",
                                  run_uid)
            self.ingest(obs)
            if info.suggestion_uid:
                self._state(obs.sample or "unknown").measured(info.suggestion_uid)
        return self.suggest(obs.sample or "unknown") if self.ask_on_ingest else []

    # -- ingest / suggest / report --------------------------------------------------------
    def _state(self, sample: str) -> SampleState:
        if sample not in self.samples:
            self.samples[sample] = SampleState(sample)
        return self.samples[sample]

    def ingest(self, obs: Observation) -> dict[str, Any]:
        """Tell the agent one observation; returns what it now knows of that sample."""
        with self._lock:
            st = self._state(obs.sample or "unknown")
            added = st.add(obs)
            return {"sample": st.name, "added": added, "n": len(st.observations),
                    "position": list(obs.position), "value": obs.quantity.value}

    def suggest(self, sample: str, n: int | None = None) -> list[Suggestion]:
        """Ask the sample's strategy for the next points and send them (none once it stops)."""
        with self._lock:
            st = self._state(sample)
            for gone in st.expire_pending(self.pending_timeout_s):
                log.warning("suggestion %s for %s never came back; dropped", gone.uid, sample)
            if st.stopped:
                return []
            strategy = self.strategy(sample)
            m = st.measurements()
            if strategy.done(m):
                st.stopped = f"{strategy.name}: stop rule met after {len(m)} scans"
                log.info("%s: %s", sample, st.stopped)
                self._report()
                return []
            seeds_left = max(0, strategy.n_seed - len(m))
            room = max(self.max_pending, seeds_left) - len(st.pending) if n is None else n
            busy = [s.position[0] for s in st.pending.values()]
            out = [self._suggestion(st, p.position, p.reason, p.score)
                   for p in choose(strategy, m, busy, room, self.min_separation)]
            if not out:
                return []
            for s in out:
                st.pending[s.uid] = s
                st.suggestions.append(s)
        for t in self.transports:
            try:
                t.send(out)
            except Exception:  # one broken transport must not stop the others
                log.exception("transport %s failed", type(t).__name__)
        if out:
            self._report()
        return out

    def _suggestion(self, st: SampleState, position: float, reason: str,
                    score: float) -> Suggestion:
        uid = str(uuid.uuid4())
        ids = st.annotation_ids()
        name, args, kwargs = self.measurement_plan(st.name, position)
        kwargs = dict(kwargs)
        kwargs["md"] = {**kwargs.get("md", {}), **self.default_plan_md,
                        "agent_suggestion_uid": uid, "agent_annotation_ids": list(ids)}
        return Suggestion(uid, st.name, (float(position),), name, args, kwargs, ids, reason,
                          float(score))

    def report(self) -> dict[str, Any]:
        """Everything the agent knows, per sample: map, suggestions, strategy's view."""
        with self._lock:
            samples = {}
            for name, st in self.samples.items():
                m = st.measurements()
                samples[name] = {
                    "n_observations": len(st.observations),
                    "quantity": st.source,
                    "stopped": st.stopped,
                    "pending": [s.as_dict() for s in st.pending.values()],
                    "suggestions": [s.as_dict() for s in st.suggestions[-20:]],
                    "map": [{"x": float(x), "y": float(y)} for x, y in
                            zip(m.x, m.y, strict=True) if np.isfinite(y)],
                    "strategy": self.strategy(name).describe(m) if len(m) else {},
                }
            return {"agent_name": self.instance_name, "agent_class":
                    self.default_plan_md["agent_class"], "positions": self.runs.spec.describe(),
                    "skipped": dict(self.skipped), "samples": samples}

    def _report(self) -> None:
        if self.on_report is not None:
            try:
                self.on_report(self.report())
            except Exception:
                log.exception("on_report failed")

    def close(self) -> None:
        for t in self.transports:
            t.close()


class StageAgent(Agent):
    """Steers a 1-D sample stage: a fresh strategy per sample, one plan per position."""

    name = "edgestream-stage"

    def __init__(self, *, strategy_factory: Callable[[], Strategy], plan_name: str,
                 plan_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strategy_factory = strategy_factory
        self.plan_name = plan_name
        self.plan_kwargs = plan_kwargs or {}
        self._strategies: dict[str, Strategy] = {}

    def strategy(self, sample: str) -> Strategy:
        if sample not in self._strategies:
            self._strategies[sample] = self.strategy_factory()
        return self._strategies[sample]

    def measurement_plan(self, sample: str, position: float) -> tuple[str, list[Any],
                                                                    dict[str, Any]]:
        return self.plan_name, [round(float(position), 4)], {"sample_name": sample,
                                                            **self.plan_kwargs}
