"""Local motif of an absorbing site (the motif labels of :mod:`edgestream_models.labels`).

Motif: the neighbours are pymatgen's ``CrystalNN()`` (defaults, no oxidation states, so
oxides, sulfides, halides and metals are treated alike); the geometry follows from the
ligand directions with the usual angle indices:
    CN2 linear (angle >= 150°);  CN3 trigonal (largest angle < 150°, else T-shaped: other);
    CN4 tau4 (Yang 2007) <= 0.5 square_planar, else tetrahedral;
    CN5 tau5 (Addison 1984) < 0.5 square_pyramidal, else other (trigonal bipyramid);
    CN6 octahedral when every ligand has a trans partner (>= 150°), else other (prism);
    any other CN: other.

Jahn–Teller convention (decided here, applied to every site alike): an elongated Cu(II)
octahedron (4 short equatorial + 2 long axial bonds) is **octahedral (CN6)** and a 4+1 site is
**square_pyramidal (CN5)** when the axial bonds are at most ``AXIAL_RATIO_MAX`` (1.35) times the
mean equatorial bond (about 2.64 Å for Cu–O 1.96 Å); longer axial contacts are not bonds
(square_planar, CN4). CrystalNN itself draws this line near 1.33 but not sharply (it keeps a
2.63 Å apex in one structure and drops 2.52 Å in another), so whenever CrystalNN's four
shortest ligands form a square plane the axial positions are re-counted with that ratio.
Examples: La2CuO4 (mp-19735, 1.91/2.46 Å, ratio 1.29) octahedral; CuO tenorite (mp-1692,
1.95/2.78 Å, ratio 1.43) square_planar. ``cn_crystalnn`` keeps CrystalNN's own count.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

MOTIFS = ("linear", "trigonal", "tetrahedral", "square_planar", "square_pyramidal",
          "octahedral", "other")
AXIAL_RATIO_MAX = 1.35      # axial / mean equatorial bond length still counted as bonded
AXIAL_ANGLE_MAX = 30.0      # deg between an axial bond and the square plane's normal
TRANS_ANGLE_MIN = 150.0     # deg: a ligand pair this open counts as trans (linear, oct)


def _angles(vectors: np.ndarray) -> np.ndarray:
    """Pairwise ligand–centre–ligand angles (deg), ``[n, n]``, of bond vectors ``[n, 3]``."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(unit @ unit.T, -1.0, 1.0)))


def _largest_two(vectors: np.ndarray) -> tuple[float, float]:
    ang = _angles(vectors)[np.triu_indices(len(vectors), 1)]
    beta, alpha = np.sort(ang)[::-1][:2]
    return float(beta), float(alpha)


def tau4(vectors: np.ndarray) -> float:
    """Four-coordinate index (Yang, Powell, Houser 2007): 0 square planar, 1 tetrahedral."""
    beta, alpha = _largest_two(vectors)
    return (360.0 - (alpha + beta)) / 141.0


def tau5(vectors: np.ndarray) -> float:
    """Five-coordinate index (Addison 1984): 0 square pyramidal, 1 trigonal bipyramidal."""
    beta, alpha = _largest_two(vectors)
    return (beta - alpha) / 60.0


def classify_geometry(vectors: np.ndarray) -> tuple[str, float]:
    """Motif class and its shape index (angle, tau4, tau5 or min trans angle; NaN if none).

    ``vectors``: centre→ligand bond vectors ``[cn, 3]`` in Å. Rules: module docstring.
    """
    cn = len(vectors)
    if cn < 2:
        return "other", float("nan")
    ang = _angles(vectors)
    if cn == 2:
        return ("linear" if ang[0, 1] >= TRANS_ANGLE_MIN else "other"), float(ang[0, 1])
    if cn == 3:
        big = float(ang[np.triu_indices(3, 1)].max())
        return ("trigonal" if big < TRANS_ANGLE_MIN else "other"), big
    if cn == 4:
        t = tau4(vectors)
        return ("square_planar" if t <= 0.5 else "tetrahedral"), t
    if cn == 5:
        t = tau5(vectors)
        return ("square_pyramidal" if t < 0.5 else "other"), t
    if cn == 6:
        trans = float(ang.max(axis=1).min())
        return ("octahedral" if trans >= TRANS_ANGLE_MIN else "other"), trans
    return "other", float("nan")


def _is_axial(v: np.ndarray, normal: np.ndarray) -> bool:
    """Within ``AXIAL_ANGLE_MAX`` of the square plane's normal."""
    cos = abs(float(v @ normal)) / float(np.linalg.norm(v))
    return bool(np.degrees(np.arccos(min(1.0, cos))) <= AXIAL_ANGLE_MAX)


def nearest_axial(structure: Any, index: int, eq: np.ndarray, species: Iterable[str],
                  radius: float) -> dict[int, tuple[np.ndarray, str]]:
    """The nearest axial neighbour on each side (+1, -1) of the plane of the equatorial bond
    vectors ``eq [4, 3]``: ``{side: (vector, symbol)}``, among ``species`` within ``radius``
    (Å) of site ``index``; a side with none is left out."""
    species = set(species)
    normal = np.linalg.svd(eq)[2][-1]  # normal of the best-fit plane through the centre
    centre = structure[index].coords
    best: dict[int, tuple[np.ndarray, str]] = {}
    for n in structure.get_neighbors(structure[index], radius):
        v = n.coords - centre
        if n.specie.symbol not in species or not _is_axial(v, normal):
            continue
        side = 1 if float(v @ normal) > 0 else -1
        if side not in best or np.linalg.norm(v) < np.linalg.norm(best[side][0]):
            best[side] = (v, n.specie.symbol)
    return best


def _axial_recount(structure: Any, index: int, vecs: np.ndarray, species: list[str]) -> (
    tuple[np.ndarray, list[str]] | None
):
    """Ligand vectors and species after the Jahn–Teller rule, or None where it does not apply."""
    order = np.argsort(np.linalg.norm(vecs, axis=1))
    eq = vecs[order[:4]]
    if len(vecs) not in (4, 5, 6) or tau4(eq) > 0.5:
        return None
    d_eq = float(np.linalg.norm(eq, axis=1).mean())
    normal = np.linalg.svd(eq)[2][-1]
    if any(not _is_axial(v, normal) for v in vecs[order[4:]]):
        return None  # CrystalNN counts a non-axial 5th/6th ligand: not the JT family
    best = nearest_axial(structure, index, eq, species, AXIAL_RATIO_MAX * d_eq)
    return (np.vstack([eq, *(b[0] for b in best.values())]),
            [species[i] for i in order[:4]] + [b[1] for b in best.values()])


def coordination(structure: Any, index: int, cnn: Any = None) -> dict[str, Any]:
    """CrystalNN neighbours of site ``index`` and its motif under this module's conventions.

    Returns ``cn`` (after the JT rule), ``cn_crystalnn``, ``motif``, ``shape_index``,
    ``ligands`` (sorted species symbols) and ``bonds`` (sorted lengths, Å).
    """
    from pymatgen.analysis.local_env import CrystalNN

    cnn = cnn or CrystalNN()
    with warnings.catch_warnings():  # "no oxidation states": intended, see module docstring
        warnings.simplefilter("ignore")
        nn = cnn.get_nn_info(structure, index)
    centre = structure[index].coords
    vecs = np.array([n["site"].coords - centre for n in nn]).reshape(-1, 3)
    species = [n["site"].specie.symbol for n in nn]
    recount = _axial_recount(structure, index, vecs, species) if len(vecs) >= 4 else None
    final, final_species = (vecs, species) if recount is None else recount
    motif, shape = classify_geometry(final)
    return {
        "cn": len(final), "cn_crystalnn": len(vecs), "motif": motif,
        "shape_index": round(shape, 4) if np.isfinite(shape) else None,
        "ligands": "".join(sorted(final_species)),
        "bonds": sorted(round(float(np.linalg.norm(v)), 4) for v in final),
    }

