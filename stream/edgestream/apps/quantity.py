"""Which number of an annotation to follow: the quantity of interest, read the same way by
the live page and by the agent (``edgestream_agent`` imports it from here).

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgestream.errors import UnknownElement
from edgestream.physics import edge_energy

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
    # null: a compact annotation sent without its spectra (annotations.compact_spectra)
    norm = np.array([np.nan if v is None else v for v in a["spectrum"]["norm"] or ()], float)
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
