"""Cu L2,3 training data: FEFF10 L3 entries of the cache → calibrated L2,3 spectra on ``FINE``,
their labels, the split by material family, the saved data set and the simulator's fixture.

FEFF computes L3 alone; the L2,3 spectrum is ``L3(E) + L2_WEIGHT * L3(E - SPIN_ORBIT_EV)``
(statistical 2:1 branching, Cu 2p splitting 19.9 eV), on an energy scale shifted once for
all so that FEFF's Cu fcc onset sits at the tabulated 932.7 eV (``calibration_shift``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.paths import require_checkout, shared_root

REPO = require_checkout("Training the Cu L2,3 model")
OMNIXAS_SPLITS = shared_root() / "data" / "omnixas-cu-k" / "splits.json"
FIXTURE = REPO / "stream" / "edgestream_sim" / "data" / "cu_l23_feff10.npz"
CU_L3_EV = 932.7          # tabulated Cu L3 edge (metal), eV
SPIN_ORBIT_EV = 19.9      # Cu 2p3/2 - 2p1/2
L2_WEIGHT = 0.5           # L2/L3 statistical branching
FINE_STEP = 0.05          # eV, grid on which spectra are mixed and broadened
FINE = np.round(np.arange(900.0, 1030.0 + FINE_STEP / 2, FINE_STEP), 4)
REFERENCE_PROTOTYPES = {"cu_fcc"}  # always in training (split_families)
PUBLISHED_GRID = np.arange(925.0, 970.0 + 0.25, 0.5)  # the published RF's absolute grid
REFERENCE_SITES = {  # compound -> cache key prefix of its reference entry (experimental cells)
    "Cu": "cu_fcc/base/",
    "Cu2O": "calib/cu2o_cuprite/",
    "CuO": "calib/cuo_tenorite/",
}


@dataclass
class Spectra:
    """L2,3 spectra on ``FINE`` (absolute, calibrated eV) with their labels."""

    key: np.ndarray
    group: np.ndarray
    material: np.ndarray
    family: np.ndarray      # what the split keeps together: material or prototype
    formula: np.ndarray
    valence: np.ndarray
    mu: np.ndarray          # [n, len(FINE)]

    def take(self, idx: np.ndarray) -> Spectra:
        return Spectra(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.key)


def onset_of(energy: np.ndarray, mu: np.ndarray, smooth_ev: float = 1.0) -> float:
    """Energy of the steepest rise of ``mu`` (after a ``smooth_ev`` boxcar), eV."""
    fine = np.arange(energy[0], energy[-1], FINE_STEP)
    y = np.interp(fine, energy, mu)
    k = max(1, round(smooth_ev / FINE_STEP))
    y = np.convolve(y, np.ones(k) / k, mode="same")
    d = np.gradient(y, fine)
    d[: k] = d[-k:] = -np.inf
    return float(fine[np.argmax(d)])


def l23(energy: np.ndarray, mu3: np.ndarray, shift: float) -> np.ndarray:
    """L2,3 spectrum on ``FINE`` from a FEFF L3 ``(energy, mu)``, moved by ``shift`` eV.

    FEFF's first value (~0.02, its pre-edge) is taken off, so below FEFF's range the signal
    is 0 and an EELS background stays a pure power law; above, it holds its last value.
    """
    e = energy + shift
    mu3 = mu3 - mu3[0]
    l3 = np.interp(FINE, e, mu3, left=0.0, right=mu3[-1])
    l2 = np.interp(FINE - SPIN_ORBIT_EV, e, mu3, left=0.0, right=mu3[-1])
    return l3 + L2_WEIGHT * l2


def current_entries(cache: Path | None = None) -> list[tuple[dict[str, Any], np.ndarray,
                                                                 np.ndarray]]:
    """``(meta, energy, mu)`` of the finished L3 entries made with today's L-edge settings
    (``feff10.matches_settings``)."""
    from edgestream_models import feff10

    return [(m, e, y) for m, e, _, y in feff10.iter_entries("L3", cache, current_only=True)]


def calibration_shift(entries: list[tuple[dict[str, Any], np.ndarray, np.ndarray]]) -> float:
    """eV to add to FEFF10 L3 energies so the Cu fcc base site's onset is at 932.7 eV."""
    for meta, energy, mu in entries:
        if meta["key"].startswith("cu_fcc/base/"):
            return CU_L3_EV - onset_of(energy, mu)
    raise SystemExit("no Cu fcc base entry in the L3 cache: run `generate_feff10 --edge L3 "
                     "calibration` first")


def load_spectra(cache: Path | None = None) -> tuple[Spectra, float, dict[str, Any]]:
    """Every finished FEFF10 L3 entry (today's settings) with a finite valence, confident for
    OmniXAS sites (``labels.valence_confident``), as L2,3 on ``FINE``; the calibration shift;
    the FEFF parameters of the first entry."""
    from edgestream_models.labels import valence_confident

    entries = current_entries(cache)
    shift = calibration_shift(entries)
    rows, seen = [], set()
    for meta, energy, mu in entries:
        lab = meta["labels"]
        val = float(lab.get("formal_valence", np.nan))
        material = str(lab.get("material", ""))
        site = (material, str(lab.get("variant", "")), meta["site_index"])
        if not np.isfinite(val) or site in seen:
            continue  # no label, or the same site again (calibration copies of OmniXAS)
        if lab.get("group") == "omnixas" and not valence_confident(
                val, str(lab.get("valence_method", "")), str(lab.get("formula", ""))):
            continue  # BVA and the composition's guess disagree: label not trusted
        seen.add(site)
        group = "prototype" if lab.get("group") == "prototype" else "omnixas"
        if lab.get("group") == "calibration":
            group = "calibration"
        family = lab.get("prototype") if group == "prototype" else material
        rows.append((meta["key"], group, material, family, lab.get("formula", ""), val,
                     l23(energy, mu, shift)))
    cols = list(zip(*rows, strict=True))
    spectra = Spectra(*(np.array(c) for c in cols[:6]), mu=np.stack(cols[6]))
    return spectra, shift, entries[0][0]["feff"]


def split_families(spectra: Spectra, splits_path: Path = OMNIXAS_SPLITS) -> np.ndarray:
    """``"train"``/``"test"`` per spectrum; families never straddle (``ledge``'s docstring)."""
    omni: dict[str, str] = {}
    if splits_path.exists():
        for part, keys in json.loads(splits_path.read_text()).items():
            for k in keys:
                omni[k.rsplit("_", 1)[0]] = "test" if part == "test" else "train"

    def hashed(name: str, frac: float) -> bool:
        return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < frac

    proto_test: set[str] = set()
    protos = sorted({(v, f) for v, f, g in zip(spectra.valence, spectra.family, spectra.group,
                                               strict=True) if g == "prototype"})
    by_class: dict[float, list[str]] = {}
    for v, f in protos:
        if f in REFERENCE_PROTOTYPES:
            continue
        by_class.setdefault(round(float(v), 2), []).append(f)
    for names in by_class.values():
        proto_test |= {n for i, n in enumerate(sorted(set(names))) if i % 4 == 1}
    out = []
    for g, fam in zip(spectra.group, spectra.family, strict=True):
        if g == "prototype":
            out.append("test" if fam in proto_test else "train")
        elif g == "calibration":
            out.append("train")
        else:
            out.append(omni.get(fam) or ("test" if hashed(fam, 0.15) else "train"))
    return np.array(out)


def save_dataset(spectra: Spectra, part: np.ndarray, shift: float,
                 feff_params: dict[str, Any]) -> Path:
    """The L2,3 data set as trained on, with its FEFF parameters and calibration, in
    ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/feff10_cu_l23.npz``."""
    from edgestream_models.labels import cache_dir

    path = cache_dir("datasets") / "feff10_cu_l23.npz"
    np.savez_compressed(
        path, energy=FINE, mu=spectra.mu.astype(np.float32), split=part,
        **{f: getattr(spectra, f) for f in ("key", "group", "material", "family", "formula",
                                             "valence")},
        calibration_shift_ev=np.float64(shift), feff_parameters=np.array(json.dumps(
            feff_params)), construction=np.array(
            f"L2,3 = L3 + {L2_WEIGHT} L3(E - {SPIN_ORBIT_EV} eV), FEFF pre-edge value taken "
            f"off, energies + calibration shift (Cu fcc onset at {CU_L3_EV} eV)"))
    return path


def write_fixture(out: Path = FIXTURE, cache: Path | None = None) -> dict[str, Any]:
    """The simulated microscope's spectra: calibrated FEFF10 L2,3 of Cu fcc, cuprite Cu2O and
    tenorite CuO (the calibration references), float32 on 0.1 eV from 910 to 1020 eV."""
    entries = current_entries(cache)
    shift = calibration_shift(entries)
    energy = np.round(np.arange(910.0, 1020.0 + 0.05, 0.1), 3)
    names, mus, keys, valences = [], [], [], []
    for compound, prefix in REFERENCE_SITES.items():
        meta, e, y = next(x for x in entries if x[0]["key"].startswith(prefix))
        names.append(compound)
        keys.append(meta["key"])
        valences.append(float(meta["labels"]["formal_valence"]))
        mus.append(np.interp(energy, FINE, l23(e, y, shift)))
    np.savez_compressed(out, compound=np.array(names), key=np.array(keys),
                        valence=np.array(valences), energy=energy.astype(np.float32),
                        mu=np.stack(mus).astype(np.float32),
                        calibration_shift_ev=np.float32(shift),
                        feff_parameters=np.array(json.dumps(entries[0][0]["feff"])))
    return {"out": str(out), "compounds": names, "keys": keys, "bytes": out.stat().st_size,
            "calibration_shift_ev": round(shift, 3)}
