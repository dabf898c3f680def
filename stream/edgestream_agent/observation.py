"""From an annotation to what an agent measures: the quantity of interest (``QuantitySpec``,
on the service's side in ``edgestream.apps.quantity``, which the live page reads too) and
where it was.

Positions come from the run's documents, which the agent reads from the documents topic:
the start document (``sample_position``, or named motor keys) or the baseline/primary
stream (``positions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgestream.apps.quantity import (
    E0_SHIFT,
    EDGE_AREA,
    Quantity,
    QuantitySpec,
    absolute_spectrum,
    edge_area,
    edge_grid,
)
from edgestream_agent.positions import PositionSpec, PositionTracker

__all__ = ["E0_SHIFT", "EDGE_AREA", "Observation", "Quantity", "QuantitySpec", "RunIndex",
           "RunInfo", "absolute_spectrum", "edge_area", "edge_grid", "observe"]


@dataclass(frozen=True)
class RunInfo:
    """What the agent needs from a run: its start document's facts and where it measured
    (``position`` None while unknown; ``position_error`` says why it never will be)."""

    run_uid: str
    sample: str | None
    position: tuple[float, ...] | None
    suggestion_uid: str | None = None
    agent_name: str | None = None
    position_error: str | None = None

    @property
    def settled(self) -> bool:
        return self.position is not None or self.position_error is not None


class RunIndex:
    """Runs by uid, their positions settled from their documents (``positions.py``);
    bounded: the oldest are forgotten first."""

    def __init__(self, position_keys: tuple[str, ...] = ("x",), max_runs: int = 100_000,
                 positions: PositionSpec | None = None) -> None:
        self.spec = positions or PositionSpec(keys=tuple(position_keys))
        self.max_runs = max_runs
        self.runs: dict[str, RunInfo] = {}
        self.tracker = PositionTracker(self.spec, max_runs)

    def start(self, doc: dict[str, Any]) -> RunInfo | None:
        uid = doc.get("uid")
        if not isinstance(uid, str):
            return None
        self.tracker.feed("start", doc)
        sample = doc.get("sample") or doc.get("sample_name")
        self.runs[uid] = RunInfo(uid, None if sample is None else str(sample), None,
                                 doc.get("agent_suggestion_uid"), doc.get("agent_name"))
        while len(self.runs) > self.max_runs:
            self.runs.pop(next(iter(self.runs)))
        return self._settle(uid)

    def document(self, name: str, doc: dict[str, Any]) -> RunInfo | None:
        """Any document of a run; the run's info when its position just settled."""
        if name == "start":
            return self.start(doc)
        uid = self.tracker.feed(name, doc)
        return self._settle(uid) if uid is not None else None

    def _settle(self, uid: str) -> RunInfo | None:
        info, state = self.runs.get(uid), self.tracker.get(uid)
        if info is None or state is None:
            return None
        info = replace(info, position=state.position, position_error=state.error)
        self.runs[uid] = info
        return info

    def wants(self, descriptor_uid: Any) -> bool:
        return self.tracker.wants(descriptor_uid)

    def get(self, run_uid: str) -> RunInfo | None:
        return self.runs.get(run_uid)


@dataclass(frozen=True)
class Observation:
    """One annotated spectrum, placed: the unit an agent ingests."""

    annotation_id: str
    run_uid: str
    sample: str | None
    position: tuple[float, ...]
    quantity: Quantity
    spectrum: np.ndarray | None = None
    time: float = 0.0


def observe(a: dict[str, Any], info: RunInfo, spec: QuantitySpec,
            grid: np.ndarray | None = None) -> Observation | None:
    """An Observation from an annotation and its run, or None when it has no quantity."""
    q = spec.extract(a)
    if q is None or info.position is None:
        return None
    return Observation(
        annotation_id=a["annotation_id"], run_uid=a["ids"]["run_uid"],
        sample=info.sample or a.get("sample"), position=info.position, quantity=q,
        spectrum=None if grid is None else absolute_spectrum(a, grid),
        time=float(a.get("timing", {}).get("event_time", [0.0, 0.0])[1]),
    )
