"""The two sources of the Cu K-edge data set, read and split by material: OmniXAS (FEFF9) and
the FEFF10 generator's npz (the split rules: :mod:`edgestream_models.dataset`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models.cache import Item, cache_dir, poscar_hash
from edgestream_models.omnixas import OMNIXAS_ROOT, omnixas_items

SEED = 20261125        # FEFF10 material split
FRACTIONS = (0.70, 0.15, 0.15)


def datasets_dir() -> Path:
    """``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets``."""
    return cache_dir("datasets")


def valence_class(v: float) -> str:
    """"Cu(+1)"-style class of a valence, "mixed" when 0.05 off an integer, "failed" if NaN."""
    if not np.isfinite(v):
        return "failed"
    r = round(v)
    return f"Cu({r:+d})" if abs(v - r) < 0.05 else "mixed"



def load_omnixas(root: Path = OMNIXAS_ROOT) -> dict[str, Any]:
    """OmniXAS sites: keys, materials, native spectra, POSCARs and their split."""
    data = np.load(root / "spectra.npz")
    mids = data["material_id"].astype(str)
    sites = data["site_index"].astype(int)
    keys = np.array([f"{m}_{s:03d}" for m, s in zip(mids, sites, strict=True)])
    split = omnixas_split(keys, mids, json.loads((root / "splits.json").read_text()))
    items = omnixas_items(root)
    texts = {sid: text for sid, text, _ in items}
    return {"key": keys, "material": mids, "site_index": sites, "split": split,
            "energy": data["energy"].astype(float), "mu": data["mu"].astype(float),
            "poscar": [texts[m] for m in mids], "items": items, "structure_id": mids,
            "formal_valence": np.full(len(keys), np.nan), "code": "feff9"}


def omnixas_split(keys: np.ndarray, materials: np.ndarray, splits: dict[str, list[str]]
                  ) -> np.ndarray:
    """Split per site: OmniXAS's own; unsplit sites follow their material, else train."""
    site_split = {k: s for s, ks in splits.items() for k in ks}
    mat_splits: dict[str, set[str]] = {}
    for k, m in zip(keys, materials, strict=True):
        if k in site_split:
            mat_splits.setdefault(m, set()).add(site_split[k])
    clash = {m: s for m, s in mat_splits.items() if len(s) > 1}
    if clash:
        raise ValueError(f"materials in two OmniXAS splits: {sorted(clash)[:5]}")
    return np.array([site_split.get(k) or next(iter(mat_splits.get(m, {"train"})))
                     for k, m in zip(keys, materials, strict=True)])


def load_feff10(path: Path) -> dict[str, Any] | None:
    """FEFF10 sites from the generator's npz (None when absent): native arrays per row."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=True) as z:  # our own file; ragged arrays may be objects
        d = {k: z[k] for k in z.files}
    n = len(d["key"])
    energy = [np.asarray(d["energy"][i], dtype=float) for i in range(n)]
    mu = [np.asarray(d["mu"][i], dtype=float) for i in range(n)]
    texts = [str(t) for t in d["poscar"]]
    sids = np.array([poscar_hash(t) for t in texts])
    sites = np.asarray(d["site_index"], dtype=int)
    groups: dict[str, list[int]] = {}
    for sid, s in zip(sids, sites, strict=True):
        if s not in groups.setdefault(sid, []):
            groups[sid].append(int(s))
    first = {sid: texts[i] for i, sid in reversed(list(enumerate(sids)))}
    items: list[Item] = [(sid, first[sid], idx) for sid, idx in groups.items()]
    fv = np.asarray(d.get("formal_valence", np.full(n, np.nan)), dtype=float)
    return {"key": d["key"].astype(str), "material": d["material"].astype(str),
            "site_index": sites, "energy": energy, "mu": mu, "poscar": texts, "items": items,
            "structure_id": sids, "formal_valence": fv, "code": "feff10"}


def feff10_split(materials: np.ndarray, valence: np.ndarray, seed: int = SEED,
                 forced: dict[str, str] | None = None) -> np.ndarray:
    """~70/15/15 material split per valence class (the material's most common class)."""
    forced = forced or {}
    by_mat: dict[str, list[str]] = {}
    for m, v in zip(materials, valence, strict=True):
        by_mat.setdefault(m, []).append(valence_class(v))
    strata: dict[str, list[str]] = {}
    for m in sorted(by_mat):
        if m not in forced:
            strata.setdefault(Counter(by_mat[m]).most_common(1)[0][0], []).append(m)
    rng = np.random.default_rng(seed)
    assign = dict(forced)
    for cls in sorted(strata):
        mats = list(rng.permutation(strata[cls]))
        n_val = round(FRACTIONS[1] * len(mats))
        n_test = round(FRACTIONS[2] * len(mats))
        for j, m in enumerate(mats):
            assign[m] = "val" if j < n_val else "test" if j < n_val + n_test else "train"
    return np.array([assign[m] for m in materials])


def matched_materials(feff10: dict[str, Any], omnixas: dict[str, Any]) -> dict[str, str]:
    """FEFF10 materials that are an OmniXAS material: ``{material: its OmniXAS split}``.

    Same id, or same reduced formula and a ``StructureMatcher`` match (pymatgen defaults);
    with several matches the strictest split wins (test > val > train), so no structure is
    in training under one code and in val/test under the other.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    rank = {"train": 0, "val": 1, "test": 2}
    om_split = dict(zip(omnixas["material"], omnixas["split"], strict=True))
    om_text = dict(zip(omnixas["material"], omnixas["poscar"], strict=True))
    mine = {m: Structure.from_str(t, fmt="poscar")
            for m, t in zip(feff10["material"], feff10["poscar"], strict=True)}
    formulas = {st.composition.reduced_formula for st in mine.values()}
    om: dict[str, list[tuple[str, Any]]] = {}
    for m, text in om_text.items():
        head = Structure.from_str(text, fmt="poscar")
        if head.composition.reduced_formula in formulas:
            om.setdefault(head.composition.reduced_formula, []).append((m, head))
    matcher = StructureMatcher()
    out: dict[str, str] = {}
    for mat, st in mine.items():
        hits = [om_split[mat]] if mat in om_split else []
        hits += [om_split[m] for m, other in om.get(st.composition.reduced_formula, [])
                 if matcher.fit(st, other)]
        if hits:
            out[mat] = max(hits, key=rank.__getitem__)
    return out


def cross_split_duplicates(src: dict[str, Any]) -> set[str]:
    """Materials with a ``StructureMatcher`` twin (same formula) in another split.

    OmniXAS splits by material id, so polymorph entries of one structure can sit in train and
    test; the data set keeps its split and flags them (``cross_split_duplicate``). Cached in
    ``datasets/cross_split_duplicates.json`` by split hash.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    split = dict(zip(src["material"], src["split"], strict=True))
    tag = poscar_hash(json.dumps(sorted(split.items())))
    path = datasets_dir() / "cross_split_duplicates.json"
    if path.exists() and json.loads(path.read_text()).get("tag") == tag:
        return set(json.loads(path.read_text())["materials"])
    groups: dict[str, list[tuple[str, Any]]] = {}
    for m, text in dict(zip(src["material"], src["poscar"], strict=True)).items():
        st = Structure.from_str(text, fmt="poscar")
        groups.setdefault(st.composition.reduced_formula, []).append((m, st))
    matcher, out = StructureMatcher(), set()
    for group in groups.values():
        for i, (a, sa) in enumerate(group):
            for b, sb in group[i + 1:]:
                if split[a] != split[b] and matcher.fit(sa, sb):
                    out |= {a, b}
    path.write_text(json.dumps({"tag": tag, "materials": sorted(out)}))
    return out

