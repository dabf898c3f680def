"""Per-code global energy calibration of FEFF spectra against measured Cu K-edge standards.

FEFF's absolute energies are off the measured scale by a code-dependent amount. For each code
(FEFF9: the OmniXAS spectra; FEFF10: this project's runs) one global shift ``delta`` (eV) is
fitted so that ``E_calibrated = E_feff + delta``:

1. measured standards (``../shared/data/measured-cu-k``): energy + the session's
   ``shift_to_put_reference_at_8979_eV`` (Cu foil e0 at 8979.0 eV), then Larch-exact
   ``pre_edge`` (all defaults) and its ``flat`` spectrum;
2. the simulated reference of the same compound: FEFF's own edge-step-normalized mu
   (xmu.dat column 4), linearly interpolated, held at its first value below its first point;
3. ``delta`` minimizes the mean squared difference over ``WINDOW`` (measured scale, eV) on a
   ``STEP`` grid, scanned over ``SHIFTS`` and refined by a parabola through the minimum.

Each (simulated, measured) pair gives a shift; the code's shift is their mean (spread = std).
Pairs: FEFF9 Cu2O (mp-361), CuO (mp-1692, PtS type) x APS 2008 and HASYLAB 2001; FEFF10 Cu
fcc, Cu2O and CuO (experimental cells preferred) x the same plus the APS and MAX IV foils.
The result goes to ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/calibration.json``:
``python -m edgestream_models.calibration [--code feff9|feff10|all] [--wait-feff10 S]``.

Measured 2026-11-25: FEFF9 -6.37 ± 0.52 eV (4 pairs; Larch e0 differences instead scatter
from -8 to -18 eV, because e0 lands on different features of the sharp, short FEFF spectra).
FEFF10 as generated (no SCF) -0.65 ± 3.05 eV: without SCF the Cu -> Cu2O -> CuO edge shift
is lost (half-height edges 8989.1, 8987.5, 8987.2 eV), so no global shift fits all three;
with ``SCF 3.0`` the same fit gives -5.92 ± 1.19 eV.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.physics import find_e0, pre_edge
from edgestream_models.cache import cache_dir
from edgestream_models.omnixas import OMNIXAS_ROOT

MEASURED_ROOT = OMNIXAS_ROOT.parent / "measured-cu-k"
WINDOW = (8975.0, 9030.0)       # eV, measured (foil-calibrated) scale
STEP = 0.1                      # eV, comparison grid
SHIFTS = np.arange(-40.0, 20.0 + 1e-9, 0.05)   # eV, scanned delta
FEFF9_REFERENCES = {"Cu2O": "mp-361", "CuO": "mp-1692"}   # see feff9_references
CODES = ("feff9", "feff10")


@dataclass(frozen=True)
class ShiftFit:
    """One alignment: ``shift`` (eV) to add to the simulated energies, and its quality."""

    shift: float
    rmse: float             # of the normalized spectra at the best shift
    extrapolated: float     # fraction of the window below the simulated first point
    e0_difference: float    # Larch e0(measured, calibrated) - e0(simulated), eV, for reference


def read_measured(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(energy, mu)`` of a two-column measured file (``#`` header)."""
    data = np.loadtxt(path, comments="#", ndmin=2)
    return data[:, 0], data[:, 1]


def measured_standards(root: Path = MEASURED_ROOT, formulas: tuple[str, ...] = (
        "Cu", "Cu2O", "CuO")) -> list[dict[str, Any]]:
    """The labelled measured standards (reference channels left out), foil-calibrated.

    Each: ``file``, ``formula``, ``energy`` (eV, + session shift), ``flat`` (Larch-normalized),
    ``e0`` (Larch, calibrated scale), ``session_shift``.
    """
    manifest = json.loads((root / "manifest.json").read_text())
    out = []
    for entry in manifest:
        if entry["file"].startswith("ref_") or entry["formula"] not in formulas:
            continue
        energy, mu = read_measured(root / entry["file"])
        energy = energy + float(entry["shift_to_put_reference_at_8979_eV"])
        norm = pre_edge(energy, mu)
        out.append({"file": entry["file"], "formula": entry["formula"], "energy": energy,
                    "flat": norm.flat[0], "e0": float(norm.e0[0]),
                    "session_shift": float(entry["shift_to_put_reference_at_8979_eV"])})
    return out


def alignment_cost(e_ref: np.ndarray, y_ref: np.ndarray, e_sim: np.ndarray, y_sim: np.ndarray,
                   shifts: np.ndarray = SHIFTS, window: tuple[float, float] = WINDOW,
                   step: float = STEP) -> np.ndarray:
    """Mean squared difference ``[len(shifts)]`` between ``y_ref`` and ``y_sim(E - shift)``.

    Both spectra are already normalized; comparison on ``arange(*window, step)`` (eV, the
    reference's scale). Below its first point the simulation holds its first value; a shift
    that leaves the window's top uncovered costs ``inf``.
    """
    grid = np.arange(window[0], window[1] + step / 2, step)
    ref = np.interp(grid, e_ref, y_ref)
    at = grid[None, :] - np.asarray(shifts, dtype=float)[:, None]
    sim = np.interp(at, e_sim, y_sim)
    cost = np.mean((sim - ref[None]) ** 2, axis=1)
    cost[at[:, -1] > e_sim[-1]] = np.inf
    return cost


def fit_shift(e_ref: np.ndarray, y_ref: np.ndarray, e_sim: np.ndarray, y_sim: np.ndarray,
              shifts: np.ndarray = SHIFTS, window: tuple[float, float] = WINDOW,
              step: float = STEP, e0_ref: float | None = None) -> ShiftFit:
    """Least-squares energy shift (eV) that puts ``y_sim`` onto ``y_ref``; see module doc.

    ``e0_ref``: Larch e0 of the reference (eV) for the e0 comparison; None: computed here.
    """
    cost = alignment_cost(e_ref, y_ref, e_sim, y_sim, shifts, window, step)
    i = int(np.argmin(cost))
    best = float(shifts[i])
    if 0 < i < len(shifts) - 1 and np.all(np.isfinite(cost[i - 1:i + 2])):
        c0, c1, c2 = cost[i - 1:i + 2]
        curv = c0 - 2 * c1 + c2
        if curv > 0:
            best += float(0.5 * (c0 - c2) / curv * (shifts[i + 1] - shifts[i]))
    rmse = float(np.sqrt(alignment_cost(e_ref, y_ref, e_sim, y_sim, np.array([best]),
                                        window, step)[0]))
    below = np.clip((e_sim[0] + best - window[0]) / (window[1] - window[0]), 0.0, 1.0)
    e0_r = float(find_e0(e_ref, y_ref)[0]) if e0_ref is None else e0_ref
    e0_s = float(find_e0(e_sim, y_sim)[0])
    return ShiftFit(shift=round(best, 3), rmse=round(rmse, 4), extrapolated=round(float(below), 3),
                    e0_difference=round(e0_r - e0_s, 2))


# ----------------------------------------------------------------------------- references

References = dict[str, tuple[str, np.ndarray, np.ndarray]]   # name -> (formula, energy, mu)


def feff9_references(root: Path = OMNIXAS_ROOT) -> References:
    """FEFF9 (OmniXAS) Cu2O and CuO: ``{"formula:material": (formula, energy, mu)}``.

    The OmniXAS set holds no tenorite (the measured CuO phase): its ``mp-1692`` cell is
    P4_2/mmc (PtS type). Its CuO4 squares are tenorite-like, and the other CuO cells there
    (mp-704645 C2/c, mp-1064456 Cccm; neither matches tenorite) give shifts within 0.05 eV.
    """
    data = np.load(root / "spectra.npz")
    out = {}
    for formula, mid in FEFF9_REFERENCES.items():
        row = int(np.nonzero(data["material_id"] == mid)[0][0])
        out[f"{formula}:{mid}"] = (formula, data["energy"][row].astype(float),
                                   data["mu"][row].astype(float))
    return out


def _formula(poscar: str) -> str:
    from pymatgen.core import Structure

    return Structure.from_str(poscar, fmt="poscar").composition.reduced_formula


def feff10_references(root: Path | None = None) -> References:
    """FEFF10 Cu, Cu2O, CuO from the FEFF10 cache (``edgestream_models.feff10``).

    A reference is an entry whose labels carry ``calibration`` (``generate_feff10
    calibration``: Cu fcc, Cu2O and CuO in MP and experimental cells) and whose formula is
    one of the three, run with today's K settings (``feff10.matches_settings``). Entries of
    one material (equivalent sites) are averaged; names are ``formula:material``.
    """
    from edgestream_models import feff10

    found: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for meta, energy, _, mu in feff10.iter_entries("K", root, current_only=True):
        labels = meta.get("labels", {})
        if not labels.get("calibration"):
            continue
        formula = _formula(meta["poscar"])
        if formula in ("Cu", "Cu2O", "CuO"):
            name = f"{formula}:{labels.get('material', meta.get('key'))}"
            found.setdefault(name, []).append((formula, energy, mu))
    out = {}
    for name, runs in found.items():
        e = runs[0][1]
        out[name] = (runs[0][0], e, np.mean([np.interp(e, a, b) for _, a, b in runs], axis=0))
    return out


def preferred(references: References) -> References:
    """One reference per formula: experimental/prototype cells (``lit:``, ``proto:``) over
    Materials Project ones (PBE cells; MP's CuO here is not tenorite)."""
    out: References = {}
    for name in sorted(references, key=lambda n: ":mp-" in n):
        if references[name][0] not in {f for f, _, _ in out.values()}:
            out[name] = references[name]
    return out


def calibrate(references: References, measured: list[dict[str, Any]],
              window: tuple[float, float] = WINDOW) -> dict[str, Any]:
    """Fit every (reference, measured standard of the same formula) pair; mean and spread."""
    pairs = []
    for name, (formula, e_sim, y_sim) in references.items():
        for std in measured:
            if std["formula"] != formula:
                continue
            fit = fit_shift(std["energy"], std["flat"], e_sim, y_sim, window=window,
                            e0_ref=std["e0"])
            pairs.append({"reference": name, "measured": std["file"], **asdict(fit)})
    shifts = np.array([p["shift"] for p in pairs])
    return {
        "shift_ev": round(float(shifts.mean()), 3) if len(shifts) else None,
        "spread_ev": round(float(shifts.std(ddof=1)), 3) if len(shifts) > 1 else None,
        "range_ev": [float(shifts.min()), float(shifts.max())] if len(shifts) else None,
        "n_pairs": len(pairs), "window_ev": list(window), "pairs": pairs,
        "e0_difference_mean_ev": (round(float(np.mean([p["e0_difference"] for p in pairs])), 2)
                                  if pairs else None),
    }


def calibration_path() -> Path:
    """``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/calibration.json``."""
    return cache_dir("datasets") / "calibration.json"


def load_shifts(path: Path | None = None) -> dict[str, float]:
    """``{code: shift_ev}`` of the codes fitted so far (missing file: empty)."""
    path = path or calibration_path()
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {c: float(v["shift_ev"]) for c, v in data.items()
            if c in CODES and v.get("shift_ev") is not None}


REFERENCE_VALENCE = {"Cu": 0.0, "Cu2O": 1.0, "CuO": 2.0}  # formula before ":" in "reference"


def valence_shifts(code: str = "feff10", path: Path | None = None) -> dict[float, float]:
    """``{formal valence: mean shift (eV)}`` of ``code``'s pairs, by reference compound.

    For FEFF10 without SCF one global shift cannot fit (module docstring): Cu fcc needs
    -4.2 eV, Cu2O -0.2 eV, CuO +2.5 eV. These per-valence shifts restore the measured order of
    the edges (Cu(0) < Cu(I) < Cu(II)) that the potentials without self-consistency lose.
    """
    path = path or calibration_path()
    pairs = json.loads(path.read_text()).get(code, {}).get("pairs", [])
    by_valence: dict[float, list[float]] = {}
    for p in pairs:
        v = REFERENCE_VALENCE.get(str(p["reference"]).split(":")[0])
        if v is not None and p.get("shift") is not None:
            by_valence.setdefault(v, []).append(float(p["shift"]))
    return {v: float(np.mean(s)) for v, s in sorted(by_valence.items())}


def shift_for_valence(valence: np.ndarray, shifts: dict[float, float], default: float
                      ) -> np.ndarray:
    """Per-row shift: linear in the formal valence between the references' shifts (held
    beyond them); ``default`` (the code's global shift) where the valence is unknown."""
    v = np.asarray(valence, dtype=float)
    if not shifts:
        return np.full(v.shape, default)
    xs, ys = np.array(list(shifts)), np.array(list(shifts.values()))
    return np.where(np.isfinite(v), np.interp(np.nan_to_num(v), xs, ys), default)


def run(codes: tuple[str, ...] = CODES, wait_feff10_s: float = 0.0,
        path: Path | None = None) -> dict[str, Any]:
    """Fit the requested codes, merge into the calibration JSON, and return its content."""
    path = path or calibration_path()
    out = json.loads(path.read_text()) if path.exists() else {}
    measured = measured_standards()
    for code in codes:
        if code == "feff9":
            every = feff9_references()
        else:
            deadline = time.monotonic() + wait_feff10_s
            every = feff10_references()
            while len(preferred(every)) < 3 and time.monotonic() < deadline:
                time.sleep(60)
                every = feff10_references()
            if not every:
                out[code] = {"shift_ev": None, "status": "no FEFF10 references in the cache yet"}
                continue
        refs = preferred(every)
        result = calibrate(refs, measured)
        result["references"] = sorted(refs)
        result["complete"] = len(refs) == (2 if code == "feff9" else 3)
        for window in ((8970.0, 9050.0), (8975.0, 9000.0)):
            result[f"shift_ev_window_{window[0]:g}_{window[1]:g}"] = calibrate(
                refs, measured, window)["shift_ev"]
        if len(every) > len(refs):
            result["all_references"] = calibrate(every, measured)
        out[code] = result
    path.write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: fit and write the per-code shifts; print them."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.calibration")
    parser.add_argument("--code", choices=(*CODES, "all"), default="all")
    parser.add_argument("--wait-feff10", type=float, default=0.0,
                        help="seconds to poll for the FEFF10 references")
    args = parser.parse_args(argv)
    codes = CODES if args.code == "all" else (args.code,)
    print(json.dumps(run(codes, args.wait_feff10), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
