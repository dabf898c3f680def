"""The L2,3 valence plugins on measured spectra (tests/data/measured-l23; validation only: no
model ever trains on them and no constant is fitted to them).

    python -m edgestream_models.l23_validate          # table to stdout and into l_edge/measured.md
    python -m edgestream_models.l23_validate --json   # the rows as JSON as well

Each spectrum goes through the files door exactly as ``edgestream annotate FILE --element EL
--edge L2,3 [--eels]`` takes it (the same reader, assembly, normalization, plugins and
publishing policy), with the element's L2,3 plugin called by its entry-point name
(``cu_l_valence``, ``mn_l_valence``, ``fe_l_valence``, ``co_l_valence``, ``ni_l_valence``)
where it is installed. A spectrum the pipeline rejects, or an element whose plugin is not
there yet, is a row with its reason, never a crash.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.paths import checkout_root
from edgestream.plugin.api import SpectrumModel, discover

ROOT = checkout_root() or Path.cwd()
MEASURED = ROOT / "tests" / "data" / "measured-l23"
TABLE = ROOT / "plugins" / "edgestream_plugins" / "l_edge" / "measured.md"
PLUGINS = {"Cu": "cu_l_valence", "Mn": "mn_l_valence", "Fe": "fe_l_valence",
           "Co": "co_l_valence", "Ni": "ni_l_valence"}
EDGE = "L2,3"


def load_plugins(elements: set[str]) -> tuple[dict[str, SpectrumModel], dict[str, str]]:
    """The installed L2,3 plugin of each element, loaded on the CPU, and why an element has
    none (not installed, or its load failed)."""
    wanted = [PLUGINS[el] for el in sorted(elements) if el in PLUGINS]
    found = {m.name: m for m in discover(wanted)}
    models: dict[str, SpectrumModel] = {}
    missing: dict[str, str] = {}
    for el in sorted(elements):
        name = PLUGINS.get(el)
        model = found.get(name) if name else None
        if model is None:
            missing[el] = f"no {name or 'L2,3'} plugin installed"
            continue
        try:
            model.load(("CPUExecutionProvider",))
        except Exception as exc:  # a plugin that cannot load is a row, not a crash
            missing[el] = f"{name} failed to load: {type(exc).__name__}: {exc}"
            continue
        models[el] = model
    return models, missing


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def read_one(entry: dict[str, Any], model: SpectrumModel | None,
             folder: Path = MEASURED) -> dict[str, Any]:
    """One spectrum through the files door with the element's plugin (or none): e0, the
    plugin's outputs, and the pipeline's failures (a rejected spectrum has only those)."""
    eels = entry["modality"] == "eels"
    try:
        out = annotate_file(folder / entry["file"], Settings(), [model] if model else [],
                            element=entry["element"], edge=EDGE, eels=eels)
    except Exception as exc:  # the door must not raise; if it does, the row says so
        return {"status": "door raised", "error": f"{type(exc).__name__}: {exc}"}
    errors = "; ".join(f"{f.error.reason}: {f.error.message}" for f in out.failures)
    if not out.annotations:
        return {"status": "rejected", "error": errors or "no annotation and no failure"}
    a = out.annotations[0]
    row: dict[str, Any] = {"e0": _number(a.get("e0")), "edge": a.get("edge")}
    if errors:
        row["error"] = errors
    if model is None:
        return row | {"status": "no plugin"}
    preds = [p for p in a.get("predictions", []) if p.get("plugin") == model.name]
    if not preds:
        row.setdefault("error", f"{model.name} gave no prediction (does not apply?)")
        return row | {"status": "no prediction"}
    outputs = preds[0].get("outputs", {})
    return row | {"status": "predicted", "plugin": model.name,
                  "version": preds[0].get("version"),
                  "value": _number(outputs.get("value")),
                  "uncertainty": _number(outputs.get("uncertainty")),
                  "state": outputs.get("state"), "ood": outputs.get("ood"),
                  "ood_score": _number(outputs.get("ood_score")),
                  "probabilities": outputs.get("probabilities"),
                  "fractions": outputs.get("fractions")}


def validate(folder: Path = MEASURED) -> list[dict[str, Any]]:
    """One row per manifest spectrum: what it is, and what the pipeline and plugin made of it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    models, missing = load_plugins({e["element"] for e in manifest})
    rows = []
    for entry in manifest:
        result = read_one(entry, models.get(entry["element"]), folder)
        if result["status"] == "no plugin":
            result["error"] = "; ".join(x for x in (missing[entry["element"]],
                                                     result.get("error", "")) if x)
        rows.append({"file": entry["file"], "element": entry["element"],
                     "compound": entry["compound"], "modality": entry["modality"],
                     "formal_valence": entry["formal_valence"],
                     "digitized": entry.get("digitized", False),
                     "background_subtracted": entry.get("background_subtracted"), **result})
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per element and kind (measured / digitized): spectra, read, OOD, and the mean absolute
    error of the value against the formal valence where both exist."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = f"{r['element']} {'digitized' if r['digitized'] else 'measured'}"
        s = out.setdefault(key, {"spectra": 0, "predicted": 0, "ood": 0, "errors": []})
        s["spectra"] += 1
        if r.get("value") is not None:
            s["predicted"] += 1
            s["ood"] += bool(r.get("ood"))
            if r["formal_valence"] is not None:
                s["errors"].append(abs(r["value"] - r["formal_valence"]))
    for s in out.values():
        errors = s.pop("errors")
        s["mae"] = round(sum(errors) / len(errors), 3) if errors else None
        s["n_mae"] = len(errors)
    return out


def _cell(value: Any, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown record: provenance, summary, and one row per spectrum."""
    plugins = sorted({f"{r['plugin']} {r.get('version') or ''}".strip()
                      for r in rows if r.get("plugin")})
    lines = [
        "# L2,3 valence plugins on measured spectra",
        "",
        "Written by `python -m edgestream_models.l23_validate` (do not edit by hand). Spectra: "
        "`tests/data/measured-l23` (its README and manifest give every source and licence). "
        "VALIDATION ONLY: none of these spectra trains a model or sets a constant.",
        "",
        "Each file went through the files door as `edgestream annotate FILE --element EL "
        f"--edge {EDGE} [--eels]` would take it. Plugins run: "
        f"{', '.join(plugins) if plugins else 'none'}.",
        "",
        "| element, kind | spectra | predicted | OOD | MAE vs formal valence (n) |",
        "|---|---|---|---|---|",
    ]
    for key, s in sorted(summary(rows).items()):
        lines.append(f"| {key} | {s['spectra']} | {s['predicted']} | {s['ood']} | "
                     f"{_cell(s['mae'])} ({s['n_mae']}) |")
    lines += ["", "| file | compound | element | modality | formal valence | prediction ± σ "
              "| state | OOD | e0 (eV) | note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kind = "digitized" if r["digitized"] else ""
        status = "" if r["status"] in ("predicted", "no plugin") else r["status"]
        fractions = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("fractions") or {}).items())
        note = "; ".join(x for x in (kind, status, fractions, r.get("error", ""))
                         if x).replace("|", "/")
        pred = (f"{r['value']:.2f} ± {_cell(r.get('uncertainty'))}"
                if r.get("value") is not None else "–")
        ood = "–" if r.get("ood") is None else ("yes" if r["ood"] else "no")
        lines.append(
            f"| {r['file']} | {r['compound']} | {r['element']} | {r['modality']} | "
            f"{_cell(r['formal_valence'], '{:.3g}')} | {pred} | {r.get('state') or '–'} | {ood} "
            f"| {_cell(r.get('e0'), '{:.1f}')} | {note[:160]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {TABLE.name}")
    args = parser.parse_args()
    rows = validate()
    text = table(rows)
    if not args.no_write:
        TABLE.write_text(text)
    print(text)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
