"""Annotations as a table a person can read at 20 rows a second (after bluesky's LiveTable):
fixed columns, a header, numbers aligned, long values cut with an ellipsis, never wrapped.
One formatter for ``demo``, ``watch`` and ``annotate``; ``--json`` prints the annotation."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from edgestream.publish.annotation import records

ELLIPSIS = "…"
CALIBRATION_WORDS = {"reference": "foil", "metadata": "run", "settings": "bl"}


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    right: bool  # numbers are right-aligned, text left
    value: Callable[[dict[str, Any]], str]


def _time(a: dict[str, Any]) -> str:
    t = (a.get("timing") or {}).get("event_time") or [0.0, 0.0]
    return time.strftime("%H:%M:%S", time.localtime(t[-1])) if t[-1] else "-"


def _run(a: dict[str, Any]) -> str:
    return str(a["ids"]["run_uid"])[:8]


def _event(a: dict[str, Any]) -> str:
    first, last = a["ids"]["seq_range"]
    where = str(first) if first == last else f"{first}-{last}"
    pixel = a["ids"].get("index_in_event") or 0
    return f"{where}:{pixel}" if pixel else where


def _edge(a: dict[str, Any]) -> str:
    return f"{a.get('element') or '?'} {a.get('edge') or '?'}"


def _e0(a: dict[str, Any]) -> str:
    e0 = a.get("e0")
    return f"{e0:.2f}" if isinstance(e0, int | float) else "-"


def _outputs(a: dict[str, Any], *words: str) -> dict[str, Any] | None:
    """Outputs of the first prediction whose plugin name contains one of ``words``."""
    for p in a.get("predictions") or []:
        if any(w in str(p.get("plugin", "")) for w in words) and isinstance(
                p.get("outputs"), dict):
            return p["outputs"]
    return None


def _valence(a: dict[str, Any]) -> str:
    out = _outputs(a, "valence")
    if not out or not isinstance(out.get("value"), int | float):
        return "-"
    sigma = out.get("uncertainty")
    return f"{out['value']:.2f} ± {sigma:.2f}" if isinstance(sigma, int | float) \
        else f"{out['value']:.2f}"


def _motif(a: dict[str, Any]) -> str:
    out = _outputs(a, "motif", "coordination")
    if out and out.get("geometry") is not None:  # the k_edge family: CN class and geometry
        return f"{out.get('cn', '?')} {out['geometry']}"
    if not out or out.get("value") is None:
        return "-"
    p = out.get("probability")
    return f"{out['value']} {p:.2f}" if isinstance(p, int | float) else str(out["value"])


def _candidate(a: dict[str, Any]) -> str:
    for p in a.get("predictions") or []:
        candidates = (p.get("outputs") or {}).get("candidates")
        if candidates:
            c = candidates[0]
            return f"{c.get('formula', '')} {c.get('material_id', '')}".strip()
    return "-"


def _flags(a: dict[str, Any]) -> str:
    flags = []
    if a.get("kind") not in (None, "final"):
        flags.append(str(a["kind"]))
    if a.get("modality") == "eels":
        flags.append("eels")
    cal = a.get("energy_calibration") or {}
    if cal.get("source", "none") != "none":
        word = CALIBRATION_WORDS.get(cal["source"], cal["source"])
        flags.append(f"{word}{cal.get('shift_ev', 0.0):+.2f}")
    if cal.get("reference_rejected"):
        flags.append("ref-rejected")
    preds = a.get("predictions") or []
    if any((p.get("outputs") or {}).get("ood") for p in preds):
        flags.append("ood")
    failed = [p["plugin"] for p in preds if p.get("error")]
    if failed:
        flags.append("failed:" + "+".join(failed))
    return ",".join(flags) or "-"


COLUMNS = (
    Column("time", 8, False, _time),
    Column("run", 8, False, _run),
    Column("event", 6, True, _event),
    Column("edge", 7, False, _edge),
    Column("e0 (eV)", 9, True, _e0),
    Column("valence", 11, True, _valence),
    Column("motif", 18, False, _motif),
    Column("top candidate", 16, False, _candidate),
    Column("flags", 13, False, _flags),
)


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` in exactly ``width`` characters: padded, or cut with an ellipsis."""
    text = " ".join(str(text).split())  # a newline in a sample name must not break a row
    if len(text) > width:
        text = text[: width - 1] + ELLIPSIS
    return text.rjust(width) if right else text.ljust(width)


class AnnotationTable:
    """Prints one row per annotation under a header (again every ``header_every`` rows);
    ``as_json``: the annotation as one JSON line instead. ``source_width``: a first column
    naming where the annotation came from (the file, for ``annotate``)."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False,
                 header_every: int = 40, source_width: int = 0) -> None:
        self.out = out
        self.as_json = as_json
        self.header_every = header_every
        self.columns = COLUMNS
        if source_width:
            self.columns = (Column("file", source_width, False, lambda a: ""), *COLUMNS)
        self.rows = 0
        self._lock = threading.Lock()  # the demo prints annotations and dead letters from two
        # threads: a row must not be cut by another

    @property
    def border(self) -> str:
        return "+" + "+".join("-" * (c.width + 2) for c in self.columns) + "+"

    def header(self) -> str:
        titles = "|" + "|".join(f" {fit(c.title, c.width, c.right)} " for c in self.columns)
        return f"{self.border}\n{titles}|\n{self.border}"

    def row(self, a: dict[str, Any], source: str = "") -> str:
        cells = []
        for c in self.columns:
            try:
                text = source if c.title == "file" else c.value(a)
            except (KeyError, TypeError, ValueError, IndexError):
                text = "?"  # an annotation of another schema still gets its row
            cells.append(f" {fit(text, c.width, c.right)} ")
        return "|" + "|".join(cells) + "|"

    def dead_letter(self, body: dict[str, Any], label: str = "dead letter") -> str:
        """A dead letter across the table's width (the demo shows them among the rows)."""
        width = len(self.border) - 4
        text = f"{label} {body.get('reason', '?')}: {body.get('message', '')}"
        return f"| {fit(text, width)} |"

    def _print(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def __call__(self, a: dict[str, Any], source: str = "") -> None:
        """One row per spectrum of an annotation message (JSON, or a compact block)."""
        for r in records(a):
            self._show(json.dumps(r) if self.as_json else self.row(r, source))

    def show_dead_letter(self, body: dict[str, Any], label: str = "dead letter") -> None:
        self._show(json.dumps(body) if self.as_json else self.dead_letter(body, label))

    def _show(self, line: str) -> None:
        with self._lock:
            if not self.as_json and self.rows % self.header_every == 0:
                self._print(self.header())
            self.rows += 1
            self._print(line)

    def close(self) -> None:
        """The bottom border, when a row was printed."""
        if self.rows and not self.as_json:
            self._print(self.border)
