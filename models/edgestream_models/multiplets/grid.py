"""The parameter sets of the Cu L2,3 multiplet calculations: what one exact diagonalization
needs (configuration, crystal-field symmetry and strength, Slater-integral reduction,
charge transfer), its cache key, and the grids that span them.

Broadenings (core-hole Lorentzians of L3 and L2, a final-state Gaussian) and temperature do
not change the eigenstates: they are applied to the cached transitions afterwards
(``spectrum.broaden``), and their ranges are in ``SPECTRUM_RANGES``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass

# Configurations: the formal valence and the number of 3d electrons of the ionic limit.
# "d9" Cu(II), "d8" Cu(III) (ionic), "d8_ct" Cu(III) as d8 + d9L + d10L2 (charge transfer)
# and "d9_ct" Cu(II) as d9 + d10L (charge transfer with one ligand bath shell).
CONFIGS = {"d9": (2.0, 9), "d8": (3.0, 8), "d9_ct": (2.0, 9), "d8_ct": (3.0, 8)}
# The battery metals' ionic configurations (``elements``): formal valence and 3d electrons
ELEMENT_CONFIGS = {
    "Mn": {"d5": (2.0, 5), "d4": (3.0, 4), "d3": (4.0, 3)},
    "Fe": {"d6": (2.0, 6), "d5": (3.0, 5)},
    "Co": {"d7": (2.0, 7), "d6": (3.0, 6)},
    "Ni": {"d8": (2.0, 8), "d7": (3.0, 7)},
}
SYMMETRIES = ("oh", "d4h", "square_planar", "td")
# part of every cache key: bump when the solver's physics changes, so old entries are redone
SOLVER_VERSION = 2


@dataclass(frozen=True)
class Params:
    """One exact diagonalization. Energies in eV.

    ``ten_dq``: cubic splitting (for ``td`` the tetrahedral 10Dq, e below t2); ``d3``: the
    e_g splitting x2-y2 above z2 of a Jahn-Teller elongated octahedron (``d4h``; the t2g
    splitting is ``d3 / 3``), or ``ds`` of ``edrixs.cf_square_planar_d`` (``square_planar``);
    ``slater_scale``: factor on the atomic (Hartree-Fock) F2dd, F4dd, F2pd, G1pd, G3pd;
    ``delta``/``hyb``: charge-transfer energy and the e_g hybridization (t2g: half of it) of
    the ``*_ct`` configurations (0 otherwise); ``u_dd``/``u_pd``: their Hubbard terms;
    ``element``: the absorber (Cu, or one of ``ELEMENT_CONFIGS``).
    """

    config: str
    symmetry: str
    ten_dq: float
    d3: float = 0.0
    slater_scale: float = 0.8
    delta: float = 0.0
    hyb: float = 0.0
    u_dd: float = 0.0
    u_pd: float = 0.0
    element: str = "Cu"

    @property
    def _config(self) -> tuple[float, int]:
        table = CONFIGS if self.element == "Cu" else ELEMENT_CONFIGS[self.element]
        return table[self.config]

    @property
    def valence(self) -> float:
        return self._config[0]

    @property
    def n_d(self) -> int:
        return self._config[1]

    @property
    def charge_transfer(self) -> bool:
        return self.config.endswith("_ct")

    def key(self) -> str:
        """Short hash of the parameters (rounded, so 0.1 + 0.2 and 0.3 are one set)."""
        fields = {k: round(v, 6) if isinstance(v, float) else v
                  for k, v in asdict(self).items()}
        if self.element == "Cu":  # the Cu sets were keyed before the element was a field
            del fields["element"]
        text = json.dumps(fields | {"solver": SOLVER_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


# Ranges applied after the diagonalization (uniform draws per spectrum, ``spectrum``):
# Lorentzian HWHM of L3 around the 0.3 eV of edrixs's atom data (Krause & Oliver's widths),
# L2 broader by Coster-Kronig decay (edrixs: 0.61 eV), a Gaussian for final-state effects
# and resolution, and temperature (Boltzmann weights of the low-lying initial states).
SPECTRUM_RANGES = {
    "gamma_l3": (0.2, 0.45),
    "gamma_l2_extra": (0.15, 0.45),
    "sigma": (0.1, 0.5),
    "temperature": (10.0, 600.0),
}

SLATER_SCALES = (0.6, 0.7, 0.8, 0.9)


def _ionic(config: str) -> list[Params]:
    """Crystal fields of one ionic configuration over ``SLATER_SCALES``.

    Cu(II): regular octahedra (Oh, 10Dq 0.8-2.0), Jahn-Teller elongated ones (D4h, e_g
    splitting 0.2-1.2 eV), square-planar CuO4 (ds 0.2-1.1), tetrahedra (10Dq(Td) 0.3-0.9,
    about 4/9 of the octahedral one). Cu(III): octahedral high-spin (K3CuF6-like),
    elongated and square-planar low-spin (NaCuO2-like); tetrahedral Cu(III) is not known in
    oxides and is left out.
    """
    fields: list[tuple[str, float, float]] = []
    fields += [("oh", t, 0.0) for t in (0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)]
    fields += [("d4h", t, d) for t in (1.0, 1.4, 1.8) for d in (0.2, 0.4, 0.6, 0.9, 1.2)]
    # square planar: x2-y2 above z2 by 10/35 10Dq + 4 ds; d8 turns low-spin (NaCuO2) from
    # about ds 0.8 at 10Dq 2.4 (80 % Slater integrals), so the grid spans both sides
    fields += [("square_planar", t, ds) for t in (1.6, 2.0, 2.4, 2.8)
               for ds in (0.2, 0.5, 0.8, 1.1)]
    if config.startswith("d9"):
        fields += [("td", t, 0.0) for t in (0.3, 0.45, 0.6, 0.75, 0.9)]
    return [Params(config, s, t, d, k) for (s, t, d), k in itertools.product(
        fields, SLATER_SCALES)]


def _charge_transfer(config: str) -> list[Params]:
    """Charge-transfer sets: square-planar and elongated fields, Δ and hybridization around
    the cuprate values (CuO: Δ ~3.5, Udd ~8, Upd ~9.5 eV, Veg ~2.5 eV, e.g. Eskes,
    Tjeng & Sawatzky PRB 41, 288 (1990)); Cu(III) with Δ near or below 0 (negative
    charge-transfer NaCuO2: Mizokawa et al. PRL 67, 1638 (1991)). Fewer Slater scales: the
    hybridization dominates."""
    deltas = (2.0, 3.5, 5.0) if config == "d9_ct" else (-2.0, -0.5, 1.0)
    fields = [("square_planar", 2.0, 0.5), ("square_planar", 2.4, 1.0), ("d4h", 1.4, 0.6)]
    return [Params(config, s, t, d, k, delta=dl, hyb=v, u_dd=8.0, u_pd=9.5)
            for (s, t, d), k, dl, v in itertools.product(fields, (0.7, 0.85), deltas,
                                                          (1.5, 2.5))]


def default_grid(charge_transfer: bool = True) -> list[Params]:
    """Every parameter set of the shipped data set (ionic d9, d8; with ``charge_transfer``
    the d9+d10L and d8+d9L+d10L2 sets too)."""
    sets = _ionic("d9") + _ionic("d8")
    if charge_transfer:
        sets += _charge_transfer("d9_ct") + _charge_transfer("d8_ct")
    return sets

