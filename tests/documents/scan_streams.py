"""Build Bluesky document streams of XAS scans with any naming, from the simulated beamline's
physics (FEFF9 Cu K spectra, ion-chamber counts with Poisson noise and beam drift) or a
tabulated edge shape for other elements. Used by the property tests and the fixture builder.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream.physics import edge_energy
from edgestream_sim.spectra import XasConditions, XasSimulator, load_fixture


@dataclass
class ScanSpec:
    """One scan: what is measured and how the facility names and describes it."""

    element: str = "Cu"
    edge: str = "K"
    axis: str = "energy"
    units: str | None = "eV"  # "eV", "keV", None (values in eV, or keV when keV_values)
    kev_values: bool = False  # no units given but the axis counts in keV
    descending: bool = False
    repeats: int = 0  # points measured twice
    i0: str = "I0"
    it: str | None = "It"
    iff: str | None = None
    ir: str | None = None
    extras: dict[str, str] = field(default_factory=dict)  # name -> kind (ring, scatter, temp)
    dead: dict[str, str] = field(default_factory=dict)  # name -> zeros | constant
    hint_axis: bool = True  # the start document's hints.dimensions name the axis
    fly: bool = False  # one event holding whole arrays
    seed: int = 0
    edge_shift_ev: float = 0.0  # the sample's edge relative to the tabulated one


def edge_mu(energy: np.ndarray, e0: float) -> np.ndarray:
    """Normalized μ of a tabulated edge: arctan step, white line, a damped EXAFS wiggle."""
    x = energy - e0
    step = 0.5 + np.arctan(x / 1.5) / np.pi
    white = 0.4 * np.exp(-0.5 * ((x - 6.0) / 3.0) ** 2)
    k = np.sqrt(np.clip(x, 0, None) * 0.2625)
    exafs = 0.08 * np.sin(2 * 2.5 * k) * np.exp(-0.02 * k**2) * (x > 0)
    return step + white + exafs


def scan_energies(e0: float, rng: np.random.Generator) -> np.ndarray:
    """A XANES/EXAFS step-scan grid around e0 with random extents and steps (eV)."""
    pre = np.arange(e0 - rng.uniform(60, 200), e0 - 20, rng.uniform(3, 10))
    xanes = np.arange(e0 - 20, e0 + 30, rng.uniform(0.3, 1.0))
    post = np.arange(e0 + 30, e0 + rng.uniform(120, 400), rng.uniform(2, 8))
    return np.concatenate([pre, xanes, post])


def counts(spec: ScanSpec, energy: np.ndarray, rng: np.random.Generator
           ) -> dict[str, np.ndarray]:
    """Channel values at each energy: I0, It, If, Ir and extra/dead counters."""
    tab = edge_energy(spec.element, spec.edge)
    t = np.arange(energy.size, dtype=float)
    cond = XasConditions.draw(rng)
    if (spec.element, spec.edge) == ("Cu", "K"):
        ref = load_fixture()[int(rng.integers(0, 6))]
        meas = XasSimulator(ref, cond, rng).measure(energy - spec.edge_shift_ev, t)
        i0, it, iff, ir = meas["I0"], meas["It"], meas["If"], meas["Ir"]
    else:
        drift = 1.0 + cond.drift_amplitude * np.sin(2 * np.pi * t / 300 + cond.drift_phase)
        flux = cond.flux * drift * (energy / tab) ** -2
        mu = cond.edge_step * edge_mu(energy, tab + spec.edge_shift_ev) + \
            cond.matrix_absorbance * (energy / tab) ** -3
        foil = 1.0 * (0.5 + np.arctan((energy - tab) / 1.0) / np.pi)
        lam_it = 0.8 * flux * np.exp(-mu)
        i0 = rng.poisson(flux).astype(float)
        it = rng.poisson(lam_it).astype(float)
        iff = rng.poisson(flux * (0.02 * cond.edge_step * edge_mu(energy, tab) + 0.002))
        ir = rng.poisson(0.8 * lam_it * np.exp(-foil)).astype(float)
    # the beam itself jitters (orbit, mono vibration): every chamber sees it, which is what
    # dividing by I0 takes out
    jitter = 1.0 + rng.normal(0.0, rng.uniform(0.002, 0.01), energy.size)
    i0, it, iff, ir = (np.asarray(c, dtype=float) * jitter for c in (i0, it, iff, ir))
    out = {spec.i0: i0}
    for name, values in ((spec.it, it), (spec.iff, iff), (spec.ir, ir)):
        if name:
            out[name] = np.asarray(values, dtype=float)
    for name, kind in spec.extras.items():
        if kind == "ring":  # storage ring current in top-up: a slow sawtooth, mA
            out[name] = 400.0 - 0.8 * ((t * 0.37) % 1.0) + rng.normal(0, 0.01, t.size)
        elif kind == "scatter":  # a weak scatter counter: a few hundred counts
            out[name] = rng.poisson(300.0, t.size).astype(float) + 1.0
        else:  # a sample temperature drifting, K
            out[name] = 295.0 + 0.02 * t + rng.normal(0, 0.05, t.size)
    for name, kind in spec.dead.items():
        out[name] = np.zeros(t.size) if kind == "zeros" else np.full(t.size, 1234.0)
    return out


def run_documents(spec: ScanSpec, beamline: str = "xx") -> list[tuple[str, dict[str, Any]]]:
    """start, descriptor, events (or one array event), stop for one scan."""
    rng = np.random.default_rng(spec.seed)
    tab = edge_energy(spec.element, spec.edge)
    energy = scan_energies(tab, rng)
    if spec.repeats and not spec.fly:
        energy = np.concatenate([energy, rng.choice(energy, spec.repeats)])
        energy = np.sort(energy)
    if spec.descending:
        energy = energy[::-1].copy()
    values = counts(spec, energy, rng)
    in_kev = (spec.units or "").strip().lower() == "kev" or spec.kev_values
    axis_values = energy / 1000.0 if in_kev else energy
    uid, desc_uid = str(uuid.UUID(int=int(rng.integers(0, 2**63)))), f"d-{spec.seed}"
    start = {"uid": uid, "time": 0.0, "beamline_id": beamline, "scan_id": spec.seed,
             # as BMM's plans do; the e0 the annotation finds is checked against it
             "element": spec.element, "edge": spec.edge,
             "plan_name": "fly_scan" if spec.fly else "list_scan",
             "hints": {"dimensions": [[[spec.axis] if spec.hint_axis else ["time"],
                                       "primary"]]}}
    shape = [int(energy.size)] if spec.fly else []

    def key(units: str | None = None) -> dict[str, Any]:
        spec_ = {"source": "PV:x", "dtype": "array" if spec.fly else "number", "shape": shape}
        return spec_ | ({"units": units} if units else {})

    extra_units = {"ring": "mA", "temperature": "K", "scatter": "counts"}
    data_keys = {spec.axis: key(spec.units)} | {name: key() for name in values} | {
        name: key(extra_units[kind]) for name, kind in spec.extras.items()}
    descriptor = {"uid": desc_uid, "run_start": uid, "name": "primary", "time": 0.0,
                  "data_keys": data_keys, "configuration": {}, "hints": {},
                  "object_keys": {name: [name] for name in data_keys}}
    docs: list[tuple[str, dict[str, Any]]] = [("start", start), ("descriptor", descriptor)]
    columns = {spec.axis: axis_values} | values
    if spec.fly:
        data = {k: v.tolist() for k, v in columns.items()}
        docs.append(("event", _event(desc_uid, 1, data)))
        n = 1
    else:
        for i in range(energy.size):
            docs.append(("event", _event(desc_uid, i + 1,
                                         {k: float(v[i]) for k, v in columns.items()})))
        n = int(energy.size)
    docs.append(("stop", {"uid": f"s-{spec.seed}", "run_start": uid, "time": 1.0,
                          "exit_status": "success", "num_events": {"primary": n}}))
    return docs


def _event(desc: str, seq: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"uid": f"{desc}-{seq}", "descriptor": desc, "seq_num": seq, "time": float(seq),
            "data": data, "timestamps": dict.fromkeys(data, float(seq)), "filled": {}}


def names_in(docs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in docs]
