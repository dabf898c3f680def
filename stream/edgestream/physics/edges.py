"""Tabulated X-ray absorption edge energies and edge identification.

The table (``edges.csv`` beside this module) holds K, L1-L3 and M1-M5 edge energies in eV for
Z = 3..98, from xraydb (Elam, Ravel and Sieber); its header names source and licence.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from edgestream.errors import UnknownElement

__all__ = ["EDGES", "PREFERRED_EDGES", "edge_energy", "edge_table", "elements_in",
           "emission_lines", "identify_edge"]

EDGES = ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")
# The edges most often measured (K; L3, the onset of an L2,3 edge): they win ties, K first.
PREFERRED_EDGES = ("K", "L3")
# eV: a non-preferred edge must be this much nearer than a K/L3 edge to be chosen instead.
# Oxidised K edges sit 10-15 eV above the table (FeO at Fe K +11, MnO2 at Mn K +13, a
# sulfate at S K +9 by Larch's e0) where L1 and M edges of heavy elements lie (Nd L1, Ce L1,
# Pb M5): measured in beamline files, those were all K edges. 5 eV named them wrongly.
PREFERENCE_MARGIN = 12.0
# eV: below this, xraydb's values are valence levels rather than absorption edges
_MIN_EDGE_ENERGY = 20.0

_TABLE = Path(__file__).with_name("edges.csv")
_LINES = Path(__file__).with_name("emission_lines.csv")
_SYMBOL = re.compile(r"[A-Z][a-z]?")
_LIGHT = ("H", "He")  # below the table's Z = 3, common in hydroxides and hydrates


@cache
def edge_table() -> dict[str, dict[str, float]]:
    """``{symbol: {edge: energy_eV}}`` for every tabulated element, edges in ``EDGES`` order."""
    table: dict[str, dict[str, float]] = {}
    with _TABLE.open(newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            table[row["element"]] = {e: float(row[e]) for e in EDGES if row[e]}
    return table


@cache
def emission_lines(line: str) -> dict[str, float]:
    """``{symbol: energy_eV}`` of one emission line (``Ka1``, ``La1``), from
    ``emission_lines.csv`` beside this module (its header names the source)."""
    with _LINES.open(newline="") as handle:
        rows = csv.DictReader(row for row in handle if not row.startswith("#"))
        return {r["element"]: float(r["energy_ev"]) for r in rows if r["line"] == line}


def _symbol(element: str) -> str:
    return element.strip().capitalize()


def _edge_name(edge: str) -> str:
    return edge.strip().upper()


def edge_energy(element: str, edge: str = "K") -> float:
    """Tabulated energy (eV) of an absorption edge of a neutral element.

    ``element`` is a symbol in any case (``"Cu"``, ``"cu"``); ``edge`` one of ``EDGES``
    (any case). Raises UnknownElement for an unknown element or an edge not tabulated for it.
    """
    edges = edge_table().get(_symbol(element))
    if edges is None:
        raise UnknownElement(f"unknown element {element!r}", element=element, edge=edge)
    energy = edges.get(_edge_name(edge))
    if energy is None:
        raise UnknownElement(
            f"no tabulated {edge!r} edge for {element!r}", element=element, edge=edge
        )
    return energy


def identify_edge(e0: float, tolerance: float = 20.0) -> tuple[str, str, float]:
    """The tabulated edge a measured edge energy most likely belongs to.

    Arguments:
        e0: measured edge energy in eV (e.g. from ``find_e0``).
        tolerance: eV. Only edges within this distance of e0 are considered. Measured edges
            sit a few eV from the tabulated (metal) values, and up to ~20 eV above them for
            oxidised compounds (e.g. CuO: +14 eV by Larch's e0 on an uncalibrated beamline),
            hence the default of 20 eV.

    Rule: the nearest edge wins, except that a K or L3 edge (``PREFERRED_EDGES``) wins over
    any other edge that is not more than ``PREFERENCE_MARGIN`` (5 eV) nearer; exact ties go
    to K, then L3, then the lighter element. Tabulated values below 20 eV (valence levels) are
    never matched.

    Returns ``(element, edge, tabulated_energy_eV)``. Raises UnknownElement if no edge lies
    within ``tolerance``.
    """
    best: tuple[float, int, int, str, str, float] | None = None
    for z, (symbol, edges) in enumerate(edge_table().items()):
        for edge, energy in edges.items():
            distance = abs(energy - e0)
            if distance > tolerance or energy < _MIN_EDGE_ENERGY:
                continue
            preferred = edge in PREFERRED_EDGES
            score = distance + (0.0 if preferred else PREFERENCE_MARGIN)
            rank = PREFERRED_EDGES.index(edge) if preferred else len(PREFERRED_EDGES)
            candidate = (score, rank, z, symbol, edge, energy)
            if best is None or candidate[:3] < best[:3]:
                best = candidate
    if best is None:
        raise UnknownElement(
            f"no absorption edge within {tolerance} eV of {e0} eV", e0=e0, tolerance=tolerance
        )
    return best[3], best[4], best[5]


def elements_in(composition: str | Iterable[str]) -> frozenset[str]:
    """The element symbols of a sample composition.

    ``composition`` is a chemical formula (``"CuFe2O4"``, ``"La1.85Sr0.15CuO4"``,
    ``"CuSO4·5H2O"``, ``"Cu(OH)2"``), symbols separated by spaces or commas (``"Cu, Fe, O"``)
    or a list of symbols (any case). Symbols in a formula must be capitalized as usual
    (``"CO"`` is carbon and oxygen); x, y, z and δ may stand for amounts
    (``"La2-xSrxCuO4"``). Raises UnknownElement for a symbol that is not an element
    or a composition without any.
    """
    if isinstance(composition, str):
        tokens = _SYMBOL.findall(composition)
        stray = _SYMBOL.sub("", composition)
        # e.g. "cuo", "Cuo2": not a formula we can trust; x, y, z, δ are doping variables
        if re.search(r"[a-wA-Z]", stray):
            raise UnknownElement(f"cannot read the composition {composition!r}",
                                 composition=composition)
    else:
        tokens = [_symbol(str(t)) for t in composition]
    known = set(edge_table()) | set(_LIGHT)
    unknown = sorted(set(tokens) - known)
    if unknown or not tokens:
        raise UnknownElement(f"composition {composition!r}: "
                             + (f"not elements: {unknown}" if unknown else "no element symbols"),
                             composition=str(composition))
    return frozenset(tokens)
