"""Bond-valence valence, coordination number and geometry family of the OmniXAS co-cation
sites of Ti, V, Cr, Mn, Fe, Co, Ni and Zn (the sites of :func:`elements3d.omnixas_sites`).

The labels are :mod:`edgestream_models.labels`' (reused, not copied): BVA valences of the
whole structure (``labels.site_valences``), CrystalNN motifs with the Jahn–Teller rule
(:mod:`edgestream_models.motifs`). A site's valence is **confident** when BVA gave it and it
equals that element's state in the composition's most probable oxidation-state guess
(``labels.composition_valence(formula, element)``), the same two-method agreement the Cu
labels use; only confident valences become ``formal_valence`` in a job's labels, the others
keep ``valence_bva`` alone (a mixed-valence or soft-ligand average is not a site's valence).

Cached as JSON lines, ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/labels/omnixas_3d_k.jsonl``
(resumable); ``python -m edgestream_models.labels3d`` computes it (2 processes) and prints
the confident sites per element and valence; ``--relabel`` writes the labels into finished
OmniXAS runs of the FEFF10 cache (:func:`relabel_cache`), so that ``collect`` reads them.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models.cache import Item, cache_dir, cached_map, read_cache
from edgestream_models.labels import composition_valence, label_structure
from edgestream_models.omnixas import OMNIXAS_ROOT, load_structures

NAME = "omnixas_3d_k"
ELEMENTS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Zn")


def labels_path() -> Path:
    """The JSON-lines label cache of the 3d co-cation sites."""
    return cache_dir("labels") / f"{NAME}.jsonl"


def items(sites: dict[str, list[tuple[str, int, int, int]]], poscars: dict[str, str]
          ) -> list[Item]:
    """One item per structure, with every inequivalent 3d site of it (all elements)."""
    per: dict[str, set[int]] = {}
    for rows in sites.values():
        for mid, i, _, _ in rows:
            per.setdefault(mid, set()).add(i)
    return [(mid, poscars[mid], sorted(idx)) for mid, idx in sorted(per.items())]


def site_label(entry: dict[str, Any], element: str, formula: str) -> dict[str, Any]:
    """Job labels of one cached site entry: ``valence_bva``, ``valence_confident``,
    ``formal_valence`` (confident only), ``cn_expected``, ``motif_expected``."""
    v = entry.get("valence")
    bva = entry.get("valence_method") == "bva" and v is not None and np.isfinite(v)
    guess = composition_valence(formula, element) if bva else None
    confident = bool(bva and guess is not None and abs(guess - float(v)) < 1e-6)
    out: dict[str, Any] = {"valence_bva": float(v) if bva else None,
                           "valence_method": "bva" if bva else entry.get("valence_method"),
                           "valence_confident": confident,
                           "cn_expected": entry.get("cn"), "motif_expected": entry.get("motif")}
    if confident:
        out["formal_valence"] = float(v)
    return out


def load(path: Path | None = None) -> dict[tuple[str, int], dict[str, Any]]:
    """``{(material_id, site): job labels}`` of every cached site (:func:`site_label`);
    empty when the cache does not exist."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for mid, rec in read_cache(path or labels_path()).items():
        for i, entry in rec.get("sites", {}).items():
            el = entry.get("element", "")
            if el in ELEMENTS and "error" not in rec:
                out[(mid, int(i))] = site_label(entry, el, rec.get("formula", ""))
    return out


def confident_valences(element: str, path: Path | None = None) -> dict[str, float]:
    """``{run key: valence}`` of ``element``'s OmniXAS sites with a confident label (the
    job key of :func:`elements3d.omnixas_jobs`, ``omnixas/<material>/<El><site:03d>``)."""
    out: dict[str, float] = {}
    for mid, rec in read_cache(path or labels_path()).items():
        for i, entry in rec.get("sites", {}).items():
            if entry.get("element") != element or "error" in rec:
                continue
            lab = site_label(entry, element, rec.get("formula", ""))
            if lab["valence_confident"]:
                out[f"omnixas/{mid}/{element}{int(i):03d}"] = lab["formal_valence"]
    return out


def coverage(labels: dict[tuple[str, int], dict[str, Any]],
             sites: dict[str, list[tuple[str, int, int, int]]]) -> dict[str, Any]:
    """Per element: sites, labelled, confident, and confident sites by valence and motif."""
    out: dict[str, Any] = {}
    for el, rows in sites.items():
        lab = [labels.get((mid, i)) for mid, i, _, _ in rows]
        conf = [x for x in lab if x and x["valence_confident"]]
        out[el] = {"sites": len(rows), "labelled": sum(x is not None for x in lab),
                   "confident": len(conf),
                   "valence": dict(sorted(Counter(f"{x['formal_valence']:g}"
                                                  for x in conf).items())),
                   "motif": dict(Counter(str(x["motif_expected"]) for x in conf).most_common())}
    return out


def compute(elements: Iterable[str] = ELEMENTS, root: Path = OMNIXAS_ROOT,
            processes: int = 2) -> dict[str, Any]:
    """Label every 3d co-cation site (cached, resumable); returns :func:`coverage`."""
    from edgestream_models.elements3d import omnixas_sites

    poscars = load_structures(root)
    sites = omnixas_sites(list(elements), poscars=poscars)
    path = labels_path()
    cached_map(label_structure, items(sites, poscars), path, processes=processes, desc=NAME)
    return coverage(load(path), sites)


def relabel_cache(labels: dict[tuple[str, int], dict[str, Any]] | None = None,
                  root: Any = None, elements: Iterable[str] = ELEMENTS) -> int:
    """Write today's :func:`load` labels into the ``meta.json`` of every finished OmniXAS
    entry of the 3d sets (runs made before the labels existed; the FEFF input, and so the
    hash, does not depend on labels). A label that is no longer confident loses its
    ``formal_valence``. Returns how many entries changed."""
    import os

    from edgestream_models import feff10

    labels = load() if labels is None else labels
    changed = 0
    for el in elements:
        folder = feff10.cache_root(root) / feff10.cache_set("K", el)
        for meta_path in sorted(folder.glob("*/meta.json")) if folder.exists() else []:
            meta = json.loads(meta_path.read_text())
            lab = meta.get("labels", {})
            new = labels.get((lab.get("material", ""), int(meta.get("site_index", -1))))
            if lab.get("group") != "omnixas" or new is None:
                continue
            merged = {k: v for k, v in lab.items() if k != "formal_valence"} | new
            if merged == lab:
                continue
            meta["labels"] = merged
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, meta_path)  # atomic: a reader never sees half a file
            changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    """CLI: compute the labels and print the coverage as JSON."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.labels3d")
    parser.add_argument("--root", type=Path, default=OMNIXAS_ROOT)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--relabel", action="store_true", help="also write the labels into "
                        "the finished OmniXAS entries of the FEFF10 cache (relabel_cache)")
    args = parser.parse_args(argv)
    stats = compute(root=args.root, processes=args.processes)
    if args.relabel:
        stats["relabelled_entries"] = relabel_cache()
    labels_path().with_suffix(".coverage.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
