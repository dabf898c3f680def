"""FEFF10 inputs: the settings of every edge, the ``feff.inp`` text of an absorbing site, its
hash, and the :class:`Job` that carries them (the reasons: :mod:`edgestream_models.feff10`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RADIUS = 6.0            # Å, cluster radius (ATOMS card)
FMS_RADIUS = 5.0        # Å, full multiple scattering radius
XANES = "4 0.04 0.1"    # kmax (1/Å), dk (1/Å) near the edge, dE (eV) above
# Cu L2,3: the 925-970 eV window needs ~+40 eV above the edge (k = 3.2/Å), and the white
# line is set by the first two shells, so a smaller FMS sphere and k range halve the cost
# (CuO mp-1692 L3: 10.5 s at 5.0 Å / k 4, 4.9 s at 4.0 Å / k 3.5). Self-consistent
# potentials over a small sphere are kept: without them FEFF places the Fermi level so that
# CuO and Cu2O show no L3 white line and the oxides' valences look alike (measured: Cu(I),
# Cu(II), Cu(III) class means within the within-class spread); with SCF 3.5 Å CuO has its
# sharp L3 line, Cu2O a weaker one, Cu metal none, for ~2x the cost (9-13 s per site).
# Core hole for the L edges: none (ground-state final state). Measured on Cu fcc, Cu2O
# (mp-361), CuO (mp-1692), KCuO2 (mp-3982) with SCF 3.5 Å: L3 white line over the step at +30
# eV is 1.4 / 3.5 / 6.1 / 13.7 without a core hole, rising with the 3d-hole count as measured
# L3 lines do; pymatgen's default (FSR, full core hole) gives 1.1 / 1.2 / 1.1 / 1.4 and RPA
# 1.1 / 1.4 / 1.2 / 8.3, so Cu(I) and Cu(II) overlapped. Without SCF no core-hole setting
# gives white lines (1.2-2.2 all). Same cost as FSR.
L_FMS_RADIUS = 4.5
L_XANES = "3.5 0.05 0.1"
L_SCF_RADIUS = 3.5
L_COREHOLE = "NONE"
# Cu K: SCF over 3.5 Å (15-45 CPU-s per site; 12 without). Measured 2026-12-03 against the
# measured standards: the shifts that align FEFF10 Cu fcc / Cu2O / CuO are -4.4 / -0.2 / +2.5 eV
# without SCF (the valence order of the edges lost, Cu metal without its 8979-8981 eV shoulder;
# RMS residual 0.14 / 0.22 / 0.18; the valence model then read measured foils 1.06) and
# -7.0 / -6.4 / -4.5 eV with SCF 3.5 Å (0.09 / 0.12 / 0.10; foils read 0.1-0.2). FMS 6 Å or SCF
# 4.5 Å changed nothing. Runs with other settings stay cached but out of the data set
# (``settings``, ``matches_settings``).
K_SCF_RADIUS: float | None = 3.5
DROPPED_CARDS = ("SCF", "LDOS")
EDGES = ("K", "L3", "L2", "L1")
DEFAULT_ABSORBER = "Cu"


def cache_set(edge: str, absorber: str = DEFAULT_ABSORBER) -> str:
    """The cache folder (and archive) name of ``absorber``'s ``edge`` runs: ``edge`` for Cu
    (the folders the Cu runs always had), ``<Element>_<edge>`` otherwise (``Fe_K``)."""
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, got {edge!r}")
    return edge if absorber == DEFAULT_ABSORBER else f"{absorber}_{edge}"


def set_edge(name: str) -> str:
    """The edge of a cache set name (``"Fe_K"`` -> ``"K"``, ``"L3"`` -> ``"L3"``)."""
    edge = name.rsplit("_", 1)[-1]
    if edge not in EDGES:
        raise ValueError(f"{name!r} is not an edge or <Element>_<edge> (edges: {EDGES})")
    return edge


def feff_input(structure: Any, site_index: int, edge: str = "K", radius: float = RADIUS,
               fms: float = FMS_RADIUS, xanes: str = XANES,
               drop: Iterable[str] = DROPPED_CARDS, scf: float | None = None,
               corehole: str | None = None, absorber: str = DEFAULT_ABSORBER) -> str:
    """The ``feff.inp`` text for absorbing site ``site_index`` of a pymatgen ``Structure``.

    ``radius``: cluster radius in Å; ``fms``: FMS radius in Å; ``xanes``: the XANES card;
    ``drop``: cards removed from the text (default: SCF and LDOS, see module docstring);
    ``scf``: a radius (Å) writes ``SCF <scf> 0 30 0.2 1`` instead (self-consistent potentials);
    ``corehole``: ``COREHOLE`` card value (``None``: pymatgen's, ``FSR``);
    ``absorber``: the element the site must be (a guard against a wrong index).
    """
    import tempfile

    from pymatgen.io.feff.sets import MPXANESSet

    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, got {edge!r}")
    if structure[site_index].specie.symbol != absorber:
        raise ValueError(f"site {site_index} is {structure[site_index].specie}, "
                         f"not {absorber}")
    tags = {"FMS": f"{fms:.1f} 0", "XANES": xanes}
    if corehole is not None:
        tags["COREHOLE"] = corehole
    feff_set = MPXANESSet(site_index, structure, edge=edge, radius=radius,
                          user_tag_settings=tags)
    with tempfile.TemporaryDirectory(prefix="feffinp-") as tmp:
        feff_set.write_input(tmp)
        text = Path(tmp, "feff.inp").read_text()
    dropped = tuple(d.upper() for d in drop) + (("SCF",) if scf is not None else ())
    lines = [ln.rstrip() for ln in text.splitlines()
             if not (ln.split() and ln.split()[0].upper() in dropped)]
    if scf is not None:
        lines.insert(1, f"SCF {scf:.1f} 0 30 0.2 1")
    return "\n".join(lines) + "\n"


def input_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of an input text (line endings normalized)."""
    norm = "\n".join(ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n"))
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


@dataclass
class Job:
    """One absorbing site: ``key`` names it (``prototype/variant/label-index``)."""

    key: str
    edge: str
    inp: str
    poscar: str
    site_index: int
    labels: dict[str, Any] = field(default_factory=dict)
    feff: dict[str, Any] = field(default_factory=dict)
    absorber: str = DEFAULT_ABSORBER

    @property
    def hash(self) -> str:
        return input_hash(self.inp)

    @property
    def set(self) -> str:
        """The cache folder name (:func:`cache_set`)."""
        return cache_set(self.edge, self.absorber)


def make_job(structure: Any, site_index: int, key: str, labels: dict[str, Any] | None = None,
             edge: str = "K", radius: float = RADIUS, fms: float | None = None,
             xanes: str | None = None, scf: float | str | None = "default",
             corehole: str | None = "default", absorber: str = DEFAULT_ABSORBER) -> Job:
    """A :class:`Job` with its input text and POSCAR built from ``structure``.

    ``fms``/``xanes``/``scf``/``corehole`` default to ``FMS_RADIUS``/``XANES``/no SCF/
    pymatgen's core hole for the K edge and to ``L_FMS_RADIUS``/``L_XANES``/``L_SCF_RADIUS``/
    ``L_COREHOLE`` for the L edges, whatever the ``absorber`` (same card settings for every
    element, so that the per-element energy offset is fitted the same way for each).
    """
    from pymatgen.io.vasp import Poscar

    l_edge = edge.startswith("L")
    fms = fms if fms is not None else (L_FMS_RADIUS if l_edge else FMS_RADIUS)
    xanes = xanes if xanes is not None else (L_XANES if l_edge else XANES)
    if scf == "default":
        scf = L_SCF_RADIUS if l_edge else K_SCF_RADIUS
    if corehole == "default":
        corehole = L_COREHOLE if l_edge else None
    inp = feff_input(structure, site_index, edge=edge, radius=radius, fms=fms, xanes=xanes,
                     scf=scf, corehole=corehole, absorber=absorber)
    dropped = [c for c in DROPPED_CARDS if not (c == "SCF" and scf is not None)]
    params = {"set": "MPXANESSet", "edge": edge, "radius": radius, "fms": fms,
              "xanes": xanes, "scf": scf, "corehole": corehole or "FSR",
              "dropped_cards": dropped}
    # the absorber is recorded only off Cu, so a Cu job's parameters (and meta.json) are
    # exactly what they were before other absorbers existed
    if absorber != DEFAULT_ABSORBER:
        params["absorber"] = absorber
    return Job(key=key, edge=edge, inp=inp, poscar=Poscar(structure).get_str(),
               site_index=site_index, labels=dict(labels or {}), feff=params,
               absorber=absorber)


def settings(edge: str) -> dict[str, Any]:
    """The FEFF parameters (as recorded in ``meta.json``) that today's jobs of ``edge`` use
    (an edge or a cache set name: ``Fe_K`` has the K settings)."""
    edge = set_edge(edge)
    if edge.startswith("L"):
        return {"fms": L_FMS_RADIUS, "xanes": L_XANES, "scf": L_SCF_RADIUS,
                "corehole": L_COREHOLE}
    return {"fms": FMS_RADIUS, "xanes": XANES, "scf": K_SCF_RADIUS, "corehole": "FSR"}


def matches_settings(meta: dict[str, Any], edge: str) -> bool:
    """True when a cache entry ran with today's :func:`settings`; runs with other settings
    stay in the cache but are not mixed into a data set (entries from before the core-hole
    setting was recorded ran with FSR, pymatgen's default)."""
    recorded = meta.get("feff", {})
    return all(recorded.get(k, "FSR" if k == "corehole" else None) == v
               for k, v in settings(edge).items())

