"""Multiplet Cu(II)/Cu(III) L2,3 spectra as rows of the Cu L2,3 data set
(``ledge_data.Spectra`` on ``ledge_data.FINE``), next to FEFF10's Cu(0)/Cu(I) ones.

Each cached parameter set gives ``copies`` spectra with their own broadenings and temperature
(``grid.SPECTRUM_RANGES``), the white line placed by ``calibration`` (± its
``COMPOUND_SPREAD_EV``), on top of the continuum step that the 2p -> 3d calculation leaves out
(``spectrum.edge_step``, 1 + 0.5 like FEFF's L2,3 = L3 + 0.5 L3 shifted). The white lines'
area per 3d hole is set from FEFF10's own CuO (the area above the step of the calibration
reference, 1 hole), drawn 0.7-1.4 times that per spectrum: a simulation-to-simulation match,
no measured spectrum involved.

The split keeps a crystal-field family (configuration, symmetry, 10Dq, distortion, Δ, V) with
all its Slater scales and draws on one side, 20 % of families held out by a hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgestream_models.ledge_data import FINE, SPIN_ORBIT_EV, Spectra
from edgestream_models.multiplets import calibration
from edgestream_models.multiplets.generate import load
from edgestream_models.multiplets.grid import SPECTRUM_RANGES, Params
from edgestream_models.multiplets.solve import Sticks
from edgestream_models.multiplets.spectrum import (
    L2_SPLIT_EV,
    broaden,
    edge_step,
    flatten,
    main_l3,
)

TEST_FRACTION = 0.2
AREA_RANGE = (0.7, 1.4)  # white-line area per hole, times FEFF10 CuO's


def family(p: Params) -> str:
    """What the split keeps together: the crystal field and charge transfer, not the Slater
    scale (nearly the same spectrum)."""
    return f"{p.config}/{p.symmetry}/{p.ten_dq:g}/{p.d3:g}/{p.delta:g}/{p.hyb:g}"


def held_out(p: Params) -> bool:
    h = int(hashlib.sha1(family(p).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < TEST_FRACTION


def feff_area_per_hole(cuo_mu: np.ndarray) -> float:
    """Area (eV) of FEFF10 CuO's L3 white line above its step: ``cuo_mu`` on ``FINE``, step
    from the onset-free arctangent of ``edge_step`` at its steepest rise."""
    from edgestream_models.ledge_data import onset_of

    onset = onset_of(FINE, cuo_mu)
    base = edge_step(FINE, onset, SPIN_ORBIT_EV)
    window = (onset - 3 < FINE) & (onset + 8 > FINE)
    return float(np.clip(cuo_mu - base, 0, None)[window].sum() * (FINE[1] - FINE[0]))


# ``post_edge`` returns its factor on this grid of eV from the onset
POST_EDGE_REL = FINE - FINE[0] - 60.0


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a cosine between."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def post_edge(feff_mu: np.ndarray) -> np.ndarray:
    """The structure of a FEFF10 L2,3 spectrum (on ``FINE``) beyond its white lines, as a factor
    on its own step, on ``FINE - onset`` (eV from its onset): 1 up to 6 eV above the onset and
    from 14 to 29 eV (the L2 white line), the spectrum over its step elsewhere. Multiplied onto
    a multiplet spectrum's continuum, it gives that the near-edge and EXAFS-like structure a
    2p -> 3d calculation lacks."""
    from edgestream_models.ledge_data import onset_of

    onset = onset_of(FINE, feff_mu)
    rel = FINE - onset
    step = edge_step(FINE, onset, SPIN_ORBIT_EV)
    ratio = np.where(step > 0.3, feff_mu / np.maximum(step, 0.3), 1.0)
    window = _ramp(rel, 6.0, 9.0) * (1.0 - _ramp(rel, 14.0, 17.0) * (1.0 - _ramp(rel, 26.0, 29.0)))
    return np.interp(POST_EDGE_REL, rel, 1.0 + window * (ratio - 1.0))


def one_spectrum(sticks: Sticks, shift: float, rng: np.random.Generator, area: float,
                 grid: np.ndarray = FINE, continuum: np.ndarray | None = None,
                 spin_orbit: float = SPIN_ORBIT_EV, split: float = L2_SPLIT_EV,
                 area_range: tuple[float, float] = AREA_RANGE,
                 ) -> tuple[np.ndarray, dict[str, float]]:
    """A calibrated L2,3 spectrum of one entry with drawn broadenings, temperature and
    white-line area (per hole, ``area`` times a draw from ``area_range``); the draws.
    ``continuum``: a ``post_edge`` factor for the step (else the step is flat above its
    edges); ``spin_orbit``, ``split``: the element's (Cu's by default)."""
    lo, hi = SPECTRUM_RANGES["gamma_l3"]
    draw = {"gamma_l3": rng.uniform(lo, hi)}
    draw["gamma_l2"] = draw["gamma_l3"] + rng.uniform(*SPECTRUM_RANGES["gamma_l2_extra"])
    draw["sigma"] = rng.uniform(*SPECTRUM_RANGES["sigma"])
    draw["temperature"] = rng.uniform(*SPECTRUM_RANGES["temperature"])
    draw["area"] = area * rng.uniform(*area_range)
    e, w = flatten(sticks, draw["temperature"])
    y = broaden(e + shift, w, grid, draw["gamma_l3"], draw["gamma_l2"], draw["sigma"], split)
    # the continuum starts under the first strong line (the 2p -> 3d threshold)
    first = float(np.min(e[w > 1e-2 * w.max()]) + shift)
    step = edge_step(grid, first, spin_orbit)
    if continuum is not None:
        step = step * np.interp(grid - first, POST_EDGE_REL, continuum)
    return step + draw["area"] * y, draw


def multiplet_spectra(area: float, copies: int, rng: np.random.Generator,
                      cache: Path | None = None,
                      continua: dict[tuple[str, float], np.ndarray] | None = None,
                      ) -> tuple[Spectra, np.ndarray]:
    """Every cached entry of the grid, ``copies`` draws each, as ``Spectra`` (group
    ``multiplet``, family = crystal-field family) and the split (``held_out``).
    ``continua``: ``post_edge`` factors ``[k, len(FINE)]`` by (split, valence), one drawn per
    spectrum from its own split and valence (FEFF10 sites of that split: no leak)."""
    rows, part = [], []
    spread = calibration.COMPOUND_SPREAD_EV
    for p, s in load(cache=cache):
        shift = calibration.offset(s, p.valence)
        side = "test" if held_out(p) else "train"
        pool = None if continua is None else continua.get((side, p.valence))
        for j in range(copies):
            cont = None if pool is None or not len(pool) else pool[rng.integers(len(pool))]
            mu, _ = one_spectrum(s, shift + rng.uniform(-spread, spread), rng, area,
                                 continuum=cont)
            rows.append((f"multiplet/{p.key()}/{j}", "multiplet", p.config, family(p),
                         f"Cu{p.config}", p.valence, mu))
            part.append(side)
    cols = list(zip(*rows, strict=True))
    return Spectra(*(np.array(c) for c in cols[:6]), mu=np.stack(cols[6])), np.array(part)


def white_line(sticks: Sticks, shift: float, grid: np.ndarray = FINE) -> float:
    """Energy of the calibrated white line with the reference widths (for the report)."""
    e, w = flatten(sticks, calibration.REFERENCE_TEMPERATURE)
    return main_l3(grid, broaden(e + shift, w, grid, *calibration.REFERENCE_WIDTHS))
