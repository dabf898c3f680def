"""The ``k_edge`` family on measured spectra (tests/data/measured-3d-k, validation only: no
model ever trains on them and no constant is fitted to them), and the family's card figure.

    python -m edgestream_models.k3d_validate      # table to stdout, into each card, figure

Each spectrum is read twice through the files door, exactly as ``edgestream annotate`` does:
as the file stands (no calibration unless the file has a reference channel: the shape path),
and with the experimenter's own Athena alignment given as the energy shift (the calibrated
path; where the project's alignment is not a calibration, the row says so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.paths import checkout_root
from edgestream_plugins import k_edge

MEASURED = checkout_root() / "tests" / "data" / "measured-3d-k"
# Sessions whose Athena alignment put the foil on its tabulated edge (the README's figures)
ALIGNED = {"mn0_Mn_foil.xdi", "mn2_MnO.xdi", "mn3_Mn2O3.xdi", "mn4_Li2MnO3.xdi",
           "fe0_Fe_foil.xdi"}


def _plugins(element: str) -> list[Any]:
    out = []
    for task in ("valence", "coordination"):
        cls = getattr(k_edge, f"{element}K{task.capitalize()}", None)
        if cls is not None:
            out.append(cls())
    return out


def _read(entry: dict[str, Any], models: list[Any], shift: float | None) -> dict[str, Any]:
    options = {} if shift is None else {"energy_shift_ev": shift}
    out = annotate_file(MEASURED / entry["file"], Settings(), models, **options)
    if out.failures or not out.annotations:
        return {"error": str(out.failures[0].error) if out.failures else "no annotation"}
    a = out.annotations[0]
    preds = {p["plugin"].rsplit("_", 1)[-1]: p["outputs"] for p in a["predictions"]
             if p["plugin"].startswith(f"{entry['element'].lower()}_k_")}
    v, c = preds.get("valence", {}), preds.get("coordination", {})
    return {"valence": v.get("value"), "uncertainty": v.get("uncertainty"),
            "path": v.get("path") or c.get("path"), "ood": bool(v.get("ood") or c.get("ood")),
            "cn": c.get("cn"), "geometry": c.get("geometry"),
            "calibration": a["energy_calibration"]["source"]}


def validate() -> list[dict[str, Any]]:
    """One row per measured spectrum: known answers, both readings."""
    rows = []
    for entry in json.loads((MEASURED / "manifest.json").read_text()):
        models = _plugins(entry["element"])
        if not models:
            continue
        for m in models:
            m.load()
        as_is = _read(entry, models, None)
        shifted = _read(entry, models, float(entry.get("athena_eshift_ev", 0.0)))
        rows.append({
            "file": entry["file"], "element": entry["element"], "compound": entry["compound"],
            "formal_valence": entry["formal_valence"], "cn": entry["cn"],
            "geometry": entry["geometry"], "as_measured": as_is, "aligned": shifted,
            "alignment_is_calibration": entry["file"] in ALIGNED or entry["reference_channel"],
        })
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per element and reading: valence MAE over the spectra within the learned range
    (formal valence ≤ 4), how many outside the bounds (0.3 calibrated, 0.5 shape) are not
    flagged OOD, and whether the compounds come out in the order of their formal valence."""
    out: dict[str, dict[str, Any]] = {}
    for el in sorted({r["element"] for r in rows}):
        mine = [r for r in rows if r["element"] == el and r["formal_valence"] <= 4]
        for reading, bound in (("as_measured", 0.5), ("aligned", 0.3)):
            got = [(r["formal_valence"], r[reading].get("valence"), r[reading].get("ood"))
                   for r in mine if r[reading].get("valence") is not None]
            if not got:
                continue
            v, p, ood = (np.array(x, dtype=float) for x in zip(*got, strict=True))
            err = np.abs(p - v)
            order = float(np.corrcoef(v, p)[0, 1]) if len(set(v)) > 1 else None
            out.setdefault(el, {})[reading] = {
                "n": len(got), "mae": round(float(err.mean()), 3),
                "unflagged_outside_bound": int(np.sum((err > bound) & (ood == 0))),
                "pearson_valence": None if order is None else round(order, 3)}
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| compound | element | formal valence | as measured: valence ± σ (path, OOD) "
             "| aligned: valence ± σ (path, OOD) | CN / geometry (expected → read) |",
             "|---|---|---|---|---|---|"]

    def cell(r: dict[str, Any]) -> str:
        if "error" in r:
            return f"failed: {r['error'][:40]}"
        if r.get("valence") is None:
            return "–"
        flag = ", OOD" if r["ood"] else ""
        return f"{r['valence']:.2f} ± {r['uncertainty']:.2f} ({r['path']}{flag})"

    for r in rows:
        a = r["as_measured"]
        aligned = cell(r["aligned"]) + ("" if r["alignment_is_calibration"] else " *")
        lines.append(f"| {r['compound']} | {r['element']} | {r['formal_valence']:g} | "
                     f"{cell(a)} | {aligned} | {r['cn']} {r['geometry']} → "
                     f"{a.get('cn')} {a.get('geometry')} |")
    lines.append("\n\\* the project's alignment of this group is not known to be a "
                 "calibration (a different session, or no shift recorded)")
    return "\n".join(lines)


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    """Per element: held-out parity (both paths, from the cards) and the measured points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cards = {}
    for folder in sorted(k_edge.FOLDER.glob("*_valence")):
        card = json.loads((folder / "card.json").read_text())
        cards[card["element"]] = card
    els = list(cards)
    fig, axes = plt.subplots(2, (len(els) + 1) // 2, figsize=(3.2 * ((len(els) + 1) // 2), 6.4),
                             squeeze=False)
    for ax, el in zip(axes.flat, els, strict=False):
        for p, colour in (("calibrated", "tab:blue"), ("shape", "tab:orange")):
            par = cards[el].get("parity", {}).get(p) or {}
            if par.get("true"):
                jitter = np.random.default_rng(0).normal(0, 0.04, len(par["true"]))
                ax.scatter(np.array(par["true"]) + jitter, par["pred"], s=4, alpha=0.3,
                           color=colour, label=f"held out, {p} "
                           f"(MAE {cards[el]['paths'][p]['mae']:.2f})")
        for r in rows:
            if r["element"] == el:
                for reading, marker in (("as_measured", "o"), ("aligned", "s")):
                    v = r[reading].get("valence")
                    if v is not None:
                        ax.scatter(r["formal_valence"], v, marker=marker, s=30,
                                   facecolor="none", edgecolor="k")
        top = max([4.0] + [r["formal_valence"] for r in rows if r["element"] == el])
        ax.plot([0, top], [0, top], "k:", lw=0.8)
        ax.set_title(f"{el} K ({cards[el]['sites']} sites)", fontsize=9)
        ax.set_xlabel("formal valence", fontsize=8)
        ax.legend(fontsize=5, loc="upper left")
    for ax in list(axes.flat)[len(els):]:
        ax.axis("off")
    fig.suptitle("k_edge valence: held out by material (points), measured (○ as measured, "
                 "□ aligned)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    rows = validate()
    result = summary(rows)
    for folder in sorted(k_edge.FOLDER.glob("*_valence")):
        card_path = folder / "card.json"
        card = json.loads(card_path.read_text())
        card["measured"] = {"rows": [r for r in rows if r["element"] == card["element"]],
                            "summary": result.get(card["element"])}
        card_path.write_text(json.dumps(card, indent=1) + "\n")
    (k_edge.FOLDER / "measured.md").write_text(table(rows) + "\n")
    figure(rows, k_edge.FOLDER / "card.png")
    print(table(rows))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
