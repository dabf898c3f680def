"""Athena project files (``.prj``): the groups of μ(E) they hold, as ``ColumnFile`` records.

Athena (Demeter) writes a project as gzip-compressed Perl statements, one record a group::

    $old_group = 'qull';
    @args = ('bkg_e0','8982.75','is_xmu',1,'label','cu_cuprite.001','bkg_z','Cu',...);
    @x = ('8830','8835',...);
    @y = ('0.1165',...);
    @i0 = (...);
    [record]   # create object and set arrays in ifeffit

and newer versions the same as JSON (``{"<group>": {"args": {...}, "x": [...], ...}}``).
Nothing is evaluated: the lists are read as quoted strings and bare numbers. Each μ(E)
group becomes a ``ColumnFile`` (``energy`` and ``mu``, the μ Athena formed) whose metadata uses
the XDI names the files door reads (``Sample.name`` = label, ``Element.symbol`` = ``bkg_z``,
``Element.edge`` = ``fft_edge``) plus ``Athena.group`` and ``Athena.bkg_eshift``. Athena's
energy shift is kept but not applied: it is whatever convention that user aligned to.
χ(k) records and groups without arrays are left out and listed in ``skipped``.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.doors.files.contents import FileContents
from edgestream.doors.files.readers import ColumnFile
from edgestream.errors import BadSpectrum

__all__ = ["AthenaProject", "is_athena", "read_athena"]

_HEAD_BYTES = 400  # the "# Athena project file" header line sits in the first lines
_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'|([^,\s()]+)")
_STATEMENT = re.compile(r"^\s*([@$])(\w+)\s*=\s*(.*?);?\s*$")


class AthenaProject(FileContents[ColumnFile]):
    """The μ(E) groups of one project, in the project's order, and what was left out."""

    @property
    def groups(self) -> list[ColumnFile]:
        return self.records


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadSpectrum(f"cannot read {path}: {exc}", path=str(path)) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BadSpectrum(f"{path}: broken gzip data: {exc}", path=str(path)) from exc
    return raw.decode("utf-8", errors="replace")


def is_athena(path: str | Path) -> bool:
    """True when the file opens like an Athena project (Perl or JSON flavour); reads only
    its first bytes."""
    try:
        with Path(path).open("rb") as handle:
            magic = handle.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except (OSError, EOFError):
        return False
    return "Athena project file" in head


def _items(text: str) -> list[str]:
    body = text.strip()
    if body.startswith("("):
        body = body[1:body.rfind(")")] if ")" in body else body[1:]
    return [q.replace("\\'", "'").replace("\\\\", "\\") if q or not b else b
            for q, b in _ITEM.findall(body)]


def _perl_records(text: str) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    name, fields = None, {}
    for line in text.splitlines():
        match = _STATEMENT.match(line)
        if match is None:
            continue
        sigil, var, value = match.groups()
        if sigil == "$" and var == "old_group":
            if name is not None:
                records.append((name, fields))
            name, fields = (_items(value) or [""])[0], {}
        elif sigil == "@" and name is not None:
            items = _items(value)
            fields[var] = dict(zip(items[::2], items[1::2], strict=False)) if var == "args" \
                else items
    if name is not None:
        records.append((name, fields))
    return records


def _json_records(text: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSpectrum(f"{path}: not valid JSON: {exc}", path=str(path)) from exc
    order = doc.get("_____order") or [k for k in doc if not k.startswith("_____")]
    return [(name, doc[name]) for name in order if isinstance(doc.get(name), dict)]


def _floats(values: Any) -> np.ndarray | None:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 and array.size else None


def _group(path: Path, name: str, fields: dict[str, Any]) -> ColumnFile | str:
    """A μ(E) group as a ColumnFile, or why it is left out."""
    args = fields.get("args") or {}
    is_chi, is_kev = (str(args.get(k, "0")) == "1" for k in ("is_chi", "is_kev"))
    if is_chi or str(args.get("recordtype", "mu(E)")).lower().startswith("chi"):
        return "χ(k) record"
    x, y = _floats(fields.get("x")), _floats(fields.get("y"))
    if x is None or y is None or x.size != y.size:
        return "no x/y arrays of one length"
    energy = x * (1000.0 if is_kev else 1.0)
    columns = {"energy": energy, "mu": y}
    metadata = {"Athena.group": name, "Athena.bkg_eshift": str(args.get("bkg_eshift", "0"))}
    if args.get("label"):
        metadata["Sample.name"] = str(args["label"])
    if args.get("bkg_z"):
        metadata["Element.symbol"] = str(args["bkg_z"])
    if args.get("fft_edge"):
        metadata["Element.edge"] = str(args["fft_edge"]).upper()
    return ColumnFile(path=f"{path}#{name}", energy=energy, columns=columns,
                      units={"energy": "eV"}, metadata=metadata)


def read_athena(path: str | Path) -> AthenaProject:
    """Read every μ(E) group of an Athena project (gzip or plain; Perl or JSON flavour).

    Raises BadSpectrum when the file cannot be read or holds no μ(E) group at all.
    """
    path = Path(path)
    text = _text(path)
    if "Athena project file" not in text[:_HEAD_BYTES]:
        raise BadSpectrum(f"{path}: not an Athena project file", path=str(path))
    records = (_json_records(text, path) if text.lstrip().startswith("{")
               else _perl_records(text))
    groups, skipped = [], {}
    for name, fields in records:
        result = _group(path, name, fields)
        if isinstance(result, str):
            skipped[name] = result
        else:
            groups.append(result)
    if not groups:
        raise BadSpectrum(f"{path}: no μ(E) group among {len(records)} records",
                          path=str(path), skipped=skipped)
    return AthenaProject(path=str(path), records=groups, skipped=skipped)
