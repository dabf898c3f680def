"""FEFF10 runs gathered into one data set (npz): every finished cache entry of an edge made
with today's settings, on its own energies and on one common grid, with its labels and motif."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models import feff10

GRID_STEP = 0.25  # eV, of the common absolute grid in the dataset


def _coordination(meta: dict[str, Any]) -> dict[str, Any]:
    """Motif of the absorbing site by :func:`edgestream_models.motifs.coordination`
    (CrystalNN + that module's Jahn–Teller rule), cached as ``labels.json`` in the entry."""
    path = Path(meta["path"]) / "labels.json"
    if path.exists():
        return json.loads(path.read_text())
    from pymatgen.core import Structure

    from edgestream_models.motifs import coordination

    s = Structure.from_str(meta["poscar"], fmt="poscar")
    out = coordination(s, int(meta["site_index"]))
    path.write_text(json.dumps(out))
    return out


def collect(out: Path, edge: str = "K", root: Any = None,
            groups: tuple[str, ...] = ("prototype", "calibration")) -> dict[str, Any]:
    """Gather every finished entry of ``edge`` (or cache set, ``Fe_K``) made with today's
    settings (``feff10.matches_settings``) into one npz (fields: README section; ``edge`` is
    the edge alone, ``absorber`` the element of each row)."""
    warnings.filterwarnings("ignore")
    rows = [e for e in feff10.iter_entries(edge, root, current_only=True)
            if e[0]["labels"].get("group", "prototype") in groups]
    if not rows:
        raise SystemExit(f"no finished {edge} entries under {feff10.cache_root(root)}")
    rows.sort(key=lambda e: e[0]["key"])
    n, m = len(rows), max(len(e[1]) for e in rows)
    energy, energy_rel, mu = (np.full((n, m), np.nan) for _ in range(3))
    for i, (_, e, er, y) in enumerate(rows):
        energy[i, : len(e)], energy_rel[i, : len(e)], mu[i, : len(e)] = e, er, y
    lo = max(float(e[1][0]) for e in rows)
    hi = min(float(e[1][-1]) for e in rows)
    grid = np.arange(np.ceil(lo / GRID_STEP) * GRID_STEP, hi + 1e-9, GRID_STEP)
    mu_on_grid = np.stack([np.interp(grid, e, y) for _, e, _, y in rows])
    coord = [_coordination(r[0]) for r in rows]

    def lab(k: str, default: Any = "") -> np.ndarray:
        return np.array([r[0]["labels"].get(k, default) for r in rows])

    fields = {
        "energy": energy, "energy_rel": energy_rel, "mu": mu,
        "n_points": np.array([len(r[1]) for r in rows]),
        "grid": grid, "mu_on_grid": mu_on_grid,
        "key": np.array([r[0]["key"] for r in rows]), "material": lab("material"),
        "prototype": lab("prototype"), "variant": lab("variant"), "group": lab("group"),
        "calibration": lab("calibration"), "formula": lab("formula"),
        "formal_valence": lab("formal_valence", np.nan).astype(float),
        "valence_class": lab("valence_class"),
        "motif": np.array([c["motif"] for c in coord]),
        "cn": np.array([c["cn"] for c in coord]),
        "cn_crystalnn": np.array([c["cn_crystalnn"] for c in coord]),
        "motif_expected": lab("motif_expected"), "cn_expected": lab("cn_expected", -1),
        "poscar": np.array([r[0]["poscar"] for r in rows]),
        "site_index": np.array([r[0]["site_index"] for r in rows]),
        "strain": lab("strain", 0.0).astype(float),
        "sigma_disp": lab("sigma_disp", 0.0).astype(float),
        "approximate": lab("approximate", False).astype(bool),
        "feff_hash": np.array([r[0]["hash"] for r in rows]),
        "elapsed_s": np.array([r[0]["elapsed_s"] for r in rows]),
        "edge": np.array(feff10.set_edge(edge)),
        "absorber": np.array([r[0]["feff"].get("absorber", feff10.DEFAULT_ABSORBER)
                              for r in rows]),
        "feff_params": np.array(json.dumps(rows[0][0]["feff"])),
    }
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **fields)
    mismatch = [f'{r[0]["key"]}: {c["cn"]} {c["motif"]} (expected '
                f'{r[0]["labels"].get("cn_expected")} {r[0]["labels"].get("motif_expected")})'
                for r, c in zip(rows, coord, strict=True)
                if r[0]["labels"].get("motif_expected") not in (None, c["motif"])
                or r[0]["labels"].get("cn_expected") not in (None, c["cn"])]
    return {"out": str(out), "spectra": n, "max_points": m,
            "materials": len(set(fields["material"])),
            "grid": [float(grid[0]), float(grid[-1]), len(grid)] if len(grid) else [],
            "motif": {str(k): int(v) for k, v in zip(
                *np.unique(fields["motif"], return_counts=True), strict=True)},
            "differs_from_expected": mismatch}

