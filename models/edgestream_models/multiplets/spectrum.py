"""Sticks -> L2,3 spectra (pure numpy): Boltzmann weights of the initial states, core-hole
Lorentzians (L2 broader than L3), a final-state Gaussian, on any energy grid; and the
continuum step that a measured L2,3 edge has under its white lines.
"""

from __future__ import annotations

import numpy as np

from edgestream_models.multiplets.solve import Sticks

K_B_EV = 8.617333e-5
# L3 and L2 sticks lie 1.5 zeta(2p) ~ 20 eV apart; everything further than this above the
# first strong L3 line is L2 (the d8 multiplets and the charge-transfer satellites of L3
# stay within ~8 eV of it)
L2_SPLIT_EV = 10.0


def thermal_weights(initial: np.ndarray, temperature: float) -> np.ndarray:
    """Boltzmann populations of initial states at ``initial`` eV above the ground state
    (degenerate states equally; as ``edrixs.utils.boltz_dist``)."""
    kt = K_B_EV * max(float(temperature), 1e-3)
    w = np.exp(-(initial - initial.min()) / kt)
    return w / w.sum()


def flatten(sticks: Sticks, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Energies and thermally weighted intensities of all sticks, times 3 so that their sum is
    the number of 3d holes the dipole reaches (1 for d9, 2 for d8, less with ligand holes)."""
    p = thermal_weights(sticks.initial, temperature)
    return sticks.energy.ravel(), 3.0 * (p[:, None] * sticks.weight).ravel()


def l2_mask(energy: np.ndarray, weight: np.ndarray, split: float = L2_SPLIT_EV) -> np.ndarray:
    """Which sticks belong to the 2p1/2 (L2) manifold: those more than ``split`` eV above the
    first strong one (``elements.L2_SPLIT_EV`` for the other elements)."""
    strong = weight > 1e-3 * weight.max()
    return energy > energy[strong].min() + split


def broaden(energy: np.ndarray, weight: np.ndarray, grid: np.ndarray, gamma_l3: float,
            gamma_l2: float, sigma: float, split: float = L2_SPLIT_EV) -> np.ndarray:
    """Sticks on ``grid``: a Lorentzian of HWHM ``gamma_l3`` (L3) or ``gamma_l2`` (L2) each,
    area-preserving, then a Gaussian of std ``sigma`` (all eV)."""
    keep = weight > 1e-9 * max(weight.max(), 1e-300)
    e, w = energy[keep], weight[keep]
    gamma = np.where(l2_mask(e, w, split), gamma_l2, gamma_l3)
    y = (w[None, :] * gamma[None, :] / np.pi
         / ((grid[:, None] - e[None, :]) ** 2 + gamma[None, :] ** 2)).sum(axis=1)
    if sigma > 0:
        step = float(grid[1] - grid[0])
        half = int(np.ceil(5 * sigma / step))
        x = step * np.arange(-half, half + 1)
        kernel = np.exp(-0.5 * (x / sigma) ** 2)
        y = np.convolve(np.pad(y, half, mode="edge"), kernel / kernel.sum(), mode="valid")
    return y


def main_l3(grid: np.ndarray, y: np.ndarray, split: float = L2_SPLIT_EV) -> float:
    """Energy of the strongest maximum below the L3/L2 gap (the white line)."""
    return float(grid[np.argmax(np.where(grid < grid[np.argmax(y)] + split, y, 0))])


def edge_step(grid: np.ndarray, l3_ev: float, spin_orbit_ev: float, width_ev: float = 1.0,
              l2_weight: float = 0.5) -> np.ndarray:
    """The continuum under the white lines (transitions to 4s and beyond, which a 2p-3d
    multiplet calculation leaves out): arctangent steps at the L3 and L2 thresholds, heights
    1 and ``l2_weight`` (statistical), so the step far above is ``1 + l2_weight``."""
    def step(e0: float) -> np.ndarray:
        return 0.5 + np.arctan((grid - e0) / width_ev) / np.pi
    return step(l3_ev) + l2_weight * step(l3_ev + spin_orbit_ev)
