"""Per-stream assemblers: point-per-event step scans and array-per-event fly/EELS scans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from edgestream.documents.channels import ChannelMap
from edgestream.documents.spectrum import Modality, RawSpectrum, SpectrumIds
from edgestream.errors import BadSpectrum, MissingChannel

# Step-scan points closer than this (eV) are repeats of one energy and are averaged.
REPEAT_TOLERANCE_EV = 1e-3
# Without units in the descriptor, an X-ray energy axis below this is taken to be in keV:
# no hard X-ray edge lies under 150 eV, and soft-X-ray energies in keV stay below 3.
KEV_GUESS_BELOW = 150.0


def to_ev(energy: np.ndarray, scale: float | None) -> np.ndarray:
    """Energies in eV: the descriptor's unit factor, else keV when all values are small."""
    if scale is None:
        scale = 1000.0 if energy.size and np.nanmax(np.abs(energy)) < KEV_GUESS_BELOW else 1.0
    return energy * scale


def xas_modality(channels: ChannelMap) -> Modality:
    """Transmission when It is measured, else fluorescence, else a given μ."""
    if channels.get("i0") and channels.get("it"):
        return "xas_transmission"
    if channels.get("i0") and channels.get("if"):
        return "xas_fluorescence"
    return "xas_mu"


def xas_signal(modality: Modality, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """μ(E) from the measured channels: ln(I0/It), If/I0, or the given μ."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if modality == "xas_transmission":
            i0, it = columns["i0"], columns["it"]
            if np.any(i0 <= 0) or np.any(it <= 0):
                raise BadSpectrum("transmission needs positive I0 and It")
            mu = np.log(i0 / it)
        elif modality == "xas_fluorescence":
            i0 = columns["i0"]
            if np.any(i0 <= 0):
                raise BadSpectrum("fluorescence needs positive I0")
            mu = columns["if"] / i0
        else:
            mu = np.asarray(columns["mu"], dtype=float)
    if not np.all(np.isfinite(mu)):
        raise BadSpectrum("μ(E) has NaN or infinite values")
    return mu


def reference_mu(columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The reference foil's μ: a given μ_ref, else ln(It/Iref); None without a reference.

    Never raises: an unusable foil (zero counts, NaN) is judged where it is used, and the
    sample's spectrum stands on its own.
    """
    if "mu_ref" in columns:
        return np.asarray(columns["mu_ref"], dtype=float)
    if "it" not in columns or "ir" not in columns:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(columns["it"], float) / np.asarray(columns["ir"], float))


def ascending(energy: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Put a monotonic axis in ascending order; refuse zig-zags and duplicates."""
    if not np.all(np.isfinite(energy)):
        raise BadSpectrum("energy axis has NaN or infinite values")
    step = np.diff(energy)
    if np.all(step > 0):
        return (energy, *arrays)
    if np.all(step < 0):
        return (energy[::-1], *(a[..., ::-1] for a in arrays))
    raise BadSpectrum("energy axis is not monotonic", n_points=int(energy.size))


def average_repeats(energy: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort step-scan points by energy and average points measured at one energy.

    ``values`` is [n_channels, n_points]; returns (unique energies, averaged values).
    """
    order = np.argsort(energy, kind="stable")
    energy, values = energy[order], values[:, order]
    new_group = np.concatenate(([True], np.diff(energy) > REPEAT_TOLERANCE_EV))
    group = np.cumsum(new_group) - 1
    counts = np.bincount(group)
    sums = np.zeros((values.shape[0], counts.size))
    for row in range(values.shape[0]):
        sums[row] = np.bincount(group, weights=values[row])
    return energy[new_group], sums / counts


class StepAssembler:
    """Collects one point per event; the spectrum is finished at the run's stop."""

    def __init__(self, channels: ChannelMap, base: RawSpectrum) -> None:
        self.channels = channels
        self.base = base
        self.roles = [r for r in ("energy", "i0", "it", "if", "ir", "mu", "mu_ref")
                      if channels.get(r)]
        self.points: list[list[float]] = []
        self.seq: list[int] = []
        self.times: list[float] = []

    def add_event(self, event: Mapping[str, Any]) -> None:
        data = event.get("data") or {}
        try:  # a role may sum several keys (the elements of a fluorescence detector)
            row = [sum(float(data[k]) for k in self.channels.keys_of(r)) for r in self.roles]
        except KeyError as exc:
            raise MissingChannel(
                f"event lacks data key {exc}", seq_num=event.get("seq_num")
            ) from None
        except (TypeError, ValueError) as exc:
            raise BadSpectrum(f"non-numeric step-scan value: {exc}") from None
        self.points.append(row)
        self.seq.append(int(event.get("seq_num", len(self.seq) + 1)))
        self.times.append(float(event.get("time", 0.0)))

    def finish(self, partial: bool = False) -> RawSpectrum | None:
        if not self.points:
            return None
        table = np.asarray(self.points, dtype=float).T
        if not np.all(np.isfinite(table)):
            raise BadSpectrum("step scan has NaN or infinite readings", n_points=table.shape[1])
        energy, table = average_repeats(to_ev(table[0], self.channels.energy_scale), table[1:])
        columns = dict(zip(self.roles[1:], table, strict=True))
        modality = xas_modality(self.channels)
        ids = replace(self.base.ids, seq_range=(min(self.seq), max(self.seq)))
        return replace(
            self.base,
            ids=ids,
            modality=modality,
            energy=energy,
            signal=xas_signal(modality, columns),
            reference=reference_mu(columns),
            partial=partial,
            time_range=(min(self.times), max(self.times)),
        )


class ArrayAssembler:
    """Whole spectra per event: fly/QEXAFS arrays or EELS spectra / spectrum-image rows."""

    def __init__(
        self, channels: ChannelMap, base: RawSpectrum, loss_axis: np.ndarray | None
    ) -> None:
        self.channels = channels
        self.base = base
        self.loss_axis = loss_axis  # EELS energy-loss axis from offset/dispersion metadata

    def add_event(self, event: Mapping[str, Any]) -> list[RawSpectrum]:
        data = event.get("data") or {}
        seq = int(event.get("seq_num", 0))
        t = float(event.get("time", 0.0))
        ids = replace(self.base.ids, seq_range=(seq, seq))
        if self.channels.get("eels"):
            return self._eels(data, ids, t)
        return [self._xas(data, ids, t)]

    def _column(self, data: Mapping[str, Any], role: str) -> np.ndarray:
        total: np.ndarray | None = None
        for key in self.channels.keys_of(role):
            if key not in data:
                raise MissingChannel(f"event lacks data key {key!r}")
            try:
                column = np.asarray(data[key], dtype=float)
            except (TypeError, ValueError) as exc:
                raise BadSpectrum(f"{key!r} is not a numeric array: {exc}") from None
            if total is not None and column.shape != total.shape:
                raise BadSpectrum(f"{key!r} differs in shape from the other {role} arrays")
            total = column if total is None else total + column
        assert total is not None  # every role used has at least one key
        return total

    def _xas(self, data: Mapping[str, Any], ids: SpectrumIds, t: float) -> RawSpectrum:
        modality = xas_modality(self.channels)
        needed = {"xas_transmission": ("i0", "it"), "xas_fluorescence": ("i0", "if")}
        roles = needed.get(modality, ("mu",))
        roles += tuple(r for r in ("it", "ir", "mu_ref")
                       if self.channels.get(r) and r not in roles)
        energy = to_ev(self._column(data, "energy").ravel(), self.channels.energy_scale)
        columns = {r: self._column(data, r).ravel() for r in roles}
        if any(c.shape != energy.shape for c in columns.values()):
            raise BadSpectrum(
                "array lengths differ",
                lengths={self.channels.keys["energy"]: energy.size}
                | {self.channels.keys[r]: c.size for r, c in columns.items()},
            )
        energy, *values = ascending(energy, *columns.values())
        columns = dict(zip(columns, values, strict=True))
        return replace(
            self.base, ids=ids, modality=modality, energy=energy,
            signal=xas_signal(modality, columns), reference=reference_mu(columns),
            time_range=(t, t),
        )

    def _eels(self, data: Mapping[str, Any], ids: SpectrumIds, t: float) -> list[RawSpectrum]:
        counts = self._column(data, "eels")
        counts = counts[np.newaxis] if counts.ndim == 1 else counts.reshape(-1, counts.shape[-1])
        if self.channels.get("energy_loss"):
            axis = self._column(data, "energy_loss").ravel() * (self.channels.energy_scale or 1.0)
        elif self.loss_axis is not None:
            axis = self.loss_axis
        else:
            raise MissingChannel("EELS event has no energy-loss array and no offset/dispersion")
        if axis.size != counts.shape[-1]:
            raise BadSpectrum(
                "energy-loss axis and spectrum lengths differ",
                axis=int(axis.size),
                channels=int(counts.shape[-1]),
            )
        if not np.all(np.isfinite(counts)):
            raise BadSpectrum("EELS counts have NaN or infinite values")
        axis, counts = ascending(axis, counts)
        return [
            replace(
                self.base,
                ids=replace(ids, index_in_event=i),
                modality="eels",
                energy=axis,
                signal=row,
                time_range=(t, t),
            )
            for i, row in enumerate(counts)
        ]
