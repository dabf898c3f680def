"""The plugin manifest, ``plugin.toml``: read, validated and written one way.

A manifest says what a plugin is (``name``, ``version``, ``description``), what it applies to
(``elements``, ``edges``, ``modalities``: empty lists mean any), whether it runs by default
(``opt_in``), the files it ships (``[files.<key>]`` with ``path`` and ``sha256``), an optional
input ``[grid]``, and its typed ``[outputs.<name>]``::

    [outputs.value]
    type = "float"                      # float int bool string list map records object
    unit = "formal oxidation state"
    range = [0.0, 3.0]
    description = "formal valence of the absorbing Cu (ensemble median)"

``list`` and ``map`` say the type of their ``items`` (and a ``range`` that applies to them);
``map`` may name its ``keys`` (a list, or the name of a top-level list such as ``"classes"``);
``string`` may name its ``choices`` the same way; ``records`` (a list of tables) names its
``fields`` (field → type). Every output may be null (a spectrum that cannot be read) and
``required = false`` marks one that only some spectra carry. Other top-level keys and tables
are the plugin's own parameters (``classes``, ``[ood]``, ``[ranking]``...).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OOD_OUTPUTS", "Manifest", "ManifestError", "OutputSpec", "check_outputs",
           "read_manifest", "sha256_of", "validate_manifest", "verified", "write_manifest"]

FILENAME = "plugin.toml"
SCALARS = ("float", "int", "bool", "string")
TYPES = (*SCALARS, "list", "map", "records", "object")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The two outputs of every plugin with an OOD reference (edgestream.plugin.ood), as written
# into its manifest's [outputs].
OOD_OUTPUTS: dict[str, dict[str, Any]] = {
    "ood": {"type": "bool",
            "description": "true when outside the training distribution (see card.json)"},
    "ood_score": {"type": "float", "range": [0.0, math.inf],
                  "description": "max of PCA Mahalanobis and residual distances / their "
                                 "99.5% validation quantiles; > 1 is out of distribution"},
}


class ManifestError(ValueError):
    """An invalid manifest: the message names the file and the field."""

    def __init__(self, source: str, field_name: str, problem: str) -> None:
        super().__init__(f"{source}: {field_name}: {problem}")
        self.source, self.field, self.problem = source, field_name, problem


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified(path: Path, sha256: str, manifest: Path | str = FILENAME) -> Path:
    """``path`` when its sha256 is ``sha256`` (what ``manifest`` says), else a ValueError."""
    if sha256_of(path) != sha256:
        raise ValueError(f"{path}: sha256 does not match {manifest}")
    return path


@dataclass(frozen=True)
class OutputSpec:
    """One typed output: what :func:`check_outputs` holds each value to."""

    name: str
    type: str
    description: str = ""
    unit: str | None = None
    range: tuple[float, float] | None = None
    items: str | None = None
    keys: tuple[str, ...] | None = None
    choices: tuple[str, ...] | None = None
    fields: dict[str, str] | None = None
    required: bool = True


@dataclass(frozen=True)
class Manifest(Mapping[str, Any]):
    """A validated ``plugin.toml``. Reads as the TOML table (``manifest["ood"]``), with the
    contract's fields typed as attributes."""

    path: Path
    data: dict[str, Any] = field(repr=False)
    outputs: dict[str, OutputSpec] = field(repr=False)

    name = property(lambda self: self.data["name"])
    version = property(lambda self: self.data["version"])
    opt_in = property(lambda self: bool(self.data.get("opt_in", False)))
    files = property(lambda self: self.data.get("files", {}))

    @property
    def folder(self) -> Path:
        return self.path.parent

    def applies(self, key: str) -> frozenset[str] | None:
        """``elements``/``edges``/``modalities`` as a set, None for "any" (an empty list)."""
        values = self.data.get(key, [])
        return frozenset(values) if values else None

    def grid(self) -> np.ndarray | None:
        """The ``[grid]`` points (start..stop inclusive, ``step`` apart), or None."""
        g = self.data.get("grid")
        if g is None:
            return None
        return np.round(np.arange(g["start"], g["stop"] + g["step"] / 2, g["step"]), 3)

    def file(self, key: str, verify: bool = True) -> Path:
        """Path of ``[files.<key>]``, after its sha256 check (a ValueError when it differs)."""
        entry = self.files[key]
        path = self.folder / entry["path"]
        return verified(path, entry["sha256"], self.path) if verify else path

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def read_manifest(folder: Path | str) -> Manifest:
    """The validated manifest of a plugin ``folder`` (or the path of its ``plugin.toml``)."""
    path = Path(folder)
    path = path if path.suffix == ".toml" else path / FILENAME
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ManifestError(str(path), "(file)", "not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(str(path), "(syntax)", str(exc)) from None
    return validate_manifest(data, path)


def validate_manifest(data: dict[str, Any], path: Path) -> Manifest:
    """``data`` as a :class:`Manifest`, or a :class:`ManifestError` naming ``path`` and the
    first field that is wrong. Files named in ``[files]`` must exist beside it."""
    src = str(path)

    def need(key: str, kind: type | tuple[type, ...], where: dict[str, Any] = data,
             prefix: str = "", default: Any = ...) -> Any:
        """``where[key]`` if it is a ``kind``, else ``default`` when absent, else refused."""
        if key not in where:
            if default is not ...:
                return default
            raise ManifestError(src, prefix + key, "missing")
        value = where[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML's true is a Python int too: a number field must not take it
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ManifestError(src, prefix + key, f"expected {_kind(kind)}, got {value!r}")
        return value

    if not NAME.match(need("name", str)):
        raise ManifestError(src, "name", f"{data['name']!r} is not a plugin name")
    if not need("version", str):
        raise ManifestError(src, "version", "empty")
    need("description", str, default="")
    need("opt_in", bool, default=False)
    for key in ("elements", "edges", "modalities"):
        values = need(key, list)
        if not all(isinstance(v, str) and v for v in values):
            raise ManifestError(src, key, "expected a list of non-empty strings")
    for key, entry in need("files", dict, default={}).items():
        need("path", str, entry, f"files.{key}.")
        if not SHA256.match(need("sha256", str, entry, f"files.{key}.")):
            raise ManifestError(src, f"files.{key}.sha256", "expected 64 hex digits")
        if not (path.parent / entry["path"]).is_file():
            raise ManifestError(src, f"files.{key}.path", f"{entry['path']} not found")
    if "grid" in data:
        g = need("grid", dict)
        start, stop, step = (need(k, (int, float), g, "grid.") for k in ("start", "stop", "step"))
        if not (step > 0 and stop > start):
            raise ManifestError(src, "grid", "expected start < stop and step > 0")
    outputs = need("outputs", dict)
    if not outputs:
        raise ManifestError(src, "outputs", "a plugin declares at least one output")
    specs = {k: _output(src, data, k, v) for k, v in outputs.items()}
    return Manifest(path, data, specs)


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number",
             list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _names(src: str, data: dict[str, Any], where: str, value: Any) -> tuple[str, ...]:
    """A list of strings, or the name of a top-level list of strings (``"classes"``)."""
    if isinstance(value, str):
        value = data.get(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(src, where, "expected a list of strings or the name of one")
    return tuple(value)


def _output(src: str, data: dict[str, Any], name: str, spec: Any) -> OutputSpec:
    where = f"outputs.{name}"
    if not isinstance(spec, dict):
        raise ManifestError(src, where, "expected a table with at least `type`")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ManifestError(src, where + ".type", f"{kind!r} is not one of {', '.join(TYPES)}")
    unknown = set(spec) - {"type", "description", "unit", "range", "items", "keys", "choices",
                           "fields", "required"}
    if unknown:
        raise ManifestError(src, where, f"unknown keys {sorted(unknown)}")
    rng = spec.get("range")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                and all(_number(v) for v in rng) and rng[0] <= rng[1]):
        raise ManifestError(src, where + ".range", "expected [low, high] numbers, low <= high")
    items = spec.get("items")
    if (kind in ("list", "map")) != (items is not None) or (items and items not in SCALARS):
        raise ManifestError(src, where + ".items", "list and map outputs (only) name their "
                            f"items' type, one of {', '.join(SCALARS)}")
    fields = spec.get("fields")
    if (kind == "records") != (fields is not None) or (fields is not None and not (
            isinstance(fields, dict) and all(t in SCALARS for t in fields.values()))):
        raise ManifestError(src, where + ".fields", "records outputs (only) name their "
                            f"fields' types, each one of {', '.join(SCALARS)}")
    for key, allowed in (("unit", str), ("description", str), ("required", bool)):
        if key in spec and not isinstance(spec[key], allowed):
            raise ManifestError(src, f"{where}.{key}", f"expected {_kind(allowed)}")
    keys = _names(src, data, where + ".keys", spec["keys"]) if "keys" in spec else None
    choices = (_names(src, data, where + ".choices", spec["choices"])
               if "choices" in spec else None)
    return OutputSpec(name, kind, spec.get("description", ""), spec.get("unit"),
                      tuple(rng) if rng is not None else None, items, keys, choices, fields,
                      spec.get("required", True))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _scalar_problem(kind: str, value: Any, rng: tuple[float, float] | None) -> str | None:
    ok = {"float": _number(value) and math.isfinite(value),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "string": isinstance(value, str)}[kind]
    if not ok:
        return f"{value!r} is not a {kind}"
    if rng is not None and kind in ("float", "int") and not rng[0] <= value <= rng[1]:
        return f"{value!r} outside [{rng[0]}, {rng[1]}]"
    return None


def check_outputs(manifest: Manifest, outputs: dict[str, Any]) -> list[str]:
    """What is wrong with one spectrum's ``outputs`` against the manifest (empty: nothing):
    undeclared keys, missing required ones, wrong types, values out of range or choices."""
    problems = [f"{k}: not declared in the manifest" for k in outputs
                if k not in manifest.outputs]
    for name, spec in manifest.outputs.items():
        if name not in outputs:
            if spec.required:
                problems.append(f"{name}: missing")
            continue
        value = outputs[name]
        if value is None:
            continue
        problem = _value_problem(spec, value)
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def _value_problem(spec: OutputSpec, value: Any) -> str | None:
    if spec.type in SCALARS:
        if spec.choices is not None and value not in spec.choices:
            return f"{value!r} not one of {list(spec.choices)}"
        return _scalar_problem(spec.type, value, spec.range)
    if spec.type == "object":
        return None if isinstance(value, dict) else f"{value!r} is not a table"
    if spec.type == "map":
        if not isinstance(value, dict):
            return f"{value!r} is not a table"
        if spec.keys is not None and set(value) != set(spec.keys):
            return f"keys {sorted(value)} are not {sorted(spec.keys)}"
        items = value.items()
    elif not isinstance(value, list):
        return f"{value!r} is not a list"
    elif spec.type == "list":
        items = enumerate(value)
    else:  # records
        for i, row in enumerate(value):
            if not isinstance(row, dict) or set(row) != set(spec.fields or {}):
                return f"[{i}] is not a record of {sorted(spec.fields or {})}"
            for f, kind in (spec.fields or {}).items():
                problem = row[f] is not None and _scalar_problem(kind, row[f], None)
                if problem:
                    return f"[{i}].{f}: {problem}"
        return None
    for key, item in items:
        problem = item is not None and _scalar_problem(spec.items or "", item, spec.range)
        if problem:
            return f"[{key!r}]: {problem}"
    return None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def write_manifest(folder: Path, data: dict[str, Any], files: dict[str, str] | None = None,
                   writer: str = "the training") -> Manifest:
    """Write ``folder/plugin.toml`` from ``data`` (top-level values, then tables) with each of
    ``files`` (key → file name in ``folder``) and its sha256; validated before it is written
    (a :class:`ManifestError` leaves the old file) and read back. ``writer`` goes in the
    header ("Written by ...; do not edit by hand")."""
    data = dict(data)
    if files is not None:
        data["files"] = {k: {"path": name, "sha256": sha256_of(Path(folder) / name)}
                         for k, name in files.items()}
    path = Path(folder) / FILENAME
    validate_manifest(json.loads(json.dumps(data, default=_plain)), path)
    lines = [f"# Written by {writer}; do not edit by hand."]

    def table(prefix: str, d: dict[str, Any]) -> None:
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict))
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    path.write_text("\n".join(lines) + "\n")
    return read_manifest(path)


def _plain(v: Any) -> Any:
    """numpy scalars as Python ones, for validating what will be written."""
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
