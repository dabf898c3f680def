"""From an annotation to what an agent measures: the quantity of interest and where it was.

The quantity comes from a configurable prediction (plugin name + output key, with an
optional uncertainty key); while that plugin is not installed, or gives nothing usable,
the fallbacks apply in order:

- ``edge_area``: the edge position from the area above the normalized spectrum,
  ``E_a + ∫(1 - μ̃) dE`` over ``[E_edge + a, E_edge + b]`` (default -3..+16 eV), given in
  eV relative to the tabulated edge ``E_edge``. Linear in the phase fractions of a
  mixture, so a boundary's midpoint is where the fractions cross, and steadier than e0
  (which jumps between edge features);
- another ``plugin.output`` (e.g. ``edge_features.edge_shift_ev``);
- ``e0_shift``: e0 minus the tabulated edge energy (eV).

Positions come from the run's documents, which the agent reads from the documents topic:
the start document (``sample_position``, or named motor keys) or the baseline/primary
stream (``positions.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgestream.errors import UnknownElement
from edgestream.physics import edge_energy
from edgestream_agent.positions import PositionSpec, PositionTracker

E0_SHIFT = "e0_shift"
EDGE_AREA = "edge_area"


@dataclass(frozen=True)
class Quantity:
    value: float
    sigma: float | None
    source: str  # "valence.value", "edge_features.edge_shift_ev" or "e0_shift"


@dataclass(frozen=True)
class QuantitySpec:
    """Which number of an annotation the agent steers on."""

    plugin: str = "valence"
    output: str = "value"
    uncertainty: str | None = "uncertainty"
    fallbacks: tuple[str, ...] = (EDGE_AREA, "edge_features.edge_shift_ev", E0_SHIFT)
    area_window: tuple[float, float] = (-3.0, 16.0)

    @classmethod
    def parse(cls, text: str, uncertainty: str | None = None,
              fallbacks: tuple[str, ...] | None = None) -> QuantitySpec:
        """``"valence.value"`` → plugin "valence", output "value"."""
        plugin, _, output = text.partition(".")
        if not plugin or not output:
            raise ValueError(f"quantity must be PLUGIN.OUTPUT, not {text!r}")
        kw: dict[str, Any] = {"plugin": plugin, "output": output, "uncertainty": uncertainty}
        if fallbacks is not None:
            kw["fallbacks"] = fallbacks
        return cls(**kw)

    @classmethod
    def only(cls, source: str, uncertainty: str | None = None) -> QuantitySpec:
        """Exactly one source, no fallback (a sample's quantity never changes units)."""
        if source in (E0_SHIFT, EDGE_AREA):
            return cls("", "", None, (source,))
        plugin, _, output = source.partition(".")
        return cls(plugin, output, uncertainty, ())

    @property
    def primary(self) -> str:
        return f"{self.plugin}.{self.output}"

    def extract(self, annotation: dict[str, Any]) -> Quantity | None:
        """The first usable source, in order; None when none applies."""
        for source in (self.primary, *self.fallbacks):
            q = self._from(source, annotation)
            if q is not None:
                return q
        return None

    def _from(self, source: str, a: dict[str, Any]) -> Quantity | None:
        if source in (E0_SHIFT, EDGE_AREA):
            try:
                ref = edge_energy(a["element"], _main_edge(a["edge"]))
            except (UnknownElement, KeyError, TypeError, AttributeError):
                return None
            if source == E0_SHIFT:
                return _quantity(a.get("e0"), None, source, offset=ref)
            lo, hi = ref + self.area_window[0], ref + self.area_window[1]
            return _quantity(edge_area(a, lo, hi), None, source, offset=ref)
        plugin, _, output = source.partition(".")
        for p in a.get("predictions", []):
            if p.get("plugin") != plugin:
                continue
            outputs = p.get("outputs") or {}
            if outputs.get("ood") is True:  # out of distribution: not a measurement to steer on
                return None
            sigma = outputs.get(self.uncertainty) if source == self.primary and \
                self.uncertainty else None
            return _quantity(outputs.get(output), sigma, source)
        return None


def _main_edge(edge: str) -> str:
    return "L3" if edge.replace(" ", "").upper() in ("L2,3", "L23") else edge


def _quantity(value: Any, sigma: Any, source: str, offset: float = 0.0) -> Quantity | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    s = float(sigma) if isinstance(sigma, int | float) and math.isfinite(sigma) else None
    return Quantity(float(value) - offset, s, source)


def absolute_spectrum(a: dict[str, Any], grid: np.ndarray) -> np.ndarray:
    """The annotation's normalized spectrum on an absolute energy ``grid`` (eV); NaN outside."""
    g = a["spectrum"]["grid"]
    rel = np.arange(g["start"], g["stop"] + g["step"] / 2, g["step"])
    norm = np.array([np.nan if v is None else v for v in a["spectrum"]["norm"]], float)
    energy = a["e0"] + rel[: len(norm)]
    ok = np.isfinite(norm)
    if ok.sum() < 2:
        return np.full(len(grid), np.nan)
    return np.interp(grid, energy[ok], norm[ok], left=np.nan, right=np.nan)


def edge_area(a: dict[str, Any], lo: float, hi: float, step: float = 0.25) -> float:
    """``lo + ∫(1 - μ̃) dE`` over [lo, hi] eV; NaN unless the spectrum covers the window."""
    grid = np.arange(lo, hi + step / 2, step)
    mu = absolute_spectrum(a, grid)
    if not np.all(np.isfinite(mu)):
        return float("nan")
    return float(lo + np.sum((1.0 - 0.5 * (mu[1:] + mu[:-1])) * np.diff(grid)))


def edge_grid(element: str, edge: str, start: float = -20.0, stop: float = 60.0,
              step: float = 0.5) -> np.ndarray:
    """An absolute energy grid (eV) around the tabulated edge, for comparing spectra."""
    e = edge_energy(element, _main_edge(edge))
    return e + np.arange(start, stop + step / 2, step)


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
