"""What an agent remembers per sample: placed observations, its suggestions, stop or go."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream_agent.observation import Observation
from edgestream_agent.strategies import Measurements


@dataclass(frozen=True)
class Suggestion:
    """One plan the agent asks for, with the annotation ids that led to it."""

    uid: str
    sample: str
    position: tuple[float, ...]
    plan_name: str
    plan_args: list[Any]
    plan_kwargs: dict[str, Any]
    annotation_ids: tuple[str, ...]
    reason: str
    score: float
    created: float = field(default_factory=time.time)

    def plan_item(self) -> dict[str, Any]:
        """The item as bluesky-queueserver's ``item_add`` takes it."""
        return {"item_type": "plan", "name": self.plan_name, "args": list(self.plan_args),
                "kwargs": dict(self.plan_kwargs)}

    def as_dict(self) -> dict[str, Any]:
        return {"uid": self.uid, "sample": self.sample, "position": list(self.position),
                "plan": self.plan_item(), "annotation_ids": list(self.annotation_ids),
                "reason": self.reason, "score": self.score, "created": self.created}


@dataclass
class SampleState:
    """Observations of one sample (deduplicated by annotation id) and what was asked."""

    name: str
    source: str | None = None  # the quantity's source, fixed by the first observation
    observations: list[Observation] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    pending: dict[str, Suggestion] = field(default_factory=dict)
    stopped: str | None = None  # why the agent stopped suggesting for this sample
    ignored: int = 0  # observations of another source than ``source``
    _seen: set[str] = field(default_factory=set)

    def add(self, obs: Observation) -> bool:
        """Keep ``obs`` unless already seen or of another quantity source than the first."""
        if obs.annotation_id in self._seen:
            return False
        if self.source is None:
            self.source = obs.quantity.source
        if obs.quantity.source != self.source:
            self.ignored += 1
            return False
        self._seen.add(obs.annotation_id)
        self.observations.append(obs)
        return True

    def measured(self, suggestion_uid: str | None) -> None:
        if suggestion_uid:
            self.pending.pop(suggestion_uid, None)

    def expire_pending(self, older_than_s: float) -> list[Suggestion]:
        """Forget suggestions that never came back (the plan failed or was removed)."""
        now = time.time()
        gone = [s for s in self.pending.values() if now - s.created > older_than_s]
        for s in gone:
            del self.pending[s.uid]
        return gone

    def measurements(self, axis: int = 0) -> Measurements:
        obs = self.observations
        sig = [o.quantity.sigma for o in obs]
        spectra = [o.spectrum for o in obs]
        return Measurements(
            x=np.array([o.position[axis] for o in obs], float),
            y=np.array([o.quantity.value for o in obs], float),
            sigma=None if any(s is None for s in sig) or not sig else np.array(sig, float),
            spectra=None if any(s is None for s in spectra) or not spectra else np.stack(spectra),
        )

    def annotation_ids(self, limit: int = 200) -> tuple[str, ...]:
        return tuple(o.annotation_id for o in self.observations[-limit:])
