"""A simulated gradient sample: Cu metal → Cu2O → CuO along x, on a motorized sample stage.

The phase fractions change across each boundary as a logistic of width ``w`` (mm): the
fraction of the next phase is ``1 / (1 + exp(-(x - b) / w))``, so 10-90 % takes 4.4·w. The
spectrum at x mixes the measured end members (``data/cu_k_gradient.npz``, see
``make_fixture``) with those fractions; ``GradientStage`` feeds it to the ion chambers of
``edgestream_sim`` so a real RunEngine measures it. Positions are in mm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from ophyd.status import DeviceStatus

from edgestream_sim.devices import SampleSignal
from edgestream_sim.plans import Plan, step_energies_ev, xas_step_scan
from edgestream_sim.spectra import ReferenceSpectrum, XasConditions, XasSimulator

FIXTURE = "cu_k_gradient.npz"
# A XANES-weighted Cu K scan of 101 points (1 eV through the edge, to e0 + 300 eV): enough
# for the normalization, and fast enough to map a sample point by point.
GRADIENT_ENERGIES_EV = step_energies_ev(pre=(-150.0, -30.0, 15.0), xanes=(-30.0, 40.0, 1.0),
                                        k_step=0.25, e_max=300.0)


@dataclass(frozen=True)
class EndMembers:
    """Normalized (flattened) μ(E) of each pure phase on one calibrated energy axis (eV)."""

    energy: np.ndarray
    mu: np.ndarray  # [n_phases, n_points]
    phases: tuple[str, ...]
    valences: tuple[int, ...]

    @classmethod
    def load(cls, path: str | Path | None = None) -> EndMembers:
        src = path or Path(str(resources.files("edgestream_agent") / "data" / FIXTURE))
        with np.load(src) as d:
            return cls(
                energy=d["energy"].astype(np.float64),
                mu=d["mu"].astype(np.float64),
                phases=tuple(str(p) for p in d["phase"]),
                valences=tuple(int(v) for v in d["valence"]),
            )

    def mixture(self, fractions: np.ndarray) -> np.ndarray:
        """μ(E) of a physical mixture: the fraction-weighted sum of the end members."""
        return np.asarray(fractions, dtype=np.float64) @ self.mu


@dataclass(frozen=True)
class GradientSample:
    """Boundary centres and widths (mm) of a sample whose phases follow each other along x."""

    boundaries: tuple[float, ...]
    widths: tuple[float, ...]
    length: float = 60.0
    valences: tuple[int, ...] = (0, 1, 2)
    phases: tuple[str, ...] = ("Cu", "Cu2O", "CuO")

    def __post_init__(self) -> None:
        n = len(self.phases) - 1
        if len(self.boundaries) != n or len(self.widths) != n:
            raise ValueError("need one boundary and one width between each pair of phases")

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        length: float = 60.0,
        min_phase: float = 8.0,
        width: tuple[float, float] = (0.1, 1.5),
    ) -> GradientSample:
        """Boundaries uniform with every phase at least ``min_phase`` mm wide; widths
        log-uniform in ``width`` (mm)."""
        while True:
            b = np.sort(rng.uniform(min_phase, length - min_phase, 2))
            if np.all(np.diff(b) >= min_phase):
                break
        w = np.exp(rng.uniform(np.log(width[0]), np.log(width[1]), 2))
        return cls(tuple(float(v) for v in b), tuple(float(v) for v in w), length)

    def fractions(self, x: np.ndarray | float) -> np.ndarray:
        """Phase fractions ``[n, n_phases]`` at positions ``x`` (mm); rows sum to 1."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        steps = [_logistic((x - b) / w)
                 for b, w in zip(self.boundaries, self.widths, strict=True)]
        cols = [1.0 - steps[0]]
        cols += [np.clip(steps[i] - steps[i + 1], 0.0, None) for i in range(len(steps) - 1)]
        cols.append(steps[-1])
        f = np.stack(cols, axis=1)
        return f / f.sum(axis=1, keepdims=True)

    def valence(self, x: np.ndarray | float) -> np.ndarray:
        """Mean formal valence at ``x``."""
        return self.fractions(x) @ np.asarray(self.valences, dtype=np.float64)

    def truth(self) -> dict[str, Any]:
        return {"boundaries_mm": list(self.boundaries), "widths_mm": list(self.widths),
                "length_mm": self.length, "phases": list(self.phases)}


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class GradientStage(SampleSignal):
    """The sample stage's x (mm) over a gradient sample; ``bps.mv(stage, x)`` moves it.

    Each move draws the conditions of the spot: the local thickness (edge step within
    ``±thickness_jitter``) and a small energy jitter (eV); flux and matrix stay those of the
    session. The ion chambers call ``measure`` as they would on ``XasSampleStage``.
    """

    not_loaded = "move the gradient stage before measuring"

    def __init__(
        self,
        *,
        name: str = "sample_x",
        sample: GradientSample,
        rng: np.random.Generator,
        members: EndMembers | None = None,
        thickness_jitter: float = 0.1,
        energy_jitter_ev: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, value=0.0, kind="omitted", **kwargs)
        self.sample = sample
        self.rng = rng
        self.members = members or EndMembers.load()
        self.session = replace(XasConditions.draw(rng), energy_offset_ev=0.0)
        self.thickness_jitter = thickness_jitter
        self.energy_jitter_ev = energy_jitter_ev
        self._fractions = np.zeros(len(self.members.phases))

    def set(self, value: float, **kwargs: Any) -> DeviceStatus:
        x = float(np.clip(value, 0.0, self.sample.length))
        self.load_fractions(self.sample.fractions(x)[0])
        self.put(x)
        st = DeviceStatus(device=self)
        st.set_finished()
        return st

    def load_fractions(self, fractions: np.ndarray) -> None:
        """Put a spot of these phase fractions under the beam (new local conditions)."""
        self._fractions = np.asarray(fractions, dtype=np.float64)
        ref = ReferenceSpectrum(
            material_id="gradient", site_index=0, formula="Cu|Cu2O|CuO", name="gradient",
            valence=round(float(self._fractions @ self.members.valences)),
            cu_o_coordination=0, omnixas_split="none",
            energy_feff=self.members.energy, mu=self.members.mixture(self._fractions),
        )
        jitter = 1 + self.rng.uniform(-1, 1) * self.thickness_jitter
        cond = replace(self.session, edge_step=self.session.edge_step * jitter,
                       energy_offset_ev=float(self.rng.normal(0.0, self.energy_jitter_ev)))
        self.simulator = XasSimulator(ref, cond, self.rng, shift_ev=0.0)

    def truth(self) -> dict[str, Any]:
        """What is really under the beam (never used by the analysis)."""
        return {
            "compound": "Cu|Cu2O|CuO gradient",
            "x_mm": float(self.get()),
            "fractions": dict(zip(self.members.phases, map(float, self._fractions),
                                  strict=True)),
            "valence": float(self._fractions @ np.asarray(self.members.valences, float)),
            **self.sample.truth(),
        }


def gradient_xas_scan(
    ic: Any,
    motor: Any,
    stage: GradientStage,
    x: float,
    *,
    sample_name: str = "Cu gradient",
    beamline_id: str = "sim",
    energies_ev: np.ndarray | None = None,
    md: dict[str, Any] | None = None,
    position_in_start: bool = True,
) -> Plan:
    """Move to ``x`` (mm) and run a Cu K-edge step scan (``GRADIENT_ENERGIES_EV`` unless
    given); the start document carries ``sample_position`` (``{"x": mm}``, unless
    ``position_in_start`` is False: beamlines such as BMM record the stage only in the
    baseline stream) and any agent metadata given in ``md``."""
    energies = GRADIENT_ENERGIES_EV if energies_ev is None else energies_ev
    where = {"sample_position": {"x": round(float(x), 4)}} if position_in_start else {}
    return (yield from xas_step_scan(
        ic, motor, stage, float(x), energies_ev=energies, sample_name=sample_name,
        beamline_id=beamline_id,
        md={**where, "position_units": "mm",
            "composition": "Cu, O", **(md or {})},  # Cu, Cu2O and CuO along the bar
    ))
