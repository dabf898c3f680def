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

from edgestream.doors.files.headers import column_name, energy_column, parse_header
from edgestream.errors import BadSpectrum, MissingChannel

__all__ = ["CHANNEL_ALIASES", "ColumnFile", "channel", "read_columns", "read_spec_scans",
           "read_spectrum_file", "read_xdi", "spec_scan_errors"]

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
           metadata: dict[str, str], comments: list[str], normalize: bool = False) -> ColumnFile:
    """``normalize``: names are the whole label in lower case, runs of other characters as
    ``_`` (``"Mono Energy *"`` -> ``mono_energy``); else the label's first word (XDI)."""
    names = _unique([column_name(label) if normalize else _parse_label(label)[0]
                     for label in raw_labels])
    columns = {name: table[:, i] for i, name in enumerate(names)}
    energy_name = energy_column(columns)
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
    """Read a column file as beamlines write them: a header of any kind, then a numeric table.

    The table is the longest run of all-numeric lines (whitespace or comma separated; lines
    starting with ``#``, ``;``, ``!``, ``%`` are comments); everything above it is the header.
    Column labels come from the header dialect of the beamline that wrote it
    (``edgestream.doors.files.headers``: SPEC ``#L``, APS LabVIEW, MRCAT/XDAC, GSE EpicsScan, SSRL,
    CLS, KEK-PF, FDMNES, APS 12BM...), else from the line just above the table when it has one
    non-numeric word per column (``# energy mu``, a CSV header row), else ``col1``, ``col2``...
    Energies given in keV, as a mono angle with the crystal's d-spacing, or relative to a
    stated edge are converted to eV here (said in ``metadata["Edgestream.energy"]``).
    """
    path = Path(path)
    return _read_lines(path, _lines(path))


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise BadSpectrum(f"cannot read {path}: {exc}", path=str(path)) from exc


def read_spec_scans(path: str | Path) -> list[ColumnFile]:
    """Every scan of a SPEC file (``#S`` sections, each with its own ``#L`` labels), each
    with the file's header above it; one ColumnFile for a file of one scan or none. A scan
    without data rows (aborted at once) is left out (``spec_scan_errors`` names it); a file
    where none has any raises."""
    return _spec_scans(Path(path))[0]


def spec_scan_errors(path: str | Path) -> list[BadSpectrum]:
    """Why scans of a SPEC file were left out by ``read_spec_scans`` (none: empty). Never
    raises: a file that is not SPEC, or unreadable, has no scans to name."""
    try:
        if sum(line.startswith("#S ") for line in _lines(Path(path))) < 2:
            return []
        return _spec_scans(Path(path))[1]
    except BadSpectrum:
        return []


def _spec_scans(path: Path) -> tuple[list[ColumnFile], list[BadSpectrum]]:
    lines = _lines(path)
    starts = [i for i, line in enumerate(lines) if line.startswith("#S ")]
    if len(starts) < 2:
        return [_read_lines(path, lines)], []
    head = lines[:starts[0]]
    scans, errors = [], []
    for begin, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        try:
            scans.append(_read_lines(path, head + lines[begin:end]))
        except BadSpectrum as exc:
            errors.append(BadSpectrum(f"{path}: scan {lines[begin][2:].strip()!r} left out: "
                                      f"{exc.message}", path=str(path)))
    if not scans:
        raise BadSpectrum(f"{path}: no scan with data: {[e.message for e in errors]}",
                          path=str(path))
    return scans, errors


def _read_lines(path: Path, lines: list[str]) -> ColumnFile:
    first, stop = _data_block(path, lines)
    header = lines[:first]
    table = np.array([_SPLIT.split(line.strip(" ,\t")) for line in lines[first:stop]
                      if line.strip()], dtype=float)
    parsed = parse_header(header, table.shape[1])
    table, notes = parsed.convert(table)
    comments = [h.strip().lstrip("".join(_COMMENT)).strip() for h in header if h.strip()]
    return _build(path, table, parsed.labels, parsed.units, parsed.metadata | notes, comments,
                  normalize=parsed.dialect != "xdi")


def _numeric_width(line: str) -> int:
    """Number of fields of an all-numeric data line, 0 for anything else."""
    stripped = line.strip(" ,\t")
    if not stripped or stripped.startswith(_COMMENT):
        return 0
    tokens = _SPLIT.split(stripped)
    return len(tokens) if all(_is_number(t) for t in tokens) else 0


def _data_block(path: Path, lines: list[str]) -> tuple[int, int]:
    """``(first, stop)`` line indices of the longest run of numeric lines (blank lines
    inside it allowed). Raises BadSpectrum when there is none or its widths differ."""
    blocks: list[tuple[int, int, int]] = []  # rows, first, stop
    first, rows, last = -1, 0, -1
    for i, line in enumerate([*lines, "#end"]):
        if not line.strip() and first >= 0:
            continue
        if _numeric_width(line):
            if first < 0:
                first, rows = i, 0
            rows, last = rows + 1, i
        elif first >= 0:
            blocks.append((rows, first, last + 1))
            first = -1
    if not blocks:
        raise BadSpectrum(f"{path}: no data rows", path=str(path))
    _, first, stop = max(blocks, key=lambda b: (b[0], -b[1]))
    widths = {_numeric_width(line) for line in lines[first:stop] if line.strip()}
    if len(widths) != 1:
        raise BadSpectrum(f"{path}: rows have {sorted(widths)} columns", path=str(path))
    return first, stop


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
