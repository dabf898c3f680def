"""Find the energy axis and the detector channels of a stream from its descriptor."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgestream.errors import MissingChannel

# Names beamlines use for each role, matched case-insensitively against the full data key.
# A per-beamline mapping in the settings always wins over these patterns.
CHANNEL_PATTERNS: dict[str, re.Pattern[str]] = {
    "energy": re.compile(
        r"^(.*_)?(energy|en|mono_?energy|dcm_?energy|energy_?setpoint|energy_?readback)$", re.I
    ),
    "i0": re.compile(r"^(.*_)?(i0|izero|i_0)$", re.I),
    "it": re.compile(r"^(.*_)?(it|i1|itrans|i_t|trans)$", re.I),
    "if": re.compile(r"^(.*_)?(if|ifluor|fluor|ifl|pips|sdd|xs_sum|i_f)$", re.I),
    "ir": re.compile(r"^(.*_)?(ir|i2|iref|i_r)$", re.I),
    "mu": re.compile(r"^(.*_)?(mu|mutrans|mufluor|absorbance)$", re.I),
    "mu_ref": re.compile(r"^(.*_)?(mu_?ref|murefer|mu_reference)$", re.I),
    "eels": re.compile(r"^(.*_)?(eels|eels_spectrum|eels_counts|spectrum_image)$", re.I),
    "energy_loss": re.compile(r"^(.*_)?(energy_loss|eloss|eels_energy|eels_axis)$", re.I),
}

ROLES = tuple(CHANNEL_PATTERNS)


@dataclass(frozen=True)
class ChannelMap:
    """Which data key plays which role in one descriptor, and the energy unit factor."""

    keys: dict[str, str]
    # Multiply raw energy values by this to get eV; None when the descriptor gives no units.
    energy_scale: float | None
    is_array: bool  # whole spectra per event (fly scan / EELS) rather than a point per event

    def get(self, role: str) -> str | None:
        return self.keys.get(role)


def energy_scale(units: str | None) -> float | None:
    """Factor from the descriptor's units to eV; None when the descriptor gives none."""
    if not units:
        return None
    u = units.strip().lower()
    if u in ("ev", "electronvolt", "electron_volt"):
        return 1.0
    if u in ("kev", "kiloelectronvolt"):
        return 1000.0
    raise MissingChannel(f"energy units {units!r} are neither eV nor keV")


def _hinted_fields(start: Mapping[str, Any], descriptor: Mapping[str, Any]) -> list[str]:
    """Fields named by start ``hints.dimensions`` for this stream, then descriptor hints."""
    fields: list[str] = []
    stream = descriptor.get("name", "primary")
    dims = (start.get("hints") or {}).get("dimensions") or []
    for dim in dims:
        if isinstance(dim, list | tuple) and len(dim) == 2 and dim[1] == stream:
            fields.extend(f for f in dim[0] if isinstance(f, str))
    for hint in (descriptor.get("hints") or {}).values():
        if isinstance(hint, Mapping):
            fields.extend(f for f in hint.get("fields", []) if isinstance(f, str))
    return fields


def find_channels(
    start: Mapping[str, Any],
    descriptor: Mapping[str, Any],
    mapping: Mapping[str, str] | None = None,
) -> ChannelMap | None:
    """Identify roles in a descriptor; ``None`` when the stream holds no spectrum at all.

    Order of precedence: the configured ``mapping`` (role -> data key), then the start
    document's ``hints.dimensions`` for the energy axis, then the name patterns above.
    """
    data_keys: Mapping[str, Any] = descriptor.get("data_keys") or {}
    keys: dict[str, str] = {}
    for role, key in (mapping or {}).items():
        if key in data_keys:
            keys[role] = key
    hinted = _hinted_fields(start, descriptor)
    if "energy" not in keys:
        for field in hinted:
            if field in data_keys and CHANNEL_PATTERNS["energy"].match(field):
                keys["energy"] = field
                break
        else:
            dims = (start.get("hints") or {}).get("dimensions") or []
            first = dims[0][0] if dims and dims[0] and dims[0][0] else []
            if len(first) == 1 and first[0] in data_keys and first[0] != "time":
                keys["energy"] = first[0]
    for role, pattern in CHANNEL_PATTERNS.items():
        if role in keys:
            continue
        for key in data_keys:
            if pattern.match(key) and key not in keys.values():
                keys[role] = key
                break
    has_xas = "energy" in keys and ({"i0", "it"} <= keys.keys() or "mu" in keys or
                                    {"i0", "if"} <= keys.keys())
    has_eels = "eels" in keys
    if not (has_xas or has_eels):
        return None
    signal_key = keys["eels"] if has_eels else keys.get("mu") or keys.get("it") or keys["if"]
    if has_eels and "energy_loss" not in keys:
        keys.pop("energy", None)
    is_array = bool(data_keys[signal_key].get("shape") or [])
    scale: float | None = 1.0
    axis = keys.get("energy_loss") if has_eels else keys.get("energy")
    if axis is not None:
        scale = energy_scale(data_keys[axis].get("units"))
    return ChannelMap(keys=keys, energy_scale=scale, is_array=is_array)
