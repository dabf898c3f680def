"""The labelled Cu K-edge data set: FEFF9 (OmniXAS) + FEFF10 sites, calibrated, split, labelled.

``python -m edgestream_models.dataset build`` writes
``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/cu_k_dataset.npz`` (atomically), a summary
``cu_k_dataset.summary.json`` beside it and, the first time, ``cu_k_dataset.READY``. It works
without the FEFF10 file (``datasets/feff10_cu_k.npz``) and picks it up when re-run; labels,
features and calibration are cached, so a rebuild only computes what is new.

Fields, one row per absorbing site (n rows; strings are numpy unicode, no pickles):
    key, material, source ("feff9_omnixas" | "feff10"), split ("train" | "val" | "test"),
    formula, site_index, poscar_index (into the POSCAR blob, see ``poscar``);
    energy_calibrated = grid [g]: common absolute grid (eV, measured/foil scale, ``STEP``);
    mu [n, g] float32: FEFF's edge-step-normalized mu on that grid, NaN outside each
        spectrum's computed range; energy_shift [n]: the shift applied (the code's global
        shift; ``--feff10-shift valence``: FEFF10 by formal valence, see ``build``);
    energy_native / mu_native [n, p]: each spectrum's own calibrated points (NaN-padded);
    valence [n] (NaN if failed), valence_method: OmniXAS rows from the structure
        (``labels``: "bva" | "guess" | "failed"); FEFF10 rows the generator's curated
        ``formal_valence`` ("formal": BVA is wrong for persulfides such as CuS and fails on
        intermetallics), else the structure's; valence_structure(_method): the structure's
        value for every row; formal_valence (FEFF10 generator; NaN for FEFF9);
    motif, cn, cn_crystalnn, multiplicity (symmetry-equivalent sites of the absorber);
    cross_split_duplicate: the material's structure also occurs (another id) in another split;
    site_features [n, 64] float32: raw M3GNet gc_3 features (NaN where featurization failed);
    site_features_scale: 1000 (OmniXAS multiplies the raw features by it);
    site_geometry [n, 92] float32: the absorber's radial distribution (``site_geometry``);
    poscar_blob (uint8, UTF-8) + poscar_offsets [m + 1]: the structures' POSCAR texts.

Splits: OmniXAS's ``splits.json`` for its sites; its unsplit sites go to train unless their
material is in val/test (then they follow it). FEFF10 materials (prototype ids) are split
~70/15/15 with ``SEED``, stratified by valence class; a FEFF10 material that is an OmniXAS
material (same id or matching structure) takes its split (``matched_materials``). The sources
are read and split in :mod:`edgestream_models.dataset_sources`, assembled here.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.physics import resample
from edgestream_models import calibration
from edgestream_models.cache import cache_dir, cached_map
from edgestream_models.dataset_sources import (
    cross_split_duplicates,
    datasets_dir,
    feff10_split,
    load_feff10,
    load_omnixas,
    matched_materials,
    valence_class,
)
from edgestream_models.labels import label_structure
from edgestream_models.site_features import N_FEATURES, OMNIXAS_SCALE, features_for
from edgestream_models.site_geometry import N_GEOMETRY, site_geometry

STEP = 0.25            # eV, common grid step
SOURCES = {"feff9": "feff9_omnixas", "feff10": "feff10"}


def poscar(data: Any, row: int) -> str:
    """The POSCAR text of data-set row ``row`` (``data``: the loaded npz)."""
    i = int(data["poscar_index"][row])
    a, b = data["poscar_offsets"][i], data["poscar_offsets"][i + 1]
    return bytes(data["poscar_blob"][a:b]).decode()


def site_labels(src: dict[str, Any], name: str, processes: int) -> dict[str, np.ndarray]:
    """Labels and features of a source's rows (cached under labels/ and features/)."""
    recs = cached_map(label_structure, src["items"], cache_dir("labels") / f"{name}.jsonl",
                      processes=processes, desc=f"labels {name}")
    feats = features_for(src["items"], name, processes=processes)
    n = len(src["key"])
    out: dict[str, Any] = {"valence": np.full(n, np.nan), "valence_method": [],
                           "motif": [], "cn": np.full(n, -1), "cn_crystalnn": np.full(n, -1),
                           "multiplicity": np.ones(n, dtype=int), "formula": [],
                           "site_features": np.full((n, N_FEATURES), np.nan, np.float32)}
    for r, (sid, s) in enumerate(zip(src["structure_id"], src["site_index"], strict=True)):
        rec = recs.get(sid, {})
        lab = rec.get("sites", {}).get(str(s), {})
        if lab.get("valence") is not None:
            out["valence"][r] = lab["valence"]
        out["valence_method"].append(lab.get("valence_method", "failed"))
        out["motif"].append(lab.get("motif", "other"))
        out["cn"][r] = lab.get("cn", -1)
        out["cn_crystalnn"][r] = lab.get("cn_crystalnn", -1)
        out["multiplicity"][r] = lab.get("multiplicity", 1)
        out["formula"].append(rec.get("formula", ""))
        if (sid, int(s)) in feats:
            out["site_features"][r] = feats[(sid, int(s))]
    return {k: np.asarray(v) for k, v in out.items()}


def geometry_of(poscars: list[str] | np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Radial descriptors (``site_geometry``) of every row: ``[n, N_GEOMETRY]``."""
    from pymatgen.core import Structure
    from tqdm.auto import tqdm

    out = np.empty((len(sites), N_GEOMETRY), dtype=np.float32)
    rows_of: dict[str, list[int]] = {}
    for r, text in enumerate(poscars):
        rows_of.setdefault(str(text), []).append(r)
    for text, rows in tqdm(rows_of.items(), desc="site geometry", leave=False):
        structure = Structure.from_str(text, fmt="poscar")
        out[rows] = site_geometry(structure, [int(sites[r]) for r in rows])
    return out


def on_grid(energy: list[np.ndarray] | np.ndarray, mu: list[np.ndarray] | np.ndarray,
            grid: np.ndarray) -> np.ndarray:
    """Spectra (own energy axes) on ``grid`` (linear; NaN outside each one's range)."""
    out = np.full((len(mu), grid.size), np.nan)
    for i, (e, y) in enumerate(zip(energy, mu, strict=True)):
        ok = np.isfinite(e) & np.isfinite(y)
        out[i] = resample(e[ok], y[ok], grid, outside="nan")[0]
    return out


def padded(rows: list[np.ndarray]) -> np.ndarray:
    """Ragged rows as one NaN-padded float32 array."""
    out = np.full((len(rows), max(len(r) for r in rows)), np.nan, np.float32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def summarize(d: dict[str, np.ndarray]) -> dict[str, Any]:
    """Counts per split x valence class, per split x motif, per source x split."""
    vcls = np.array([valence_class(v) for v in d["valence"]])
    table = {}
    for name, col in (("valence", vcls), ("motif", d["motif"]), ("source", d["source"]),
                      ("valence_method", d["valence_method"])):
        table[name] = {str(c): {s: int(np.sum((col == c) & (d["split"] == s)))
                                for s in ("train", "val", "test")}
                       for c in sorted(set(col.tolist()))}
    table["sites"] = {s: int(np.sum(d["split"] == s)) for s in ("train", "val", "test")}
    table["materials"] = {s: len(set(d["material"][d["split"] == s])) for s in
                          ("train", "val", "test")}
    table["features_missing"] = int(np.isnan(d["site_features"][:, 0]).sum())
    table["cross_split_duplicate_sites"] = {s: int(np.sum(d["cross_split_duplicate"] & (
        d["split"] == s))) for s in ("train", "val", "test")}
    table["grid_ev"] = [float(d["grid"][0]), float(d["grid"][-1]), STEP]
    table["energy_shift_ev"] = {SOURCES[c]: v for c, v in d["shifts"].items()}
    return table


def print_summary(table: dict[str, Any]) -> None:
    """The summary as plain-text tables."""
    print(f"{'':24s}{'train':>8s}{'val':>8s}{'test':>8s}")
    print(f"{'sites':24s}" + "".join(f"{table['sites'][s]:8d}" for s in ("train", "val", "test")))
    for name in ("source", "valence", "valence_method", "motif"):
        print(f"-- {name}")
        for c, row in table[name].items():
            print(f"  {c:22s}" + "".join(f"{row[s]:8d}" for s in ("train", "val", "test")))
    print(f"grid {table['grid_ev']}, shifts {table['energy_shift_ev']}, "
          f"features missing {table['features_missing']}")


def build(out: Path | None = None, feff10_path: Path | None = None, processes: int = 2,
          use_feff10: bool = True, feff10_shift: str = "global") -> dict[str, Any]:
    """Assemble, write (atomically) and summarize the data set; returns the summary.

    ``feff10_shift``: "global" (the code's one shift) or "valence" (per formal valence, from
    the Cu fcc / Cu2O / CuO references). Measured 2026-11-25 with 334 FEFF10 sites: "valence"
    restores the edge order but the measured foil then reads 1.38 instead of 1.07 and the
    test MAE is 0.284 instead of 0.275: FEFF10's Cu metal edge lacks the measured shoulder at
    8979-8981 eV whatever the shift, so the global shift stays the default."""
    out = out or datasets_dir() / "cu_k_dataset.npz"
    feff10_path = feff10_path or datasets_dir() / "feff10_cu_k.npz"
    shifts = calibration.load_shifts()
    if "feff9" not in shifts:
        calibration.run(("feff9",))
        shifts = calibration.load_shifts()
    sources = [load_omnixas()]
    f10 = load_feff10(feff10_path) if use_feff10 else None
    if f10 is not None and "feff10" not in shifts:
        calibration.run(("feff10",))
        shifts = calibration.load_shifts()
    if f10 is not None and "feff10" not in shifts:
        print("FEFF10 data present but not calibrated (no references yet): left out")
        f10 = None
    if f10 is not None:
        sources.append(f10)
    parts = []
    for src in sources:
        name = "omnixas_cu_k" if src["code"] == "feff9" else "feff10_cu_k"
        lab = site_labels(src, name, processes)
        lab["site_geometry"] = geometry_of(src["poscar"], src["site_index"])
        lab["valence_structure"] = lab["valence"].copy()
        lab["valence_structure_method"] = lab["valence_method"].copy()
        if src["code"] == "feff10":
            formal = np.isfinite(src["formal_valence"])
            lab["valence"] = np.where(formal, src["formal_valence"], lab["valence"])
            lab["valence_method"] = np.where(formal, "formal", lab["valence_method"])
            src["split"] = feff10_split(src["material"], lab["valence"],
                                        forced=matched_materials(src, sources[0]))
        twins = cross_split_duplicates(src) if src["code"] == "feff9" else set()
        lab["cross_split_duplicate"] = np.isin(src["material"], sorted(twins))
        shift = np.full(len(src["key"]), shifts[src["code"]])
        if src["code"] == "feff10" and feff10_shift == "valence":
            shift = calibration.shift_for_valence(
                lab["valence"], calibration.valence_shifts("feff10"), shifts["feff10"])
        energy = [np.asarray(e, dtype=float) + d for e, d in zip(src["energy"], shift,
                                                                 strict=True)]
        parts.append({**src, **lab, "energy_cal": energy,
                      "energy_shift": shift,
                      "source": np.full(len(src["key"]), SOURCES[src["code"]])})
    all_e = [e[np.isfinite(e)] for p in parts for e in p["energy_cal"]]
    lo = np.floor(min(e[0] for e in all_e) / STEP) * STEP
    hi = np.ceil(max(e[-1] for e in all_e) / STEP) * STEP
    grid = np.round(np.arange(lo, hi + STEP / 2, STEP), 3)
    texts = list(dict.fromkeys(t for p in parts for t in p["poscar"]))
    index = {t: i for i, t in enumerate(texts)}
    blob = [t.encode() for t in texts]
    cat = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in (
        "key", "material", "source", "split", "formula", "site_index", "valence",
        "valence_method", "formal_valence", "motif", "cn", "cn_crystalnn", "multiplicity",
        "site_features", "site_geometry", "energy_shift", "cross_split_duplicate",
        "valence_structure", "valence_structure_method")}
    if len(set(cat["key"].tolist())) != len(cat["key"]):
        raise ValueError("duplicate site keys across the sources")
    mu = np.concatenate([on_grid(p["energy_cal"], p["mu"], grid) for p in parts])
    d = {**{k: (v.astype(str) if v.dtype.kind in "OU" else v) for k, v in cat.items()},
         "energy_calibrated": grid, "grid": grid, "mu": mu.astype(np.float32),
         "energy_native": padded([e for p in parts for e in p["energy_cal"]]),
         "mu_native": padded([np.asarray(m, float) for p in parts for m in p["mu"]]),
         "poscar_index": np.array([index[t] for p in parts for t in p["poscar"]]),
         "poscar_blob": np.frombuffer(b"".join(blob), dtype=np.uint8),
         "poscar_offsets": np.concatenate([[0], np.cumsum([len(b) for b in blob])]),
         "site_features_scale": np.float32(OMNIXAS_SCALE)}
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, **d)
    os.replace(tmp, out)
    table = summarize({**d, "shifts": {p["code"]: sorted({round(float(x), 3) for x in
                                                          p["energy_shift"]}) for p in parts}})
    table["path"] = str(out)
    cal = json.loads(calibration.calibration_path().read_text())
    table["calibration"] = {c: {k: cal[c].get(k) for k in ("shift_ev", "spread_ev", "n_pairs")}
                            for c in shifts if c in cal}
    out.with_suffix(".summary.json").write_text(json.dumps(table, indent=1))
    ready = out.with_suffix(".READY")
    if not ready.exists():
        ready.write_text(json.dumps({"path": str(out), "rows": len(d["key"]),
                                     "feff10_included": f10 is not None}) + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    """CLI: ``build`` the data set, or print the ``summary`` of the existing one."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.dataset")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="assemble ${EDGESTREAM_CACHE:-~/.cache/edgestream}/"
                       "datasets/cu_k_dataset.npz")
    b.add_argument("--out", type=Path)
    b.add_argument("--feff10", type=Path, help="FEFF10 npz (default datasets/feff10_cu_k.npz)")
    b.add_argument("--no-feff10", action="store_true")
    b.add_argument("--feff10-shift", choices=("global", "valence"), default="global",
                   help="FEFF10 energy calibration: one shift, or per formal valence")
    b.add_argument("--processes", type=int, default=2)
    sub.add_parser("summary", help="print the summary JSON of the built data set")
    args = parser.parse_args(argv)
    if args.command == "summary":
        table = json.loads((datasets_dir() / "cu_k_dataset.summary.json").read_text())
    else:
        table = build(args.out, args.feff10, args.processes, not args.no_feff10,
                      args.feff10_shift)
    print_summary(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
