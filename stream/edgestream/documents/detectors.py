"""Which external data keys of a descriptor form a multi-element fluorescence detector.

Read from the descriptor alone (names, shapes, ``dims``, configuration), before any data:

- one key holding every element: shape ``[element, bin]`` (MCA spectra; ``[frame, element,
  bin]`` with several frames per point) or ``[element]`` (ROI counts), recognized by its
  ``dims`` (first dim ``element``/``elements``/``detector_element``/``sensor``) or by a
  fluorescence-detector name (``xs``, ``xspress3``, ``sdd``, ``vortex``, ``ge``, ``mca``,
  ``fluor``, ``xrf``, ...);
- several keys, one per element, named ``<stem>...channel01``, ``<stem>_mca2``,
  ``<stem>_element3`` (the NSLS-II Xspress3 layout: ``xs_channels_channel01``...), each an MCA
  spectrum ``[bin]`` or an ROI count ``[]``.

Input/output count rates are the keys that start with the detector's stem and name ``icr``
or ``ocr`` (``fluor_icr``, ``xs_channel01_ocr``): a vector over elements or one per element.
ROI limits come from the detector's configuration (``*roi*_low``/``*roi*_high`` in bins, the
same with ``_ev`` in eV, or ``*roi*min_x``/``*roi*size_x`` in bins; numbered per element or
shared); the energy scale from ``*ev_per_bin`` / ``*bin_width_ev`` and ``*bin_offset_ev``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream.documents.fluorescence import Roi, fluorescence, line_roi
from edgestream.errors import BadSpectrum, MissingChannel, StreamError

log = logging.getLogger(__name__)

ELEMENT_DIMS = {"element", "elements", "detector_element", "det_element", "sensor", "sensors"}
FLUOR_NAME = re.compile(
    r"(^|[_\-:.])(xs\d*|xsp3?|xspress\d*|sdd\d*|vortex\w*|ge\d*|mca\d*|fluor\w*|xrf|ketek|"
    r"falcon\w*|xmap|mercury|saturn|amptek)($|[_\-:.])", re.I)
CHANNEL_KEY = re.compile(
    r"^(?P<stem>.*?)[_\-:.]?(?:channels?[_\-:.])?(?:channel|chan|ch|element|elem|det|mca)"
    r"[_\-:.]?(?P<n>\d{1,3})$", re.I)
RATE = re.compile(r"(^|[_\-:.])(?P<kind>icr|ocr|input_?count_?rate|output_?count_?rate)"
                  r"($|[_\-:.\d])", re.I)
ELEMENT_NUMBER = re.compile(r"(?:channel|chan|ch|element|elem|det|mca)[_\-:.]?0*(\d{1,3})",
                            re.I)


@dataclass
class FluorescenceGroup:
    """One detector: the keys read, the scalar key written, and how to reduce them."""

    out_key: str
    members: list[str]  # data keys, in element order
    per_element_keys: bool  # one key per element (else one key holds all elements)
    is_mca: bool  # MCA spectra (else ROI counts)
    icr: list[str] = field(default_factory=list)  # one key (a vector) or one per element
    ocr: list[str] = field(default_factory=list)
    roi_config: dict[int | None, tuple[float, float, str]] = field(default_factory=dict)
    ev_per_bin: float | None = None
    offset_ev: float = 0.0
    roi: Roi | None = None  # resolved at the first reading (needs the number of bins)

    @property
    def consumed(self) -> list[str]:
        return [*self.members, *self.icr, *self.ocr]

    def describe(self, line_ev: float | None) -> dict[str, Any]:
        return {"elements": len(self.members) if self.per_element_keys else None,
                "sources": list(self.members), "icr": list(self.icr), "ocr": list(self.ocr),
                "dead_time_corrected": bool(self.icr and self.ocr),
                "emission_line_ev": line_ev, "ev_per_bin": self.ev_per_bin}

    def reduce(self, data: Mapping[str, Any], line_ev: float | None, seq: Any) -> float:
        """The detector's dead-time-corrected ROI sum for one event's (filled) data."""
        try:
            values = [np.asarray(data[k], dtype=float) for k in self.members]
            icr, ocr = _stacked(data, self.icr), _stacked(data, self.ocr)
        except KeyError as exc:
            raise MissingChannel(f"fluorescence event lacks {exc}", seq_num=seq) from None
        except (TypeError, ValueError) as exc:
            raise BadSpectrum(f"fluorescence values are not numeric: {exc}") from None
        if self.per_element_keys:
            if len({v.shape for v in values}) != 1:
                raise BadSpectrum("fluorescence elements differ in shape", seq_num=seq)
            counts = np.stack(values, axis=-2 if self.is_mca else -1)
        else:
            counts = values[0]
        frames = counts.ndim == (3 if self.is_mca else 2)  # several frames of one point
        roi = self.resolve_roi(line_ev, counts.shape[-2], counts.shape[-1]) \
            if self.is_mca else None
        try:
            total = fluorescence(counts, roi, self.is_mca, icr, ocr, frames_axis=frames)
        except StreamError as exc:
            exc.context.setdefault("seq_num", seq)
            raise
        except ValueError as exc:  # shapes that do not broadcast
            raise BadSpectrum(f"fluorescence data and ICR/OCR do not match: {exc}",
                              seq_num=seq) from None
        return float(total)

    def resolve_roi(self, line_ev: float | None, n_el: int, n_bins: int) -> Roi | None:
        """The ROI, resolved once: the configuration's, else the emission line's, else None
        (whole spectra, logged)."""
        if self.roi is not None:
            return self.roi
        if self.roi_config:
            lows, highs = [], []
            for el in range(1, n_el + 1):
                lo, hi, unit = self.roi_config.get(el) or self.roi_config.get(None) \
                    or next(iter(self.roi_config.values()))
                if unit == "eV":
                    if not self.ev_per_bin:
                        raise MissingChannel("ROI limits in eV but no ev_per_bin in the "
                                             "detector's configuration")
                    lo = (lo - self.offset_ev) / self.ev_per_bin
                    hi = (hi - self.offset_ev) / self.ev_per_bin
                lows.append(int(np.clip(round(lo), 0, n_bins)))
                highs.append(int(np.clip(round(hi), 0, n_bins)))
            self.roi = Roi(tuple(lows), tuple(highs), "configuration")
        elif line_ev is not None and self.ev_per_bin:
            self.roi = line_roi(line_ev, self.ev_per_bin, self.offset_ev, n_el, n_bins)
        else:
            log.warning("fluorescence detector %s: no ROI in its configuration and no "
                        "emission line (element/edge, ev_per_bin): whole spectra summed",
                        self.members[0])
        return self.roi


def _stacked(data: Mapping[str, Any], keys: list[str]) -> np.ndarray | None:
    """ICR or OCR over elements: one vector key, or one scalar key per element."""
    if not keys:
        return None
    if len(keys) == 1:
        return np.asarray(data[keys[0]], dtype=float)
    return np.stack([np.asarray(data[k], dtype=float) for k in keys], axis=-1)


def _shape(entry: Mapping[str, Any]) -> list[int]:
    shape = entry.get("shape") or []
    return [int(s) for s in shape] if isinstance(shape, list | tuple) else []


def _config_of(descriptor: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Configuration data of the device that reads ``key`` (all devices when unknown)."""
    config = descriptor.get("configuration") or {}
    owners = [dev for dev, keys in (descriptor.get("object_keys") or {}).items()
              if isinstance(keys, list) and key in keys]
    out: dict[str, Any] = {}
    for dev in owners or list(config):
        data = (config.get(dev) or {}).get("data") if isinstance(config.get(dev), Mapping) \
            else None
        if isinstance(data, Mapping):
            out.update(data)
    return out


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v


def _read_config(group: FluorescenceGroup, config: Mapping[str, Any]) -> None:
    limits: dict[tuple[int | None, str], float] = {}
    unit: dict[int | None, str] = {}
    for key, value in config.items():
        k, v = key.lower(), _number(value)
        if v is None:
            continue
        if k.endswith(("ev_per_bin", "bin_width_ev", "ev_per_channel")):
            group.ev_per_bin = v
            continue
        if k.endswith(("bin_offset_ev", "energy_offset_ev")):
            group.offset_ev = v
            continue
        if "roi" not in k:
            continue
        m = ELEMENT_NUMBER.search(k)
        el = int(m.group(1)) if m else None
        if k.endswith(("min_x", "minx")):
            limits[(el, "low")], unit[el] = v, "bins"
        elif k.endswith(("size_x", "sizex")):
            limits[(el, "size")] = v
        elif re.search(r"(low|lo|min|start)(_ev)?$", k):
            limits[(el, "low")], unit[el] = v, "eV" if k.endswith("_ev") else "bins"
        elif re.search(r"(high|hi|max|stop|end)(_ev)?$", k):
            limits[(el, "high")] = v
            unit[el] = "eV" if k.endswith("_ev") else "bins"
    for (el, kind), low in limits.items():
        if kind != "low":
            continue
        if (el, "high") in limits:
            group.roi_config[el] = (low, limits[(el, "high")], unit[el])
        elif (el, "size") in limits:
            group.roi_config[el] = (low, low + limits[(el, "size")], "bins")


def _rates(group: FluorescenceGroup, stem: str, data_keys: Mapping[str, Any]) -> None:
    found: dict[str, list[tuple[int, str]]] = {"i": [], "o": []}
    for key in data_keys:
        if key in group.members or not key.lower().startswith(stem.lower()):
            continue
        m = RATE.search(key[len(stem):])
        if m is None:
            continue
        n = ELEMENT_NUMBER.search(key)
        found[m.group("kind")[0].lower()].append((int(n.group(1)) if n else 0, key))
    group.icr = [k for _, k in sorted(found["i"])]
    group.ocr = [k for _, k in sorted(found["o"])]
    if len(group.icr) != len(group.ocr):  # a rate without its partner corrects nothing
        group.icr, group.ocr = [], []


def find_fluorescence(descriptor: Mapping[str, Any], external: set[str]
                      ) -> list[FluorescenceGroup]:
    """The fluorescence detectors among the ``external`` keys of a descriptor."""
    data_keys: Mapping[str, Any] = descriptor.get("data_keys") or {}
    groups: list[FluorescenceGroup] = []
    stems: dict[str, list[tuple[int, str]]] = {}
    for key in sorted(external):
        entry = data_keys.get(key) or {}
        shape, dims = _shape(entry), [str(d).lower() for d in entry.get("dims") or []]
        m = CHANNEL_KEY.match(key)
        if m and len(shape) <= 1 and not RATE.search(key):
            stems.setdefault(m.group("stem"), []).append((int(m.group("n")), key))
            continue
        by_dims = bool(dims) and dims[0] in ELEMENT_DIMS
        by_name = FLUOR_NAME.search(key) is not None and not RATE.search(key)
        if (by_dims and len(shape) in (1, 2)) or (by_name and 2 <= len(shape) <= 3):
            g = FluorescenceGroup(out_key=key, members=[key], per_element_keys=False,
                                  is_mca=len(shape) >= 2)
            _rates(g, key, data_keys)
            groups.append(g)
    for stem, numbered in stems.items():
        if len(numbered) < 2 and not FLUOR_NAME.search(stem or numbered[0][1]):
            continue
        members = [k for _, k in sorted(numbered)]
        is_mca = len(_shape(data_keys[members[0]])) == 1
        g = FluorescenceGroup(out_key=f"{stem or 'mca'}_fluor", members=members,
                              per_element_keys=True, is_mca=is_mca)
        _rates(g, stem, data_keys)
        groups.append(g)
    for g in groups:
        _read_config(g, _config_of(descriptor, g.members[0]))
    return groups
