"""One Cu 2p -> 3d exact diagonalization with edrixs (GPL-3.0-or-later: training only, never
imported by the service or the plugins) -> the dipole transitions ("sticks") from each
low-lying initial state, on a relative energy scale.

Ionic configurations go through edrixs's pure-Python solver ``ed_1v1c_py`` (3d shell and the
full 2p shell with its spin-orbit coupling, so L3 and L2 both come from the calculation).
Charge-transfer configurations (d^n + d^n+1 L + ...) use edrixs's single-impurity Anderson
model (``edrixs.models.model_siam``, one ligand shell of 10 spin-orbitals) built into dense
matrices (``get_ops(backend="dense")``) and diagonalized with numpy: no Fortran or MPI. Both
Hilbert spaces stay small (d8 + bath: 190 initial and 120 intermediate states).

Sticks are what ``edrixs.xas_1v1c_py`` sums over (isotropic polarization), kept apart so the
broadenings and the temperature can be drawn later without diagonalizing again.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from dataclasses import dataclass

import numpy as np

from edgestream_models.multiplets.grid import Params

# initial states further than this above the ground state carry < 1e-4 Boltzmann weight at
# the highest temperature drawn (600 K: kT = 52 meV)
THERMAL_WINDOW_EV = 0.5


@dataclass
class Sticks:
    """Transitions of one calculation: ``energy[g, n]`` (eV, relative: intermediate minus
    initial state ``g``) and ``weight[g, n]`` (|<n|T|g>|^2 averaged over x, y, z) from each
    initial state ``g`` within ``THERMAL_WINDOW_EV`` (its energy above the ground state in
    ``initial``); ``seconds`` the diagonalization took."""

    initial: np.ndarray
    energy: np.ndarray
    weight: np.ndarray
    seconds: float


def _quiet():
    """edrixs prints progress and warns that the 1v1c solver is its legacy workflow."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def atomic_slater(p: Params) -> tuple[list[float], list[float], float, float, float]:
    """Initial and intermediate Slater integrals (edrixs order: F0dd F2dd F4dd, then F0pd F2pd
    G1pd G3pd F0pp F2pp) of the absorber's 3d^n (Hartree-Fock, from edrixs's atom data) scaled by
    ``p.slater_scale``; the 3d spin-orbit couplings (initial, intermediate) and the 2p one.

    F0dd and F0pd carry the Hubbard terms (``u_dd``, ``u_pd``; charge transfer only) on top of
    the monopole parts of the multiplet terms, as in edrixs's Anderson-model example."""
    import edrixs

    info = edrixs.utils.get_atom_data(p.element, "3d", p.n_d, edge="L23")
    si = dict(info["slater_i"])
    sn = dict(info["slater_n"])
    k = p.slater_scale
    f2d, f4d = k * si["F2_11"], k * si["F4_11"]
    f2dn, f4dn = k * sn["F2_11"], k * sn["F4_11"]
    f2pd, g1, g3 = k * sn["F2_12"], k * sn["G1_12"], k * sn["G3_12"]
    # F0 holds the monopole part of the multiplet terms (edrixs.get_F0), so the centroid of
    # the transitions does not move with the Slater reduction (without it, 0.6 vs 0.9 of the
    # atomic values moved the white line by 10 eV); the Hubbard terms come on top (u_dd and
    # u_pd are 0 for the ionic sets, where they would only shift every line alike)
    f0d = p.u_dd + edrixs.get_F0("d", f2d, f4d)
    f0dn = p.u_dd + edrixs.get_F0("d", f2dn, f4dn)
    f0pd = p.u_pd + edrixs.get_F0("dp", g1, g3)
    slater_i = [f0d, f2d, f4d]
    slater_n = [f0dn, f2dn, f4dn, f0pd, f2pd, g1, g3, 0.0, 0.0]
    return (slater_i, slater_n, float(info["v_soc_i"][0]), float(info["v_soc_n"][0]),
            float(info["c_soc"]))


def crystal_field(p: Params) -> np.ndarray:
    """The 3d crystal-field matrix (10 x 10, edrixs's complex-harmonics basis)."""
    import edrixs

    if p.symmetry == "oh":
        return edrixs.cf_cubic_d(p.ten_dq)
    if p.symmetry == "td":
        # a tetrahedron inverts the cubic splitting: e below t2
        return edrixs.cf_cubic_d(-p.ten_dq)
    if p.symmetry == "d4h":
        # elongation: x2-y2 above z2 by d3, xy above xz/yz by d3 / 3
        return edrixs.cf_tetragonal_d(p.ten_dq, p.d3 / 3.0, p.d3)
    if p.symmetry == "square_planar":
        return edrixs.cf_square_planar_d(p.ten_dq, p.d3)
    raise ValueError(f"unknown symmetry {p.symmetry!r}")


def _sticks(eval_i: np.ndarray, eval_n: np.ndarray, trans: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Sticks from eigenvalues and transition operators in the eigenbasis
    (``trans[k, n, g]``): initial states within the window, their energies and weights."""
    order = np.argsort(eval_i)
    e0 = eval_i[order[0]]
    low = order[eval_i[order] - e0 <= THERMAL_WINDOW_EV]
    weight = np.sum(np.abs(trans[:, :, low]) ** 2, axis=0).T / trans.shape[0]
    energy = eval_n[None, :] - eval_i[low][:, None]
    return eval_i[low] - e0, energy, weight


def solve_ionic(p: Params) -> Sticks:
    """d^n with the 2p core: ``edrixs.ed_1v1c_py``."""
    import edrixs

    t0 = time.perf_counter()
    slater_i, slater_n, zeta_i, zeta_n, zeta_p = atomic_slater(p)
    with _quiet():
        eval_i, eval_n, trans = edrixs.ed_1v1c_py(
            ("d", "p"), shell_level=(0.0, 0.0), v_soc=(zeta_i, zeta_n), c_soc=zeta_p,
            v_noccu=p.n_d, slater=(slater_i, slater_n), v_cfmat=crystal_field(p))
    initial, energy, weight = _sticks(np.asarray(eval_i), np.asarray(eval_n),
                                      np.asarray(trans))
    return Sticks(initial, energy, weight, time.perf_counter() - t0)


# real d orbitals in edrixs's order (z2, zx, zy, x2-y2, xy), spin interleaved
_EG = np.array([0, 1, 6, 7])
_T2G = np.array([2, 3, 4, 5, 8, 9])


def solve_charge_transfer(p: Params) -> Sticks:
    """d^n + d^n+1 L + ... : edrixs's Anderson impurity model with one ligand shell, the
    energies of d, ligand and core levels from ``edrixs.CT_imp_bath(_core_hole)`` (Δ, Udd,
    Upd), e_g hybridization ``p.hyb`` and t2g half of it, dense numpy diagonalization."""
    import edrixs
    from edrixs.models import model_siam
    from edrixs.solvers import get_ops

    t0 = time.perf_counter()
    slater_i, slater_n, zeta_i, zeta_n, zeta_p = atomic_slater(p)
    e_d, e_l = edrixs.CT_imp_bath(p.u_dd, p.delta, p.n_d)
    e_dc, e_lc, e_p = edrixs.CT_imp_bath_core_hole(p.u_dd, p.u_pd, p.delta, p.n_d)
    c2r = edrixs.tmat_c2r("d", True)
    cf = edrixs.cb_op(crystal_field(p), c2r)

    def impurity(e: float, zeta: float) -> np.ndarray:
        return cf + edrixs.cb_op(edrixs.atom_hsoc("d", zeta), c2r) + e * np.eye(10)

    hyb = np.zeros((1, 10), dtype=complex)
    hyb[0, _EG] = p.hyb
    hyb[0, _T2G] = p.hyb / 2.0
    with _quiet():
        model = model_siam(
            ("d", "p"), 1, siam_type=0, v_noccu=p.n_d + 10, c_level=e_p, c_soc=zeta_p,
            trans_c2n=c2r, imp_mat=impurity(e_d, zeta_i),
            imp_mat_n=impurity(e_dc, zeta_n), bath_level=np.full((1, 10), e_l, complex),
            bath_level_n=np.full((1, 10), e_lc, complex), hyb=hyb,
            slater=(slater_i, slater_n))
        h_i, h_n, ops = get_ops(*model[:7], backend="dense")
    h_i, h_n = np.asarray(h_i), np.asarray(h_n)
    eval_i, vec_i = np.linalg.eigh(h_i)
    eval_n, vec_n = np.linalg.eigh(h_n)
    trans = np.stack([vec_n.conj().T @ np.asarray(op) @ vec_i for op in ops])
    initial, energy, weight = _sticks(eval_i, eval_n, trans)
    return Sticks(initial, energy, weight, time.perf_counter() - t0)


def solve(p: Params) -> Sticks:
    """The sticks of one parameter set (ionic or charge-transfer solver)."""
    return solve_charge_transfer(p) if p.charge_transfer else solve_ionic(p)
