"""Readers for spectrum files: XDI and plain multi-column text.

Both return a ``ColumnFile``: the energy axis plus every column under a normalized name.
XDI column labels vary between beamlines (``i0``, ``itrans``, ``mutrans``; ``i0 counts``
with a unit; ``i0 counts || 13IDE:scaler1_calc2.VAL`` with an EPICS PV): the name is the
label's first word, lower-cased; the unit and PV are kept apart. ``channel`` finds the usual
XAS channels under their common aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgestream.errors import BadSpectrum, MissingChannel

__all__ = ["CHANNEL_ALIASES", "ColumnFile", "channel", "read_columns", "read_spectrum_file",
           "read_xdi"]

# Common names of XAS channels, XDI's own first. Matching is on normalized names.
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "energy": ("energy", "energy_ev", "e", "en", "ene"),
    "i0": ("i0", "io", "izero", "mon", "monitor"),
    "itrans": ("itrans", "it", "i1", "itr", "trans"),
    "ifluor": ("ifluor", "if", "ifl", "fluor", "iff"),
    "irefer": ("irefer", "iref", "ir", "i2", "ref"),
    "mutrans": ("mutrans", "mu", "xmu", "mu_trans"),
    "mufluor": ("mufluor", "mu_fluor"),
    "murefer": ("murefer", "mu_ref", "muref"),
}
_COMMENT = ("#", ";", "!", "%")
_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class ColumnFile:
    """Columns of one spectrum file.

    ``energy`` (eV, as stored) is also in ``columns`` under its own name. ``columns`` maps a
    normalized name (first word of the label, lower case, made unique with ``_2``...) to
    values; ``labels`` to the original label, ``units`` to the unit where the file gives one.
    ``metadata`` holds XDI ``Family.key: value`` fields (empty for plain files).
    """

    path: str
    energy: np.ndarray
    columns: dict[str, np.ndarray]
    labels: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    def meta(self, key: str) -> str | None:
        """A metadata value by case-insensitive key, e.g. ``meta("element.symbol")``."""
        lowered = {k.lower(): v for k, v in self.metadata.items()}
        return lowered.get(key.lower())

    @property
    def element(self) -> str | None:
        return self.meta("Element.symbol")

    @property
    def edge(self) -> str | None:
        return self.meta("Element.edge")


def _parse_label(label: str) -> tuple[str, str | None]:
    """``"i0 counts || 13IDE:x.VAL"`` -> ``("i0", "counts")``."""
    words = label.split("||")[0].split()
    if not words:
        return "", None
    return words[0].lower(), (words[1] if len(words) > 1 else None)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"col{i + 1}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _split_lines(path: Path) -> tuple[list[str], list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadSpectrum(f"cannot read {path}: {exc}", path=str(path)) from exc
    header, data = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_COMMENT):
            if not data:
                header.append(stripped.lstrip("".join(_COMMENT)).strip())
            continue
        data.append(stripped)
    return header, data


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _table(path: Path, data: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Numeric rows -> ``[n_rows, n_cols]``; a leading non-numeric row is returned as labels."""
    labels = None
    if data and not all(_is_number(t) for t in _SPLIT.split(data[0].strip(" ,"))):
        labels, data = _SPLIT.split(data[0].strip(" ,")), data[1:]
    rows = [_SPLIT.split(line.strip(" ,")) for line in data]
    widths = {len(r) for r in rows}
    if not rows or len(widths) != 1:
        raise BadSpectrum(
            f"{path}: no data rows" if not rows else f"{path}: rows have {sorted(widths)} columns",
            path=str(path),
        )
    try:
        table = np.array(rows, dtype=float)
    except ValueError as exc:
        raise BadSpectrum(f"{path}: non-numeric data: {exc}", path=str(path)) from exc
    return table, labels


def _build(path: Path, table: np.ndarray, raw_labels: list[str], units: dict[str, str],
           metadata: dict[str, str], comments: list[str]) -> ColumnFile:
    names = _unique([_parse_label(label)[0] for label in raw_labels])
    columns = {name: table[:, i] for i, name in enumerate(names)}
    energy_name = next(
        (n for n in names if n in CHANNEL_ALIASES["energy"] or n.startswith("energy")), names[0]
    )
    return ColumnFile(
        path=str(path), energy=columns[energy_name], columns=columns,
        labels=dict(zip(names, raw_labels, strict=True)),
        units={names[i]: u for i, u in units.items() if i < len(names)},
        metadata=metadata, comments=comments,
    )


def read_xdi(path: str | Path) -> ColumnFile:
    """Read an XDI 1.x file (header ``# Family.key: value``, ``# Column.N: label``).

    Column labels come from the ``Column.N`` fields; any column without one takes its label
    from the last header line (the column-label line), else ``colN``. Raises BadSpectrum for
    an unreadable file or ragged/non-numeric data.
    """
    path = Path(path)
    header, data = _split_lines(path)
    if not header or not header[0].upper().startswith("XDI/"):
        raise BadSpectrum(f"{path}: not an XDI file (no '# XDI/' first line)", path=str(path))
    metadata: dict[str, str] = {}
    comments: list[str] = []
    section = "fields"  # then "comments" after "///", then "labels" after "----"
    for line in header[1:]:
        if line.startswith("///"):
            section = "comments"
        elif line.startswith("---"):
            section = "labels"
        elif section == "comments":
            comments.append(line)
        elif section == "fields":
            match = re.match(r"([A-Za-z_]\w*\.[\w.]+)\s*:\s*(.*)$", line)
            if match:
                metadata[match.group(1)] = match.group(2).strip()
    table, inline = _table(path, data)
    n_cols = table.shape[1]
    label_line = _SPLIT.split(header[-1]) if header[-1] and not header[-1].startswith("-") else []
    fallback = inline or (label_line if len(label_line) == n_cols else None)
    raw_labels, units = [], {}
    for i in range(n_cols):
        label = next((v for k, v in metadata.items() if k.lower() == f"column.{i + 1}"), None)
        if label is None:
            label = fallback[i] if fallback else f"col{i + 1}"
        unit = _parse_label(label)[1]
        if unit:
            units[i] = unit
        raw_labels.append(label)
    return _build(path, table, raw_labels, units, metadata, comments)


def read_columns(path: str | Path) -> ColumnFile:
    """Read a plain text table: comment lines (``#``, ``;``, ``!``, ``%``) then numbers.

    Columns are separated by whitespace or commas. Labels come from a first non-numeric row,
    else from the last comment line when it has one non-numeric word per column
    (``# energy mu``), else ``col1``, ``col2``... The energy column is the first named like
    energy, else the first.
    """
    path = Path(path)
    header, data = _split_lines(path)
    table, inline = _table(path, data)
    last = _SPLIT.split(header[-1]) if header else []
    is_label_line = len(last) == table.shape[1] and not any(_is_number(t) for t in last)
    labels = inline or (last if is_label_line else None)
    raw_labels = labels or [f"col{i + 1}" for i in range(table.shape[1])]
    return _build(path, table, raw_labels, {}, {}, header)


def read_spectrum_file(path: str | Path) -> ColumnFile:
    """``read_xdi`` for files whose first line is ``# XDI/...``, else ``read_columns``."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
    except OSError as exc:
        raise BadSpectrum(f"cannot read {path}: {exc}", path=str(path)) from exc
    is_xdi = first.lstrip("#; ").upper().startswith("XDI/")
    return read_xdi(path) if is_xdi else read_columns(path)


def channel(data: ColumnFile, kind: str) -> np.ndarray:
    """The column for a channel kind (a key of ``CHANNEL_ALIASES``), by name or alias.

    Raises MissingChannel when the file has none of its names.
    """
    for name in CHANNEL_ALIASES.get(kind, (kind,)):
        if name in data.columns:
            return data.columns[name]
    raise MissingChannel(
        f"{data.path}: no {kind!r} column among {sorted(data.columns)}",
        kind=kind, path=data.path, columns=sorted(data.columns),
    )
