"""Documents made by a real RunEngine with ophyd.sim devices."""

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count, list_scan
from ophyd import Component, Device, Signal
from ophyd.sim import SynAxis, SynSignal

E0 = 8980.0


def mu_model(energy_ev):
    """An arctan edge on a sloping background: enough for assembly tests."""
    return 0.2 - 1e-5 * (energy_ev - E0) + 1.0 * (0.5 + np.arctan((energy_ev - E0) / 2) / np.pi)


@pytest.fixture(name="mu_model")
def mu_model_fixture():
    return mu_model


@pytest.fixture
def run_engine():
    return RunEngine({}, context_managers=[])


def record(RE, plan):
    docs = []
    RE(plan, lambda name, doc: docs.append((name, doc)))
    return docs


class Mono(SynAxis):
    """SynAxis whose describe() states its units, as an EPICS motor's does."""

    units = "eV"

    def describe(self):
        out = super().describe()
        for value in out.values():
            value["units"] = self.units
        return out


def step_devices(units="eV"):
    energy = Mono(name="dcm_energy")
    energy.units = units
    scale = 1000.0 if units == "keV" else 1.0

    def it():
        return 1e5 * np.exp(-mu_model(energy.readback.get() * scale))

    return energy, SynSignal(func=lambda: 1e5, name="I0"), SynSignal(func=it, name="It")


@pytest.fixture
def step_scan_docs(run_engine):
    def make(points, units="eV", md=None):
        energy, i0, it = step_devices(units)
        return record(run_engine, list_scan([i0, it], energy, list(points), md=md or {}))

    return make


class FlyDetector(Device):
    """One trigger -> whole energy/I0/It arrays, as a QEXAFS detector delivers them."""

    energy = Component(Signal, value=np.zeros(3), kind="hinted")
    i0 = Component(Signal, value=np.zeros(3), kind="hinted")
    it = Component(Signal, value=np.zeros(3), kind="hinted")

    def trigger(self):
        e = np.linspace(8880, 9180, 600)
        self.energy.put(e)
        self.i0.put(np.full(e.size, 2e5))
        self.it.put(2e5 * np.exp(-mu_model(e)))
        return super().trigger()

    def describe(self):
        out = super().describe()
        for key in out:
            out[key].update(shape=[600], dtype="array", units="eV")
        return out


@pytest.fixture
def fly_scan_docs(run_engine):
    det = FlyDetector(name="qexafs")
    return record(run_engine, count([det], num=3, md={"element": "Cu", "edge": "K"}))
