"""Find the energy axis and the detector channels of a stream from its descriptor.

Order of precedence for each role: the beamline's configured mapping (always wins), then the
descriptor's hints and ``object_keys`` (device names such as ``I0`` holding one counter),
scaler channel labels from the configuration, then the naming used at real beamlines. What
names cannot settle is inferred from the data at the run's stop (``infer.py``). The names
themselves are in ``names.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgestream.documents.names import (
    CHANNEL_PATTERNS,
    COUNTER_ROLES,
    ENERGY_EXCLUDE,
    ENERGY_NAMES,
    ISS_APB,
    ISS_APB_ROLES,
    NOT_A_CHANNEL,
    NOT_INTENSITY_UNITS,
    ROI_PATTERNS,
    ROLE_TOKENS,
    SETPOINT_TOKENS,
    UNDULATOR_TOKENS,
    tokens,
)
from edgestream.errors import MissingChannel


@dataclass(frozen=True)
class ChannelMap:
    """Which data key plays which role in one descriptor, and the energy unit factor."""

    keys: dict[str, str]
    # Multiply raw energy values by this to get eV; None when the descriptor gives no units.
    energy_scale: float | None
    is_array: bool  # whole spectra per event (fly scan / EELS) rather than a point per event
    # configured | hints | names | inferred: how the μ channels were chosen
    source: str = "names"
    # Roles whose value is the sum of several keys (the elements of a fluorescence detector)
    sums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, role: str) -> str | None:
        return self.keys.get(role)

    def keys_of(self, role: str) -> tuple[str, ...]:
        """The data keys summed for a role (one key for most roles)."""
        return self.sums.get(role) or ((self.keys[role],) if role in self.keys else ())

    def describe(self) -> dict[str, Any]:
        """What the annotation says about the channels used."""
        keys: dict[str, Any] = {r: list(self.sums[r]) if r in self.sums else k
                                for r, k in self.keys.items()}
        return {"source": self.source, "keys": keys}


@dataclass(frozen=True)
class Discovery:
    """What a descriptor says before any data: resolved channels, or what to look at later."""

    channels: ChannelMap | None
    # Energy axis: the chosen key, or unit-less hinted axes whose values will decide.
    energy: str | None
    energy_scale: float | None
    maybe_energy: tuple[str, ...]
    counters: tuple[str, ...]  # numeric fields that could be detector channels
    is_array: bool
    partial_keys: dict[str, str] = field(default_factory=dict)  # roles the names did settle


def energy_scale(units: str | None) -> float | None:
    """Factor from the descriptor's units to eV; None when the descriptor gives none."""
    scale = _units_scale(units)
    if scale is False:
        raise MissingChannel(f"energy units {units!r} are neither eV nor keV")
    return scale


def _units_scale(units: Any) -> float | bool | None:
    """eV factor of a units string; None without units; False for non-energy units."""
    if not isinstance(units, str) or not units.strip():
        return None
    u = re.sub(r"[\s._-]+", "", units).lower()
    if u in ("ev", "electronvolt", "electronvolts"):
        return 1.0
    if u in ("kev", "kiloelectronvolt", "kiloelectronvolts"):
        return 1000.0
    return False


def _hinted_fields(start: Mapping[str, Any], descriptor: Mapping[str, Any]) -> list[str]:
    """Fields named by start ``hints.dimensions`` for this stream, then descriptor hints."""
    return _dimension_fields(start, descriptor) + [
        f for fields in _descriptor_hints(descriptor).values() for f in fields
    ]


def _dimension_fields(start: Mapping[str, Any], descriptor: Mapping[str, Any]) -> list[str]:
    stream = descriptor.get("name", "primary")
    dims = (start.get("hints") or {}).get("dimensions") or []
    fields: list[str] = []
    for dim in dims if isinstance(dims, list | tuple) else []:
        if isinstance(dim, list | tuple) and len(dim) == 2 and dim[1] == stream:
            fields.extend(f for f in dim[0] if isinstance(f, str) and f != "time")
    return fields


def _descriptor_hints(descriptor: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    hints = descriptor.get("hints") or {}
    for device, hint in hints.items() if isinstance(hints, Mapping) else ():
        if isinstance(hint, Mapping) and isinstance(hint.get("fields"), list | tuple):
            out[str(device)] = [f for f in hint["fields"] if isinstance(f, str)]
    return out


def _is_numeric(spec: Any) -> bool:
    return isinstance(spec, Mapping) and spec.get("dtype", "number") in (
        "number", "integer", "array") and not spec.get("external")


def _energy_named(key: str) -> bool:
    toks = tokens(key)
    if ENERGY_EXCLUDE & set(toks):
        return False
    return "energy" in toks or key.lower() in ENERGY_NAMES or (
        len(toks) >= 1 and toks[-1] in ("e", "en", "ene") and len(toks) <= 2)


def _energy_rank(key: str, spec: Mapping[str, Any], hinted: set[str]) -> tuple:
    """Sort key for energy candidates: readback before setpoint, mono before undulator."""
    toks = set(tokens(key))
    return (bool(toks & SETPOINT_TOKENS), bool(toks & UNDULATOR_TOKENS), key not in hinted,
            not _energy_named(key), len(key))


def find_energy(
    start: Mapping[str, Any], descriptor: Mapping[str, Any], mapping: Mapping[str, str]
) -> tuple[str | None, tuple[str, ...]]:
    """The energy key, else the unit-less hinted axes whose values must decide."""
    data_keys: Mapping[str, Any] = descriptor.get("data_keys") or {}
    if mapping.get("energy") in data_keys:
        return mapping["energy"], ()
    dims = [f for f in _dimension_fields(start, descriptor) if f in data_keys]
    hinted = set(_hinted_fields(start, descriptor))
    candidates = []
    for key, spec in data_keys.items():
        if not _is_numeric(spec):
            continue
        scale = _units_scale(spec.get("units"))
        if scale not in (None, False) and not (set(tokens(key)) & ENERGY_EXCLUDE):
            if any(set(tokens(key)) & ROLE_TOKENS[r] for r in COUNTER_ROLES):
                continue  # a counter that states eV (some fly-scan devices do)
            candidates.append(key)
        elif _energy_named(key) and scale is not False:
            candidates.append(key)
        elif _energy_named(key) and key in dims:
            candidates.append(key)  # its odd units are reported when it is used
    # A hinted scan dimension is the axis when it looks like energy
    for key in dims:
        if key in candidates:
            return _prefer_readback(key, candidates, data_keys, hinted), ()
    if candidates:
        return min(candidates, key=lambda k: _energy_rank(k, data_keys[k], hinted)), ()
    maybe = tuple(k for k in dims if _units_scale(data_keys[k].get("units")) is None
                  and _is_numeric(data_keys[k]))
    return None, maybe


def _prefer_readback(key: str, candidates: list[str], data_keys: Mapping[str, Any],
                     hinted: set[str]) -> str:
    """A hinted setpoint gives way to its own readback (``x_setpoint`` -> ``x``)."""
    if not set(tokens(key)) & SETPOINT_TOKENS:
        return key
    stem = re.sub(r"[_.:-]?(user_)?(setpoint|sp|set|target|req|request|demand|cmd|val)$", "",
                  key, flags=re.I)
    for other in candidates:
        if other != key and (other == stem or other.startswith(stem)) and not (
                set(tokens(other)) & SETPOINT_TOKENS):
            return other
    return key


def _counter_keys(data_keys: Mapping[str, Any], energy: str | None, is_array: bool
                  ) -> list[str]:
    """Numeric fields, other than the axis, that could be detector channels."""
    out = []
    for key, spec in data_keys.items():
        if key == energy or not _is_numeric(spec):
            continue
        if bool(spec.get("shape") or []) != is_array:
            continue
        toks = set(tokens(key))
        if toks & NOT_A_CHANNEL or toks & SETPOINT_TOKENS or _energy_named(key):
            continue
        named = any(toks & ROLE_TOKENS[r] for r in COUNTER_ROLES)
        if _units_scale(spec.get("units")) not in (None, False) and not named:
            continue  # another eV quantity (a setpoint, a ROI bound)
        units = str(spec.get("units") or "").strip().lower()
        if units in NOT_INTENSITY_UNITS and not named:
            continue  # a ring current, a temperature, a position: never a detector
        out.append(key)
    return out


def _scaler_labels(descriptor: Mapping[str, Any]) -> dict[str, str]:
    """Scaler channel labels from the configuration (``<chan>_chname``): field -> label."""
    labels: dict[str, str] = {}
    data_keys = descriptor.get("data_keys") or {}
    for device in (descriptor.get("configuration") or {}).values():
        data = (device or {}).get("data") or {} if isinstance(device, Mapping) else {}
        for key, value in data.items():
            m = re.match(r"^(?P<stem>.+?)_(chname|name|label|desc)$", str(key), re.I)
            if not m or not isinstance(value, str) or not value.strip():
                continue
            for field_name in (m["stem"], f"{m['stem']}_s", f"{m['stem']}_value"):
                if field_name in data_keys:
                    labels[field_name] = value.strip()
    return labels


def _role_of(name: str) -> str | None:
    """The counter role a name (data key, device name or label) states, if exactly one."""
    m = ISS_APB.match(name)
    if m:
        return ISS_APB_ROLES[m["ch"]]
    toks = set(tokens(name))
    if toks & NOT_A_CHANNEL:
        return None
    roles = [r for r in COUNTER_ROLES if toks & ROLE_TOKENS[r]]
    return roles[0] if len(roles) == 1 else None


def _roi_groups(counters: list[str], hinted: set[str]) -> tuple[str, ...]:
    """The keys of one fluorescence ROI over a multi-element detector, to be summed."""
    groups: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for key in counters:
        for pattern in ROI_PATTERNS:
            m = pattern.match(key)
            if m:
                groups.setdefault((m["det"].lower(), int(m["roi"])), []).append(
                    (int(m["ch"]), key))
                break
    if not groups:
        return ()
    # hinted ROI first, then the lowest ROI number (the element of interest at BMM/ISS)
    best = min(groups, key=lambda g: (not any(k in hinted for _, k in groups[g]), g[1], g[0]))
    return tuple(k for _, k in sorted(groups[best]))


def _pick(role: str, names: dict[str, str], counters: list[str], hinted: set[str],
          taken: set[str]) -> str | None:
    """The best key whose name (or label) states ``role``: hinted first, then shortest."""
    found = [k for k in counters if k not in taken and _role_of(names.get(k, k)) == role]
    if not found:
        return None
    return min(found, key=lambda k: (k not in hinted, len(tokens(names.get(k, k))), len(k)))


def resolve_counters(
    descriptor: Mapping[str, Any], counters: list[str], mapping: Mapping[str, str],
    hinted: set[str],
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], str]:
    """Roles of the detector channels by configuration, hints/object names, then names."""
    data_keys: Mapping[str, Any] = descriptor.get("data_keys") or {}
    keys = {r: k for r, k in mapping.items() if k in data_keys and r != "energy"}
    source = "configured" if keys else "names"
    taken = set(keys.values())
    # Devices named for their role that hold one counter: hints, then object_keys
    devices = dict(_descriptor_hints(descriptor))
    for device, fields in (descriptor.get("object_keys") or {}).items():
        devices.setdefault(str(device), list(fields) if isinstance(fields, list) else [])
    for device, fields in devices.items():
        role = _role_of(device)
        own = [f for f in fields if f in counters and f not in taken]
        if role and role not in keys and len(own) == 1 and _role_of(own[0]) in (None, role):
            keys[role] = own[0]
            taken.add(own[0])
            if _role_of(own[0]) is None:  # the device's name told what its field did not
                source = "configured" if source == "configured" else "hints"
    names = _scaler_labels(descriptor)
    sums: dict[str, tuple[str, ...]] = {}
    for role in COUNTER_ROLES:
        if role in keys:
            continue
        key = _pick(role, names, counters, hinted, taken)
        if key is None and role == "if":
            rois = _roi_groups([c for c in counters if c not in taken], hinted)
            if rois:
                key = rois[0]
                if len(rois) > 1:
                    sums["if"] = rois
        if key is not None:
            keys[role] = key
            taken.add(key)
    for role, pattern in CHANNEL_PATTERNS.items():
        if role not in keys:
            key = next((k for k in data_keys if pattern.match(k) and k not in taken), None)
            if key is not None:
                keys[role] = key
                taken.add(key)
    return keys, sums, source


def has_spectrum(keys: Mapping[str, str]) -> bool:
    """Enough roles for μ: I0 with It or If, or a given μ."""
    return "mu" in keys or ("i0" in keys and ("it" in keys or "if" in keys))


def discover(
    start: Mapping[str, Any],
    descriptor: Mapping[str, Any],
    mapping: Mapping[str, str] | None = None,
) -> Discovery:
    """Everything the descriptor tells about the spectrum of its stream."""
    mapping = mapping or {}
    data_keys: Mapping[str, Any] = descriptor.get("data_keys") or {}
    hinted = set(_hinted_fields(start, descriptor))
    # EELS: a spectrum per event with its own loss axis (or offset/dispersion metadata)
    eels = mapping.get("eels") if mapping.get("eels") in data_keys else next(
        (k for k in data_keys if CHANNEL_PATTERNS["eels"].match(k)), None)
    if eels is not None:
        keys = {"eels": eels}
        loss = mapping.get("energy_loss") if mapping.get("energy_loss") in data_keys else next(
            (k for k in data_keys if CHANNEL_PATTERNS["energy_loss"].match(k)), None)
        scale: float | None = 1.0
        if loss is not None:
            keys["energy_loss"] = loss
            scale = energy_scale(data_keys[loss].get("units"))
        channels = ChannelMap(keys, scale, bool(data_keys[eels].get("shape") or []),
                              "configured" if "eels" in mapping else "names")
        return Discovery(channels, None, scale, (), (), channels.is_array)
    energy, maybe = find_energy(start, descriptor, mapping)
    axis = energy or (maybe[0] if maybe else None)
    is_array = bool(axis and (data_keys[axis].get("shape") or []))
    counters = _counter_keys(data_keys, axis, is_array)
    counters = [c for c in counters if c not in maybe]
    keys, sums, source = resolve_counters(descriptor, counters, mapping, hinted)
    if energy is None:
        return Discovery(None, None, None, maybe, tuple(counters), is_array, keys)
    scale = energy_scale(data_keys[energy].get("units"))
    if not has_spectrum(keys):
        return Discovery(None, energy, scale, (), tuple(counters), is_array, keys)
    channels = ChannelMap({"energy": energy, **keys}, scale, is_array, source, sums)
    return Discovery(channels, energy, scale, (), tuple(counters), is_array, keys)


def find_channels(
    start: Mapping[str, Any],
    descriptor: Mapping[str, Any],
    mapping: Mapping[str, str] | None = None,
) -> ChannelMap | None:
    """Roles of a descriptor's data keys when names settle them; ``None`` otherwise (the
    run router then decides from the data at the run's stop)."""
    return discover(start, descriptor, mapping).channels
