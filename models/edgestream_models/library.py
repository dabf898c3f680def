"""The screening library: candidate materials and the Cu K spectra the forward model predicts.

A library is one ``.npz``: ``material_id``, ``formula``, ``source``, ``split`` (str [N]),
``spectrum`` (float16 [N, len(GRID)], the forward ensemble's mean prediction averaged over the
material's Cu sites), ``spread`` (float16 [N], RMS ensemble spread), ``embedding`` (float16
[N, members, dim], the inverse model's structure embedding: site encoder averaged over the
Cu sites, unit length per member), ``grid`` ([start, stop, step], eV). Training writes the
shipped one (plugins/screening/library.npz); users add their own structures with::

    python -m edgestream_models.library add a.cif b/POSCAR ... --library my_library.npz

which featurizes every Cu site of each structure (M3GNet ``site_features`` and the radial
distribution ``site_geometry``), runs the shipped forward model and site encoder (ONNX
Runtime), and appends the materials to
``--library`` (created if missing; an entry with the same material id is replaced). Point
the service at it with ``EDGESTREAM_CU_K_LIBRARY=my_library.npz``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgestream.paths import require_checkout
from edgestream_plugins.cu_k import GRID

SCREENING = (require_checkout("The screening library") / "plugins" / "edgestream_plugins"
             / "screening")
KEYS = ("material_id", "formula", "source", "split", "spectrum", "spread", "embedding")


def grid_spec() -> np.ndarray:
    return np.array([GRID[0], GRID[-1], GRID[1] - GRID[0]], dtype=np.float64)


def save_library(path: Path, lib: dict[str, np.ndarray]) -> None:
    n = len(lib["material_id"])
    if any(len(lib[k]) != n for k in KEYS):
        raise ValueError("library arrays differ in length")
    np.savez_compressed(
        path, material_id=lib["material_id"].astype(str), formula=lib["formula"].astype(str),
        source=lib["source"].astype(str), split=lib["split"].astype(str),
        spectrum=lib["spectrum"].astype(np.float16), spread=lib["spread"].astype(np.float16),
        embedding=lib["embedding"].astype(np.float16), grid=grid_spec())


def load_library(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        lib = {k: z[k] for k in KEYS}
        if not np.allclose(z["grid"], grid_spec()):
            raise ValueError(f"{path}: library grid {z['grid']} is not the model grid")
    return lib


def merge(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``old`` with ``new`` appended; old entries with a material id in ``new`` are dropped."""
    keep = ~np.isin(old["material_id"], new["material_id"])
    return {k: np.concatenate([old[k][keep], new[k]]) for k in KEYS}


def _run(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]


def entry(features: np.ndarray, models: Path = SCREENING) -> dict[str, np.ndarray]:
    """Spectrum, spread and embedding of one material from the structure inputs of all its
    Cu atoms ``[n_sites, 64 + N_GEOMETRY]`` (``site_geometry.structure_input``; equal
    weights: every atom listed once)."""
    out = _run(models / "forward.onnx", features)  # [n_sites, members, n_grid]
    emb = _run(models / "site_encoder.onnx", features).mean(axis=0)  # [members, dim]
    return {"spectrum": out.mean(axis=(0, 1)),
            "spread": float(np.sqrt(np.mean(out.std(axis=1) ** 2))),
            "embedding": emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-9)}


def structure_entries(paths: list[Path], element: str = "Cu",
                      models: Path = SCREENING) -> dict[str, np.ndarray]:
    """Library entries of structure files (CIF, POSCAR, anything pymatgen reads): every
    ``element`` atom featurized with M3GNet, run through the shipped models, averaged."""
    from pymatgen.core import Structure
    from tqdm.auto import tqdm

    from edgestream_models.site_features import site_features
    from edgestream_models.site_geometry import site_geometry, structure_input

    rows: dict[str, list] = {k: [] for k in KEYS}
    for path in tqdm(paths, desc="structures"):
        structure = Structure.from_file(path)
        sites = [i for i, s in enumerate(structure) if s.specie.symbol == element]
        if not sites:
            raise ValueError(f"{path}: no {element} site")
        x = structure_input(site_features(structure, sites), site_geometry(structure, sites))
        for key, value in entry(x, models).items():
            rows[key].append(value)
        generic = path.stem.upper() in ("POSCAR", "CONTCAR")
        rows["material_id"].append(path.parent.name if generic else path.stem)
        rows["formula"].append(structure.composition.reduced_formula)
        rows["source"].append("user")
        rows["split"].append("none")
    return {k: np.asarray(v) for k, v in rows.items()}


def add(paths: list[Path], library: Path, models: Path = SCREENING) -> int:
    new = structure_entries(paths, models=models)
    lib = merge(load_library(library), new) if library.exists() else new
    save_library(library, lib)
    return len(lib["material_id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.library",
                                     description="Cu K screening candidate libraries")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("add", help="featurize structures (matgl) and append them")
    p.add_argument("files", nargs="+", type=Path, help="CIF/POSCAR files")
    p.add_argument("--library", type=Path, required=True, help="library .npz (created)")
    p.add_argument("--models", type=Path, default=SCREENING,
                   help="folder with forward.onnx and site_encoder.onnx")
    p = sub.add_parser("show", help="list a library's candidates")
    p.add_argument("library", type=Path)
    args = parser.parse_args(argv)
    if args.command == "add":
        total = add(args.files, args.library, args.models)
        print(f"{args.library}: {total} candidates ({len(args.files)} added or replaced)")
        return 0
    lib = load_library(args.library)
    for m, f, s, sp in zip(lib["material_id"], lib["formula"], lib["source"], lib["split"],
                           strict=True):
        print(f"{m}\t{f}\t{s}\t{sp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
