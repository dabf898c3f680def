"""M3GNet site features: 64 numbers per absorbing site, the forward models' structure input.

The features are the node features after the third (last) graph-convolution block of the
universal M3GNet potential (``net.feature_dict["gc_3"]["node_feat"]``), as in OmniXAS's
``M3GNetSiteFeaturizer`` (all three blocks, no readout). They are stored **raw** (float32;
over the 5,299 OmniXAS sites mean |x| = 0.45, range -8.1..7.3: O(1), not O(1e-3)).
OmniXAS's arxiv-v1 configuration multiplies by ``OMNIXAS_SCALE`` (1000, its
``ThousandScaler``); whatever factor or per-feature standardization a model uses must be
applied identically at inference.

The weights are read by path, never copied: ``$EDGESTREAM_M3GNET`` or
``<repo>/../shared/models/M3GNet-MP-2021.2.8-PES`` (matgl's hub download needs internet).

CLI (one structure file, CIF or POSCAR, all Cu sites unless ``--sites``)::

    python -m edgestream_models.site_features structure.cif --sites 0,3 --out features.npz
    python -m edgestream_models.site_features --omnixas      # cache the whole OmniXAS set

Cost (one process on a 2-core VM loaded ~3x by other jobs, torch 2.13 CPU, 1 thread): median
0.22 s per structure (24 atoms), ~10 ms per atom, 853 s for all 2,589 OmniXAS structures
(``measure_cost``). Records are cached as JSON lines under
``${EDGESTREAM_CACHE:-~/.cache/edgestream}/features/``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.paths import shared_root
from edgestream_models.cache import Item, cache_dir, cached_map, poscar_hash, read_cache
from edgestream_models.omnixas import OMNIXAS_ROOT, omnixas_items

N_FEATURES = 64
FEATURE_LAYER = "gc_3"
OMNIXAS_SCALE = 1000.0
DEFAULT_MODEL = shared_root() / "models" / \
    "M3GNet-MP-2021.2.8-PES"


def model_path(path: str | Path | None = None) -> Path:
    """The M3GNet folder: ``path``, else ``$EDGESTREAM_M3GNET``, else the shared copy."""
    chosen = Path(path or os.environ.get("EDGESTREAM_M3GNET", DEFAULT_MODEL)).expanduser()
    if not (chosen / "model.pt").exists():
        raise FileNotFoundError(f"no M3GNet weights (model.pt) in {chosen}")
    return chosen


@functools.cache
def load_m3gnet(path: str) -> Any:
    """The M3GNet network (``Potential.model``) loaded from a folder, in eval mode (cached)."""
    import matgl

    net = matgl.load_model(path).model
    net.eval()
    return net


def site_features(structure: Any, site_indices: list[int] | np.ndarray,
                  model: str | Path | None = None) -> np.ndarray:
    """Raw M3GNet ``gc_3`` node features of the given sites, ``[k, 64]`` float32 (unscaled).

    ``structure``: a pymatgen Structure (periodic); ``site_indices``: 0-based sites of it.
    The whole cell goes through the network once; multiply by ``OMNIXAS_SCALE`` for OmniXAS-
    compatible inputs.
    """
    import torch

    net = load_m3gnet(str(model_path(model)))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.predict_structure(structure)
        feats = net.feature_dict[FEATURE_LAYER]["node_feat"]
    feats = feats.detach().cpu().numpy().astype(np.float32)
    if feats.shape != (len(structure), N_FEATURES):
        raise ValueError(f"unexpected feature shape {feats.shape} for {len(structure)} sites")
    return feats[np.asarray(site_indices, dtype=int)]


def _encode(vec: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()


def decode(text: str) -> np.ndarray:
    """A cached feature vector (base64 of little-endian float32) as ``[64]`` float32."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").copy()


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def featurize_item(item: Item, model: str | None = None) -> dict[str, Any]:
    """Cache record of one structure: base64 features per requested site, or an error."""
    from pymatgen.core import Structure

    sid, text, sites = item
    record: dict[str, Any] = {"id": sid, "sha1": poscar_hash(text), "sites": {}}
    t0 = time.perf_counter()
    try:
        structure = Structure.from_str(text, fmt="poscar")
        feats = site_features(structure, sites, model)
    except (ValueError, RuntimeError, IndexError, KeyError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    record["sites"] = {str(i): _encode(f) for i, f in zip(sites, feats, strict=True)}
    record["n_atoms"] = len(structure)
    record["seconds"] = round(time.perf_counter() - t0, 4)
    return record


def features_for(items: list[Item], name: str, *, processes: int = 2,
                 model: str | Path | None = None) -> dict[tuple[str, int], np.ndarray]:
    """Features of every (structure id, site) of ``items``, cached in ``features/<name>.jsonl``.

    Sites whose structure failed are absent from the result (the caller fills NaN).
    """
    path = cache_dir("features") / f"{name}.jsonl"
    func = functools.partial(featurize_item, model=str(model_path(model)))
    records = cached_map(func, items, path, processes=processes, desc=f"features {name}",
                         initializer=_one_thread)
    out: dict[tuple[str, int], np.ndarray] = {}
    for sid, _, sites in items:
        rec = records.get(sid, {})
        for i in sites:
            if str(i) in rec.get("sites", {}):
                out[(sid, i)] = decode(rec["sites"][str(i)])
    return out


def measure_cost(records: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Timing summary of cached records: seconds per structure and per atom (median, total)."""
    secs = np.array([r["seconds"] for r in records.values() if "seconds" in r])
    atoms = np.array([r["n_atoms"] for r in records.values() if "seconds" in r])
    if not len(secs):
        return {}
    return {"structures": len(secs), "total_s": round(float(secs.sum()), 1),
            "median_s_per_structure": round(float(np.median(secs)), 4),
            "median_ms_per_atom": round(float(np.median(secs / atoms)) * 1e3, 3),
            "max_s": round(float(secs.max()), 2), "median_atoms": float(np.median(atoms))}


def main(argv: list[str] | None = None) -> int:
    """CLI: featurize one CIF/POSCAR file, or the whole OmniXAS set (cached)."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.site_features")
    parser.add_argument("structure", nargs="?", type=Path, help="CIF or POSCAR file")
    parser.add_argument("--sites", default="", help="comma-separated 0-based sites (all Cu)")
    parser.add_argument("--element", default="Cu")
    parser.add_argument("--out", type=Path, help="write features to this .npz")
    parser.add_argument("--model", type=Path, help="M3GNet folder (default: shared copy)")
    parser.add_argument("--omnixas", action="store_true", help="cache the OmniXAS set")
    parser.add_argument("--root", type=Path, default=OMNIXAS_ROOT)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    if args.omnixas:
        items = omnixas_items(args.root)
        features_for(items, "omnixas_cu_k", processes=args.processes, model=args.model)
        cost = measure_cost(read_cache(cache_dir("features") / "omnixas_cu_k.jsonl"))
        print(json.dumps(cost, indent=1))
        return 0
    if args.structure is None:
        parser.error("give a structure file or --omnixas")
    from pymatgen.core import Structure

    structure = Structure.from_file(args.structure)
    sites = ([int(s) for s in args.sites.split(",")] if args.sites else
             [i for i, s in enumerate(structure) if s.specie.symbol == args.element])
    t0 = time.perf_counter()
    load_m3gnet(str(model_path(args.model)))
    t1 = time.perf_counter()
    feats = site_features(structure, sites, args.model)
    print(f"{len(sites)} sites x {feats.shape[1]} features in {time.perf_counter() - t1:.3f} s"
          f" (model load {t1 - t0:.1f} s; raw, x{OMNIXAS_SCALE:g} for OmniXAS scaling)")
    if args.out:
        np.savez(args.out, site_index=np.array(sites), site_features=feats,
                 scale=OMNIXAS_SCALE, layer=FEATURE_LAYER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
