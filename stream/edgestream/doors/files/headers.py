"""Header dialects of beamline column files: column labels, energy units, edge hints.

Every beamline writes its own header above the numeric table. ``parse_header`` recognises
the dialects below (facts taken from the files themselves and from xraylarch's
``larch/io/xafs_beamlines.py``, MIT, whose example files are the test corpus) and falls
back to the line just above the table:

- SPEC (``#L`` labels separated by two spaces; ESRF, APS 9-BM 2006, ...);
- APS 12-BM ``#C 1_Energy (keV) 2_sec ...`` numbered labels, energy in keV;
- APS XSD LabVIEW (20-BM, 20-ID, 9-BM): ``# Column Headings:`` then 21-character wide labels;
- APS MRCAT (10-BM/ID) and NSLS XDAC: labels on the line after the ``-----`` rule;
- GSE EpicsScan (APS 13-BM/ID, old style): ``; P1 = {Energy} --> PV`` legend;
- SSRL EXAFS Data Collector: one label a line after ``Data:``;
- CLS HXMA: ``#(1)`` tab-separated quoted names, ``$(Detector1)`` style;
- KEK-PF 9809 format: mono angle (degrees) with the crystal's ``D=`` spacing; channel roles
  from the ``Mode`` row (1: I0, 2: It, 3: fluorescence);
- FDMNES output: energy relative to the ``E_edge`` given in the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HC_EV_ANGSTROM", "Header", "column_name", "energy_column", "parse_header"]

HC_EV_ANGSTROM = 12398.419843320026  # h c in eV Å (CODATA 2018): E = hc / (2 d sin θ)
_COMMENT = "#;!%"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# readback before setpoint: the mono's own measure of where it went
_ENERGY_READBACK = ("rbv", "readback", "fbk", "feedback", "achieved", "enctoe", "read")
_ENERGY_SETPOINT = ("requested", "request", "setpoint", "_sp", "drive", "demand", "absenergy")
KEV_MAX = 50.0  # an energy axis entirely below this is in keV: no XAS edge lies under 50 eV


def column_name(label: str) -> str:
    """A label as a column name: lower case, other characters as ``_``
    (``"XMAP4:AsKa_Sum"`` -> ``xmap4_aska_sum``, ``"Mono Energy *"`` -> ``mono_energy``)."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def energy_column(columns: dict[str, np.ndarray]) -> str:
    """The name of the energy column among normalized names.

    A column named just ``energy`` (XDI's name for the axis the spectrum is on), then an
    energy-named readback (``achieved_energy``, ``energyfeedback``), then any other energy
    name that is not a setpoint, then a setpoint, then the first column that rises or
    falls steadily (an unnamed energy axis), else the first column.
    """
    names = list(columns)
    named = [n for n in names if "energy" in n or n in ("e", "en", "ene", "mononrg", "nrg")]
    for group in ([n for n in named if n == "energy"],
                  [n for n in named if any(k in n for k in _ENERGY_READBACK)],
                  [n for n in named if not any(k in n for k in _ENERGY_SETPOINT)], named):
        if group:
            return group[0]
    for name in names:
        step = np.diff(columns[name])
        if step.size and (np.all(step >= 0) or np.all(step <= 0)) and np.any(step != 0):
            return name
    return names[0]


@dataclass
class Header:
    """What a header says about its table: labels (one per column), units by column index,
    metadata (XDI-style ``Family.key`` names), and how the energy column is to be read."""

    dialect: str
    labels: list[str]
    units: dict[int, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    energy_kev: bool = False
    energy_offset_ev: float | None = None  # FDMNES: energies relative to this edge
    d_spacing: float | None = None  # Å: the "energy" is the Bragg angle in degrees
    angle_label: str | None = None

    def convert(self, table: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
        """The table with its energy column in eV (a mono angle gains an ``energy`` column),
        and a note of what was done, for ``metadata["Edgestream.energy"]``."""
        names = [column_name(label) for label in self.labels]
        if self.d_spacing and self.angle_label in self.labels:
            theta = np.radians(table[:, self.labels.index(self.angle_label)])
            with np.errstate(divide="ignore"):
                energy = HC_EV_ANGSTROM / (2.0 * self.d_spacing * np.sin(theta))
            self.labels.append("energy")
            self.units[len(self.labels) - 1] = "eV"
            note = (f"from the mono angle {self.angle_label!r} (deg) with d = "
                    f"{self.d_spacing} Å")
            return np.column_stack([table, energy]), {"Edgestream.energy": note}
        idx = names.index(energy_column(dict(zip(names, table.T, strict=True))))
        values = table[:, idx]
        if self.energy_offset_ev is not None:
            table = table.copy()
            table[:, idx] = values + self.energy_offset_ev
            return table, {"Edgestream.energy": f"relative to the edge at {self.energy_offset_ev}"
                                                " eV given in the header"}
        # by value only for a column named as energy holding a scan (not a two-row table)
        by_value = ("energy" in names[idx] and values.size >= 10 and bool(np.all(np.isfinite(
            values))) and values.min() > 0 and values.max() < KEV_MAX)
        if self.energy_kev or by_value:
            table = table.copy()
            table[:, idx] = values * 1000.0
            self.units[idx] = "eV"
            why = "the header" if self.energy_kev else "its values"
            return table, {"Edgestream.energy": f"keV (from {why}), converted to eV"}
        return table, {}


def _strip_comment(line: str) -> str:
    return line.strip().lstrip(_COMMENT + " \t").strip()


def _words(line: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", line.replace('"', " ").replace("'", " ")) if w]


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token))


def _last_line_labels(header: list[str], n: int) -> list[str] | None:
    """The line just above the table as labels: ``n`` words, not all numbers."""
    for line in reversed(header):
        if not line.strip():
            continue
        words = _words(_strip_comment(line))
        if len(words) == n and not all(_is_number(w) for w in words):
            return words
        return None
    return None


def _spec(header: list[str], n: int) -> Header | None:
    lines = [h.strip() for h in header if h.strip().startswith("#L")]
    if not lines:
        return None
    text = lines[-1][2:].strip()
    for labels in (re.split(r"\s{2,}", text), text.split()):
        if len(labels) == n:
            return Header("spec", labels, metadata=_spec_metadata(header))
    return None


def _spec_metadata(header: list[str]) -> dict[str, str]:
    scans = [h.strip()[2:].strip() for h in header if h.strip().startswith("#S")]
    return {"Scan.spec_scan": scans[-1]} if scans else {}


def _aps12bm(header: list[str], n: int) -> Header | None:
    if not any("exafs_region" in h for h in header):
        return None
    last = _strip_comment(header[-1]).removeprefix("C").strip()
    parts = re.findall(r"(\d+)_(.+?)(?=\s+\d+_|$)", last)
    if len(parts) != n:
        return None
    labels, units = [], {}
    for i, (_, text) in enumerate(parts):
        unit = re.search(r"\(([^)]+)\)", text)
        labels.append(re.sub(r"\s*\([^)]*\)", "", text).strip())
        if unit:
            units[i] = unit.group(1)
    meta = {}
    for h in header:
        edge = re.search(r"exafs_edge_energy\s+([\d.]+)", h)
        if edge:
            meta["Scan.edge_energy"] = str(float(edge.group(1)) * 1000.0)
    kev = units.get(0, "").lower() == "kev"
    return Header("aps12bm", labels, units, meta, energy_kev=kev)


def _labview(header: list[str], n: int) -> Header | None:
    if not header or "labview" not in header[0].lower():
        return None
    last = header[-1].rstrip()
    text = last.lstrip("#")
    width = 21  # the LabVIEW panel writes each heading in a 21-character field
    labels = [text[i:i + width].strip().rstrip("*").strip() for i in range(0, n * width, width)]
    if len(labels) == n and all(labels):
        return Header("aps_labview", labels, metadata=_e0_metadata(header))
    return None


def _rule_then_labels(header: list[str], n: int) -> Header | None:
    """MRCAT and XDAC: the labels follow a line of dashes."""
    first = header[0].strip().lower() if header else ""
    if not (first.startswith("mrcat_xafs") or first.startswith("xdac")):
        return None
    for i, line in enumerate(header[:-1]):
        if line.strip().startswith("-----"):
            labels = header[i + 1].split()
            if len(labels) == n:
                return Header(first.split()[0], labels, metadata=_e0_metadata(header))
    return None


def _e0_metadata(header: list[str]) -> dict[str, str]:
    """The edge energy a scan was set up for (``E0= 6540.00``, ``E0: 11867.00 eV``)."""
    for line in header:
        match = re.search(r"\bE0\s*[=:]\s*([\d.]+)", line)
        if match:
            return {"Scan.edge_energy": match.group(1)}
    return {}


def _gse_old(header: list[str], n: int) -> Header | None:
    if not header or not header[0].lower().startswith("; epics scan 1 dim"):
        return None
    legend = {}
    for line in header:
        match = re.match(r";\s*([PD]\d+)\s*=\s*\{([^}]*)\}", line.strip())
        if match:
            legend[match.group(1)] = match.group(2).strip()
    order = _strip_comment(header[-1]).split()
    labels = [legend.get(k, k) for k in order]
    if len(labels) == n:
        return Header("gse_epicsscan", labels, metadata=_e0_metadata(header))
    return None


def _ssrl(header: list[str], n: int) -> Header | None:
    if not header or "ssrl" not in header[0].lower():
        return None
    stripped = [h.strip() for h in header]
    if "Data:" not in stripped:
        return None
    labels = []
    for line in stripped[stripped.index("Data:") + 1:]:
        if not line:
            break
        labels.append(line)
    return Header("ssrl", labels) if len(labels) == n else None


def _cls(header: list[str], n: int) -> Header | None:
    if not header or "cls data acquisition" not in header[0].lower():
        return None
    for line in reversed(header):
        if line.startswith("#(1)") and "$(" in line:
            labels = [w.strip().removeprefix("$(").removesuffix(")")
                      for w in re.findall(r'"([^"]*)"', line)]
            if len(labels) == n:
                return Header("cls", labels, metadata=_cls_edge(header))
    return None


def _cls_edge(header: list[str]) -> dict[str, str]:
    """The ``$(EdgeEnergy)`` of the ``#(2)`` legend, read from its values line (the comment
    line after it; a label ``$(Background)[1-4]`` stands for four values)."""
    legend = next((h for h in header if h.startswith("#(2)") and "$(" in h), None)
    if legend is None:
        return {}
    position = 0
    for label in re.findall(r'"([^"]*)"', legend):
        if "EdgeEnergy" in label:
            break
        span = re.search(r"\[(\d+)-(\d+)\]", label)
        position += int(span.group(2)) - int(span.group(1)) + 1 if span else 1
    else:
        return {}
    values = next((h for h in header[header.index(legend) + 1:]
                   if h.startswith("#") and not h.startswith("#(")), "")
    fields = [f.strip() for f in values.lstrip("# ").split(",")]
    if position < len(fields) and _is_number(fields[position]):
        return {"Scan.edge_energy": fields[position]}
    return {}


def _kek(header: list[str], n: int) -> Header | None:
    if not header or "kek-pf" not in header[0].lower():
        return None
    d_spacing = None
    for line in header:
        match = re.search(r"\bD\s*=\s*([\d.]+)\s*A", line)
        if match:
            d_spacing = float(match.group(1))
    modes = next((h.split()[1:] for h in header if h.strip().startswith("Mode")), [])
    roles = {"1": "I0", "2": "It", "3": "If"}
    labels = ["angle_drive", "angle_read", "time"]
    for i in range(3, n):
        # the Mode row's word "Mode" sits in the first column's field: values start at the 2nd
        mode = modes[i - 1] if i - 1 < len(modes) else ""
        labels.append(roles.get(mode, f"ch{i + 1}"))
    labels = labels[:n]
    return Header("kek_pf", labels, d_spacing=d_spacing, angle_label="angle_read")


def _fdmnes(header: list[str], n: int) -> Header | None:
    if not any("fdmnes" in h.lower() for h in header[:3]):
        return None
    edge = None
    for line in header:
        if "E_edge" in line:
            number = re.search(r"[-+]?\d+\.?\d*", _strip_comment(line))
            edge = float(number.group()) if number else None
    labels = _last_line_labels(header, n) or [f"col{i + 1}" for i in range(n)]
    labels = ["mu" if column_name(w) == "xanes" else w for w in labels]
    return Header("fdmnes", labels, energy_offset_ev=edge)


_DIALECTS = (_spec, _aps12bm, _labview, _rule_then_labels, _gse_old, _ssrl, _cls, _kek,
             _fdmnes)


def parse_header(header: list[str], n: int) -> Header:
    """Labels and energy conventions of a table of ``n`` columns under ``header`` (its
    lines as written). Unknown dialects: the line above the table, else ``col1``..."""
    parsed = next((p for p in (d(header, n) for d in _DIALECTS) if p is not None), None)
    if parsed is None:
        labels = _last_line_labels(header, n)
        parsed = (Header("unlabelled", [f"col{i + 1}" for i in range(n)]) if labels is None
                  else Header("generic", labels, metadata=_e0_metadata(header)))
    parsed.metadata |= _element_metadata(header)
    if parsed.d_spacing is None:
        _mono_angle(parsed, header)
    return parsed


_ANGLE = re.compile(r"^(mono_?)?(angle|theta|bragg|th|mono_?theta|dcm_?theta)(_.*)?$")


def _mono_angle(parsed: Header, header: list[str]) -> None:
    """A table with no energy column but a Bragg-angle one (``theta``, ``mono_angle``,
    degrees) and the crystal's spacing in the header (``Mono.d_spacing: 3.1356``,
    ``d-spacing = 3.1356``, ``2d = 6.2712``): the energy comes from the angle."""
    names = [column_name(label) for label in parsed.labels]
    if any("energy" in n for n in names):
        return
    angle = next((label for label, n in zip(parsed.labels, names, strict=True)
                  if _ANGLE.match(n)), None)
    if angle is None:
        return
    for line in header:
        text = _strip_comment(line)
        two_d = re.search(r"\b2d\s*[:=]\s*([\d.]+)", text, re.IGNORECASE)
        one_d = re.search(r"\bd[_ -]?spacing\s*[:=]\s*([\d.]+)", text, re.IGNORECASE)
        if two_d or one_d:
            value = float((two_d or one_d).group(1)) / (2.0 if two_d else 1.0)
            if value > 0:
                parsed.d_spacing, parsed.angle_label = value, angle
                return


def _element_metadata(header: list[str]) -> dict[str, str]:
    """``# Element: As`` and ``# Edge: K`` lines (NSLS-II ISS and others)."""
    meta = {}
    for line in header:
        text = _strip_comment(line)
        element = re.match(r"element\s*[:=]\s*([A-Z][a-z]?)\s*$", text, re.IGNORECASE)
        edge = re.match(r"edge\s*[:=]\s*(K|L[123]|M[1-5])\s*$", text, re.IGNORECASE)
        if element:
            meta["Element.symbol"] = element.group(1).capitalize()
        if edge:
            meta["Element.edge"] = edge.group(1).upper()
    return meta
