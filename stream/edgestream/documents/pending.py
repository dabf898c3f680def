"""Streams whose names did not settle the spectrum: their events wait for the run's stop,
when the data decide (``infer.py``); and the record of a run that ends without a spectrum."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgestream.documents.assemble import average_repeats, to_ev
from edgestream.documents.channels import ChannelMap, Discovery
from edgestream.documents.infer import (
    FIXED_ENERGY_SPAN_EV,
    energy_scale_from_values,
    infer_channels,
)
from edgestream.errors import MissingChannel


@dataclass(frozen=True)
class Skip:
    """A run that ends with no spectrum and nothing wrong: not spectroscopy, or no data."""

    run_uid: str
    reason: str  # not_spectroscopy | no_events
    detail: str
    partial: bool = False


class PendingStream:
    """A stream whose names did not settle the spectrum: its events wait for the run's stop,
    when the data decide (an axis that looks like energy, counters that show an edge)."""

    def __init__(self, found: Discovery, descriptor: Mapping[str, Any], mapping: Mapping[str, str]
                 ) -> None:
        self.found = found
        self.descriptor = descriptor
        self.mapping = mapping
        self.wanted = {*found.counters, *found.maybe_energy, *(
            [found.energy] if found.energy else [])} | set(found.partial_keys.values())
        self.events: list[dict[str, Any]] = []
        self.energy_like = found.energy is not None  # known before any data
        self.why = ""

    def add_event(self, event: Mapping[str, Any]) -> None:
        data = event.get("data") or {}
        self.events.append({**event, "data": {k: v for k, v in data.items() if k in self.wanted}})

    def _values(self, key: str) -> np.ndarray | None:
        try:
            return np.asarray([e["data"][key] for e in self.events], dtype=float)
        except (KeyError, TypeError, ValueError):
            return None

    def _axis(self) -> tuple[str, float | None, np.ndarray] | None:
        """The energy key, its unit factor and its values in eV; None without one."""
        if self.found.energy is not None:
            key, scale = self.found.energy, self.found.energy_scale
            first = self._first(key)
            values = first if self.found.is_array else self._values(key)
            if values is None:
                return None
            return key, scale, to_ev(values.ravel(), scale)
        for key in self.found.maybe_energy:
            values = self._first(key) if self.found.is_array else self._values(key)
            scale = None if values is None else energy_scale_from_values(values.ravel())
            if scale is not None:
                self.energy_like = True
                return key, scale, values.ravel() * scale
        return None

    def _first(self, key: str) -> np.ndarray | None:
        try:
            return np.asarray(self.events[0]["data"][key], dtype=float)
        except (IndexError, KeyError, TypeError, ValueError):
            return None

    def resolve(self) -> ChannelMap | None:
        """Channels decided from the data; None with ``why`` (and ``energy_like``) set."""
        if not self.events:
            self.why = "no events"
            return None
        axis = self._axis()
        if axis is None:
            self.why = "no energy-like axis (no hinted dimension in eV/keV or named energy, "\
                       "no scanned values spanning a tabulated edge)"
            return None
        key, scale, energy = axis
        if energy.size == 0 or not np.all(np.isfinite(energy)) or \
                np.ptp(energy) < FIXED_ENERGY_SPAN_EV:
            self.energy_like = False
            self.why = f"energy {key!r} did not move ({span(energy)})"
            return None
        columns = {}
        for counter in self.found.counters:
            values = self._first(counter) if self.found.is_array else self._values(counter)
            if values is not None and values.ravel().shape == energy.shape:
                columns[counter] = values.ravel()
        inferred = None
        if columns:  # repeated points averaged, in ascending energy (either scan direction)
            e, table = average_repeats(energy, np.stack([columns[c] for c in columns]))
            inferred = infer_channels(e, dict(zip(columns, table, strict=True)))
        if inferred is None:
            self.why = "no pair of counters shows an absorption edge at a tabulated edge"
            return None
        keys = {"energy": key, **inferred.keys}
        keys |= {r: k for r, k in self.mapping.items() if k in (
            self.descriptor.get("data_keys") or {})}
        return ChannelMap(keys, scale, self.found.is_array, "inferred")

    def missing(self, beamline: str) -> MissingChannel:
        """The dead letter of an energy scan whose channels could not be resolved."""
        energy = self.found.energy or next(iter(self.found.maybe_energy), "<energy key>")
        counters = list(self.found.counters)
        known = self.found.partial_keys
        guess = [known.get("i0") or (counters[0] if counters else "<I0 key>"),
                 known.get("it") or known.get("if") or next(
                     (c for c in counters[1:] if c != known.get("i0")), "<It key>")]
        role = "if" if "if" in known and "it" not in known else "it"
        snippet = (f"channels:\n  {beamline}: {{energy: {energy}, i0: {guess[0]}, "
                   f"{role}: {guess[1]}}}   # fluorescence: if: <key>; reference: ir: <key>\n")
        stream = self.descriptor.get("name", "primary")
        return MissingChannel(
            f"stream {stream!r} scans energy ({energy}) but its detector channels could not "
            f"be resolved ({self.why or 'names unknown'}); candidate fields: "
            f"{', '.join(counters) or 'none'}. Name them in the settings:\n{snippet}",
            stream=stream, energy=energy, candidates=counters,
            resolved={r: k for r, k in known.items()}, settings_snippet=snippet,
        )


def span(energy: np.ndarray) -> str:
    if energy.size == 0:
        return "no values"
    return f"{float(np.nanmin(energy)):.1f}-{float(np.nanmax(energy)):.1f} eV"
