"""Per-element FEFF10 K-edge energy offset from physics: the shift that puts the simulated
metal's edge on the element's tabulated K edge.

Same method for every element (Cu included, for comparison with its measured-standard fit
in :mod:`edgestream_models.calibration`): the metal's FEFF10 spectra (one per inequivalent
site; α-Mn has four) are interpolated onto one ``STEP`` grid over their common range and
averaged with the sites' multiplicities as weights; the edge is :func:`find_e0` of that mean
(the maximum of the derivative, Larch's rule, what the service uses on measured spectra); the
offset is ``edge_energy(element, "K") - e0`` (``E_calibrated = E_feff + offset``). The
tabulated K edge is by convention the metal foil's first inflection point, so no measured
spectrum enters. ``python -m edgestream_models.calib3d`` reads the finished metal runs from
the FEFF10 cache and writes ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/
calibration_3d.json``.

Measured 2026-12-07 on the finished metal runs (SCF, Cu K card settings), offsets in eV:
Ti -7.21, V -9.41, Cr -11.21, Mn -10.52 (four sites), Fe -9.41, Co -11.02, Ni -9.52,
Cu -9.60, Zn -7.81. For Cu the shape fit on measured standards of
:mod:`edgestream_models.calibration` gives -5.92 ± 1.19 eV: the maximum derivative of the
sharp FEFF metal spectrum sits ~3.7 eV above where the shape alignment puts it. α-Mn's four
sites alone have e0 6549.8 (24g), 6558.7 (8c), 6559.1 (2a) and 6561.9 eV (24g): one site is
not the metal (a 10 eV spread), hence the multiplicity-weighted mean.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.physics import find_e0
from edgestream.physics.edges import edge_energy

STEP = 0.05  # eV, of the common grid the site spectra are averaged on
ELEMENTS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")


def mean_spectrum(energies: Sequence[np.ndarray], mus: Sequence[np.ndarray],
                  weights: Sequence[float] | None = None, step: float = STEP
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, mu)``: the ``weights``-weighted mean (default equal) of spectra on a common
    ``step`` grid over the range all of them cover."""
    if not energies or len(energies) != len(mus):
        raise ValueError("need one mu per energy array, at least one")
    lo = max(float(np.min(e)) for e in energies)
    hi = min(float(np.max(e)) for e in energies)
    if hi - lo < 10 * step:
        raise ValueError(f"spectra share only {hi - lo:.2f} eV")
    grid = np.arange(lo, hi + 1e-9, step)
    w = np.ones(len(mus)) if weights is None else np.asarray(weights, dtype=float)
    stack = np.stack([np.interp(grid, np.asarray(e, float), np.asarray(m, float))
                      for e, m in zip(energies, mus, strict=True)])
    return grid, (w[:, None] * stack).sum(axis=0) / w.sum()


def metal_offset(element: str, energies: Sequence[np.ndarray], mus: Sequence[np.ndarray],
                 weights: Sequence[float] | None = None) -> dict[str, float]:
    """``offset`` (eV, to add to FEFF energies), the simulated ``e0`` and the tabulated
    ``edge`` of ``element``'s metal from its site spectra (module docstring)."""
    grid, mu = mean_spectrum(energies, mus, weights)
    e0 = float(find_e0(grid, mu)[0])
    edge = float(edge_energy(element, "K"))
    return {"offset": round(edge - e0, 3), "e0_feff": round(e0, 3), "edge": edge}


def metal_runs(element: str, root: Any = None) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """``(energy, mu, multiplicity)`` of the finished FEFF10 K runs of ``element``'s metal
    (its calibration jobs; Cu: the fcc base site) made with today's settings."""
    from edgestream_models import feff10

    name = feff10.cache_set("K", element if element != "Cu" else feff10.DEFAULT_ABSORBER)
    want = "Cu foil" if element == "Cu" else f"{element} foil"
    return [(e, mu, int(meta["labels"].get("multiplicity", 1)))
            for meta, e, _, mu in feff10.iter_entries(name, root, current_only=True)
            if meta["labels"].get("calibration") == want]


def offsets(elements: Iterable[str] = ELEMENTS, root: Any = None) -> dict[str, dict[str, Any]]:
    """:func:`metal_offset` of every element whose metal runs are all finished (α-Mn: four
    sites); an element with runs missing is reported with its count and no offset."""
    from edgestream_models.elements3d import METALS, inequivalent_sites

    out: dict[str, dict[str, Any]] = {}
    for el in elements:
        runs = metal_runs(el, root)
        expected = 1 if el == "Cu" else len(inequivalent_sites(METALS[el].structure(), el))
        if len(runs) < expected:
            out[el] = {"sites": len(runs), "expected": expected}
            continue
        e, mu, mult = zip(*runs, strict=True)
        out[el] = metal_offset(el, e, mu, mult) | {"sites": len(runs)}
    return out


def calibration_3d_path() -> Path:
    from edgestream_models.cache import cache_dir

    return cache_dir("datasets") / "calibration_3d.json"


def main(argv: list[str] | None = None) -> int:
    """CLI: the offsets of the finished metal runs, printed and written as JSON."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.calib3d")
    parser.add_argument("--cache", default=None, help="FEFF10 cache root")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = offsets(root=args.cache)
    out = args.out or calibration_3d_path()
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
