"""FEFF10 K-edge spectra of a 3d element as training data for the ``k_edge`` plugin family:
labels, the energy calibration, and measured-like draws for both of the family's paths.

- Sites: every finished FEFF10 run of the element made with today's settings (cache set
  ``<El>_K``, or ``K`` for Cu): the metal, the prototypes and their variants, the OmniXAS
  co-cation sites. Valence: the formal valence of a prototype site; for an OmniXAS site the
  bond-valence label when a confident one exists (``labels3d``), else none (it still teaches
  coordination). Coordination: CrystalNN with the Jahn–Teller rule (``motifs.coordination``,
  cached beside each run), as for Cu.
- Calibration (the same way for every element, from physics only): the offset that puts the
  simulated metal's e0 (the runtime's ``find_e0``) on the element's tabulated K edge.
- Draws: ``augment`` on an axis relative to the tabulated edge (broadening, sharpening as in
  HERFD, shifts, limited range, normalization errors, self-absorption, noise), read on the
  calibrated grid, or about each draw's own e0 (shape path; shifts up to ±5 eV).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgestream.physics import edge_energy
from edgestream.physics.xas import find_e0
from edgestream_models import feff10
from edgestream_models.augment import WORK_STEP, AugmentConfig, Axes, augment, to_work_axis
from edgestream_models.calib3d import metal_offset
from edgestream_models.feff10_collect import _coordination
from edgestream_plugins.cu_k import represent
from edgestream_plugins.k_edge import CAL_GRID, CN_CLASSES, GEOMETRIES, SHAPE_GRID

WORK = np.round(np.arange(-35.0, 75.0 + WORK_STEP / 2, WORK_STEP), 3)  # eV from the edge
CAL_AXES = Axes(work=WORK, grid=CAL_GRID, edge=0.0)
SHAPE_AXES = Axes(work=WORK, grid=SHAPE_GRID, edge=0.0)
# Calibrated: foil-referenced beamlines agree within ~0.5 eV, some draws miss by up to 2 eV
CAL_CONFIG = AugmentConfig(
    shift_sigma=0.5, shift_wide=2.0, wide_fraction=0.1,
    range_low=(CAL_GRID[0] - 10.0, CAL_GRID[0] + 6.0),
    range_high=(CAL_GRID[-1] - 15.0, CAL_GRID[-1] + 10.0),
    self_absorption=(0.0, 0.5), self_absorption_fraction=0.2)
# Shape: no calibration, the scan may be several eV off (the input is read about its e0)
SHAPE_CONFIG = AugmentConfig(
    shift_sigma=2.5, shift_wide=5.0, wide_fraction=0.5,
    range_low=(-25.0, -5.0), range_high=(30.0, 60.0),
    self_absorption=(0.0, 0.5), self_absorption_fraction=0.2)
SHARPEN_FRACTION = 0.2  # of draws made sharper than FEFF (HERFD), by unsharp masking
SHARPEN = (0.2, 0.8)    # mask strength, uniform
SHARPEN_SIGMA_EV = 1.5


@dataclass
class ElementSites:
    """One element's FEFF10 sites on ``WORK`` (eV from the tabulated edge, calibrated)."""

    element: str
    work: np.ndarray          # [n, len(WORK)] normalized μ
    valence: np.ndarray       # [n] formal valence, NaN when unknown
    cn: np.ndarray            # [n] index into CN_CLASSES
    geometry: np.ndarray      # [n] index into GEOMETRIES
    material: np.ndarray      # [n] str, the split unit (a structure and its variants)
    group: np.ndarray         # [n] prototype / calibration / omnixas
    key: np.ndarray           # [n] str
    offset_ev: float          # calibration: added to FEFF's energies
    cpu_s: float              # FEFF10 CPU time of these runs

    def __len__(self) -> int:
        return len(self.valence)


def cache_set(element: str) -> str:
    return "K" if element == "Cu" else f"{element}_K"


def cn_class(cn: int) -> int:
    return min(max(int(cn), 2), 7) - 2


def geometry_class(motif: str) -> int:
    return GEOMETRIES.index(motif) if motif in GEOMETRIES else GEOMETRIES.index("other")


def calibration_offset(element: str, rows: list[tuple[dict, Any, Any, Any]]) -> float:
    """eV to add to FEFF's energies so the simulated metal's edge is the tabulated K edge:
    :func:`edgestream_models.calib3d.metal_offset` over every inequivalent site of the
    unstrained metal (α-Mn has four, 10 eV apart), weighted by multiplicity."""
    metals = [r for r in rows if r[0]["labels"].get("calibration") == f"{element} foil"
              and r[0]["labels"].get("variant", "base") in ("base", "d00")]
    if not metals:
        raise SystemExit(f"{element}: no FEFF10 run of the metal to calibrate on")
    energies = [r[1] for r in metals]
    mus = [r[3] for r in metals]
    weights = [float(r[0]["labels"].get("multiplicity", 1)) for r in metals]
    return float(metal_offset(element, energies, mus, weights)["offset"])


def _valence(labels: dict[str, Any], bond_valence: dict[str, float]) -> float:
    if labels.get("group") in ("prototype", "calibration"):
        return float(labels.get("formal_valence", np.nan))
    return float(bond_valence.get(labels.get("key", ""), np.nan))


def _bond_valences(element: str) -> dict[str, float]:
    """Confident bond-valence labels of OmniXAS sites by run key, when they exist."""
    try:
        from edgestream_models import labels3d  # type: ignore[attr-defined]
    except ImportError:
        return {}
    return dict(labels3d.confident_valences(element))


def load_element(element: str, root: Any = None) -> ElementSites:
    """Every finished FEFF10 run of ``element`` as :class:`ElementSites`."""
    warnings.filterwarnings("ignore")
    rows = sorted(feff10.iter_entries(cache_set(element), root, current_only=True),
                  key=lambda r: r[0]["key"])
    rows = [r for r in rows if r[0]["feff"].get("absorber", element) == element
            or element == "Cu"]
    if not rows:
        raise SystemExit(f"{element}: no finished FEFF10 K-edge runs")
    offset = calibration_offset(element, rows)
    edge = edge_energy(element, "K")
    bv = _bond_valences(element)
    energy = [r[1] + offset - edge for r in rows]
    work = np.stack([to_work_axis(e, mu[None, :], axis=WORK)[0]
                     for e, (_, _, _, mu) in zip(energy, rows, strict=True)])
    coord = [_coordination(r[0]) for r in rows]
    labels = [r[0]["labels"] | {"key": r[0]["key"]} for r in rows]
    return ElementSites(
        element=element, work=work,
        valence=np.array([_valence(lab, bv) for lab in labels]),
        cn=np.array([cn_class(c["cn"]) for c in coord]),
        geometry=np.array([geometry_class(c["motif"]) for c in coord]),
        material=np.array([lab.get("material", r[0]["key"]) for lab, r in
                           zip(labels, rows, strict=True)]),
        group=np.array([lab.get("group", "prototype") for lab in labels]),
        key=np.array([r[0]["key"] for r in rows]), offset_ev=offset,
        cpu_s=float(sum(r[0].get("cpu_s", 0.0) for r in rows)))


def _sharpen(work: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For ``SHARPEN_FRACTION`` of rows, y + a (y - G*y): features sharper than FEFF's."""
    n = len(work)
    a = np.where(rng.random(n) < SHARPEN_FRACTION, rng.uniform(*SHARPEN, n), 0.0)
    if not a.any():
        return work
    x = WORK_STEP * np.arange(-24, 25)
    g = np.exp(-0.5 * (x / SHARPEN_SIGMA_EV) ** 2)
    g /= g.sum()
    padded = np.pad(work, ((0, 0), (24, 24)), mode="edge")
    blurred = np.stack([np.convolve(row, g, mode="valid") for row in padded])
    return work + a[:, None] * (work - blurred)


def shape_inputs(axis: np.ndarray, y: np.ndarray, element: str) -> np.ndarray:
    """The shape path's input of spectra on ``axis`` (eV from the tabulated edge): each read
    about its own e0 as the runtime finds it (``find_e0`` on absolute energies)."""
    e0 = find_e0(axis + edge_energy(element, "K"), y) - edge_energy(element, "K")
    return represent([axis - e for e in e0], list(y), SHAPE_GRID)[0]


def draws(sites: ElementSites, rows: np.ndarray, path: str, copies: int, seed: int,
          mix_fraction: float = 0.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``copies`` measured-like draws of each site in ``rows`` for ``path`` (calibrated or
    shape), plus ``mix_fraction`` of as many two-phase mixtures (valence targets only).
    Returns inputs and targets: ``valence`` (NaN: unknown), ``cn``/``geometry`` class indices
    (-1 for mixtures) and ``site`` (row index, -1 for mixtures)."""
    rng = np.random.default_rng(seed)
    site = np.repeat(rows, copies)
    work = sites.work[site]
    valence = sites.valence[site]
    cn, geo = sites.cn[site], sites.geometry[site]
    n_mix = int(mix_fraction * len(site))
    known = rows[np.isfinite(sites.valence[rows])]
    if n_mix and len(known) > 1:
        a, b = rng.choice(known, n_mix), rng.choice(known, n_mix)
        f = rng.random(n_mix)
        work = np.vstack([work, f[:, None] * sites.work[a] + (1 - f[:, None]) * sites.work[b]])
        valence = np.concatenate([valence, f * sites.valence[a] + (1 - f) * sites.valence[b]])
        cn = np.concatenate([cn, np.full(n_mix, -1)])
        geo = np.concatenate([geo, np.full(n_mix, -1)])
        site = np.concatenate([site, np.full(n_mix, -1)])
    work = _sharpen(work, rng)
    if path == "calibrated":
        x = augment(work, rng, CAL_CONFIG, CAL_AXES)
    else:
        x = augment(work, rng, SHAPE_CONFIG, SHAPE_AXES,
                    represent_as=lambda axis, y: shape_inputs(axis, y, sites.element))
    return x.astype(np.float32), {"valence": valence, "cn": cn, "geometry": geo, "site": site}


def one_hot(index: np.ndarray, k: int) -> np.ndarray:
    """Rows of ``k`` zeros with a one at ``index`` (all zeros where index < 0)."""
    out = np.zeros((len(index), k), dtype=np.float32)
    ok = index >= 0
    out[np.nonzero(ok)[0], index[ok]] = 1.0
    return out


def coordination_targets(t: dict[str, np.ndarray]) -> np.ndarray:
    """``[n, len(CN_CLASSES) + len(GEOMETRIES)]`` one-hots of the pure draws."""
    return np.hstack([one_hot(t["cn"], len(CN_CLASSES)), one_hot(t["geometry"], len(GEOMETRIES))])
