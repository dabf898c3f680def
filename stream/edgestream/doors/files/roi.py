"""Fluorescence channels of a column file: a single If/Lytle column, the regions of interest
of a multi-element detector (named for an element's line: ``Mn_Ka_mca1``, ``XMAP4:AsKa_Sum``,
``D1_AlKa_corr``; or numbered: ``DTC1..4``, ``SCA1.1..32``, ``roi1..4``), summed over the
detector elements with each element's dead-time factor (``DTFactor``, or ICR/OCR) when the
file carries one. Used by ``edgestream.doors.files.columns``."""

from __future__ import annotations

import re

import numpy as np

from edgestream.physics.edges import edge_table

__all__ = ["IF_NAME", "counter", "edges_in", "fluorescence", "roi_line"]

IF_NAME = re.compile(r"^(if|ifl|iff|ifluor|fluor|flatot|fltot|lytle|pips)(_.*)?$")
# numbered fluorescence channels without an element in their names
_FLUOR_FAMILY = re.compile(r"^(dtc|ifch|if_ch|sca\d*_|fl|roi)(\d+)$")


def counter(values: np.ndarray) -> np.ndarray | None:
    """A usable intensity: finite, not constant, one sign (a current amplifier of inverted
    polarity reads negative throughout: its magnitude is the intensity)."""
    if not np.all(np.isfinite(values)) or np.ptp(values) == 0:
        return None
    if np.all(values > 0):
        return values
    if np.all(values < 0):
        return -values
    return None


def edges_in(energy: np.ndarray) -> set[str]:
    """Lower-case symbols of elements with a K or L3 edge inside the scanned range."""
    # a scan may stop just short of the edge it was set up for
    lo, hi = float(np.min(energy)) - 30.0, float(np.max(energy)) + 30.0
    return {s.lower() for s, edges in edge_table().items()
            if any(lo <= edges.get(k, -1.0) <= hi for k in ("K", "L3", "L2", "M5"))}


def roi_line(name: str, symbols: set[str]) -> tuple[str, str] | None:
    """``mn_ka_mca1`` / ``xmap4_aska_sum`` / ``d1_alka_corr_c13`` -> (symbol, line shell)."""
    tokens = name.split("_")
    for j, tok in enumerate(tokens):
        match = re.fullmatch(r"([a-z]{1,2})([klm])[ab]\d?", tok)
        if match and match.group(1) in symbols:
            return match.group(1), match.group(2)
        line = re.fullmatch(r"([klm])[ab]\d?", tokens[j + 1]) if j + 1 < len(tokens) else None
        if tok in symbols and line:
            return tok, line.group(1)
    return None


def _roi_element(name: str, symbols: set[str]) -> str | None:
    found = roi_line(name, symbols)
    return found[0] if found else None


def fluorescence(columns: dict[str, np.ndarray], energy: np.ndarray
                  ) -> tuple[np.ndarray, str, list[str]] | None:
    """The fluorescence signal and the columns summed for it, with a note."""
    single = [n for n in columns if IF_NAME.match(n) and counter(columns[n]) is not None]
    if single:
        return columns[single[0]], single[0], []
    symbols = edges_in(energy)
    rois: dict[str, list[str]] = {}
    for name in columns:
        element = _roi_element(name, symbols)
        if element and counter(columns[name]) is not None:
            rois.setdefault(element, []).append(name)
    for names in rois.values():  # one element's ROIs (only one has an edge in most scans)
        corrected = [n for n in names if "corr" in n or "dtc" in n]
        summed = [n for n in names if "sum" in n and n not in corrected]
        raw = [n for n in names if n not in corrected and n not in summed
               and not n.endswith("_dxp") and "dxp" not in n.split("_")]
        if corrected:
            return _sum(columns, corrected), "+".join(corrected), []
        if summed:
            return columns[summed[0]], summed[0], []
        if raw:
            return _dead_time_sum(columns, raw)
    family: dict[str, list[str]] = {}
    for name in columns:
        match = _FLUOR_FAMILY.match(name)
        if match and counter(columns[name]) is not None:
            family.setdefault(match.group(1), []).append(name)
    if "dtc" in family:  # already dead-time corrected
        return _sum(columns, family["dtc"]), "+".join(family["dtc"]), []
    for stem in ("ifch", "if_ch", "fl", "roi"):
        if stem in family:
            return _dead_time_sum(columns, family[stem])
    sca = [names for stem, names in family.items() if stem.startswith("sca")]
    if sca:
        return _sum(columns, sca[0]), "+".join(sca[0]), []
    return None


def _sum(columns: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.sum([columns[n] for n in names], axis=0)


def _trailing(name: str) -> str | None:
    found = re.search(r"(?<!\d)(\d+)$", name)
    return found.group(1) if found else None


def _dead_time_factor(columns: dict[str, np.ndarray], index: str | None
                      ) -> tuple[np.ndarray, str] | None:
    """Element ``index``'s dead-time factor: a ``DTFactor`` column, else ICR/OCR (input over
    output count rate, the losses of a pulse processor); None when the file has neither."""
    if index is None:
        return None
    def of(kind: str) -> np.ndarray | None:
        return next((v for f, v in columns.items()
                     if kind in f and _trailing(f) == index and np.all(np.isfinite(v))), None)
    factor = of("dtfactor")
    if factor is not None and np.all(factor > 0):
        return factor, "DTFactor"
    icr, ocr = of("icr"), of("ocr")
    if icr is not None and ocr is not None and np.all(ocr > 0) and np.all(icr >= ocr):
        return icr / ocr, "ICR/OCR"
    return None


def _dead_time_sum(columns: dict[str, np.ndarray], names: list[str]
                   ) -> tuple[np.ndarray, str, list[str]]:
    """Σ ROI_i × dead-time factor_i over the detector elements (the factor where the file
    carries one for that element, matched by the element's number)."""
    total, kinds = np.zeros_like(columns[names[0]], dtype=float), set()
    for name in names:
        found = _dead_time_factor(columns, _trailing(name))
        if found is None:
            total = total + columns[name]
        else:
            total = total + columns[name] * found[0]
            kinds.add(found[1])
    notes = [f"dead-time corrected with {'/'.join(sorted(kinds))} columns"] if kinds else []
    return total, "+".join(names), notes
