"""K-edge samples of 3d elements other than Cu for the simulated beamline, from FEFF10.

``data/<el>_k_feff10.npz`` (``make_fixture --feff10 Fe``) holds base-variant FEFF10 site
spectra of this project's prototypes (the k_edge models' training family) with their labels
and the element's energy calibration: the offset that puts the simulated metal's e0 on the
tabulated K edge, the one the models were trained with. A sample is a material: its sites
mixed by multiplicity (magnetite: 1/3 tetrahedral Fe(III), 2/3 octahedral Fe(2.5)), so a
mixed-valence material reads between its sites, as measured ones do.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .spectra import ReferenceSpectrum

FEFF10_ELEMENTS = ("Fe",)  # those with a committed fixture


def feff10_fixture_path(element: str) -> Path:
    """Path of the committed FEFF10 K-edge fixture of ``element`` (inside the package)."""
    name = f"{element.lower()}_k_feff10.npz"
    return Path(str(resources.files("edgestream_sim") / "data" / name))


def mix_sites(
    energies: list[np.ndarray], mus: list[np.ndarray], weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of site spectra on the first site's energies (eV) where all overlap."""
    if len(energies) == 1:
        return np.asarray(energies[0], np.float64), np.asarray(mus[0], np.float64)
    lo = max(float(e[0]) for e in energies)
    hi = min(float(e[-1]) for e in energies)
    grid = np.asarray(energies[0], np.float64)
    grid = grid[(grid >= lo) & (grid <= hi)]
    w = np.asarray(weights, np.float64) / np.sum(weights)
    mu = sum(wi * np.interp(grid, e, m) for wi, e, m in zip(w, energies, mus, strict=True))
    return grid, np.asarray(mu, np.float64)


def _geometry(motifs: list[str], w: np.ndarray) -> str:
    """One motif, or the mixture's motifs with their site fractions ("tetrahedral 0.33, ...")."""
    if len(set(motifs)) == 1:
        return motifs[0]
    return ", ".join(f"{m} {wi:.2f}" for m, wi in zip(motifs, w, strict=True))


def load_feff10_fixture(
    element: str = "Fe", path: str | Path | None = None
) -> list[ReferenceSpectrum]:
    """The materials of ``element``'s FEFF10 fixture, in the fixture's order, as references
    calibrated by the fixture's offset (``calibration_ev``) at the tabulated K edge."""
    from edgestream.physics import edge_energy

    with np.load(path or feff10_fixture_path(element)) as d:
        if str(d["element"]) != element:
            raise ValueError(f"{path}: a fixture of {d['element']}, not {element}")
        z = {k: d[k] for k in d.files}
    edge = edge_energy(element, "K")
    out = []
    for material in dict.fromkeys(z["material"].tolist()):  # first-seen order
        (rows,) = np.nonzero(z["material"] == material)
        w = z["multiplicity"][rows].astype(np.float64)
        w /= w.sum()
        energy, mu = mix_sites([z["energy_feff"][i] for i in rows],
                               [z["mu"][i] for i in rows], w)
        first = int(rows[0])
        out.append(ReferenceSpectrum(
            material_id=str(material),
            site_index=int(z["site_index"][first]),
            formula=str(z["formula"][first]),
            name=str(z["name"][first]),
            valence=float(w @ z["valence"][rows].astype(np.float64)),
            cu_o_coordination=0,
            omnixas_split="none",
            energy_feff=energy,
            mu=mu,
            element=element,
            edge_ev=edge,
            calibration_ev=float(z["calibration_offset_ev"]),
            coordination=float(w @ z["coordination"][rows].astype(np.float64)),
            geometry=_geometry([str(g) for g in z["geometry"][rows]], w),
        ))
    return out
