"""Energy calibration on a reference foil: real foils from three facilities, broken foils."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgestream.doors.files.readers import read_spectrum_file
from edgestream.errors import BadReference
from edgestream.physics.calibration import reference_calibration

MEASURED = Path(__file__).resolve().parents[1] / "data" / "measured-cu-k"
FOILS = [e for e in json.loads((MEASURED / "manifest.json").read_text())
         if "(itself)" in e["energy_reference_file"]]


def foil(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = read_spectrum_file(MEASURED / name)
    (mu,) = [v for v in data.columns.values() if v is not data.energy]
    return data.energy, mu


@pytest.mark.parametrize("entry", FOILS, ids=[e["file"] for e in FOILS])
def test_measured_foils_give_their_sessions_shift(entry):
    """APS (-2.0 eV), MAX IV (+0.15) and both HASYLAB reference channels (+8.1, +8.2)."""
    energy, mu = foil(entry["file"])
    found = reference_calibration(energy, mu)
    assert (found.element, found.edge, found.target_e0) == ("Cu", "K", 8979.0)
    assert found.target_source == "tabulated"
    # the manifest's shift is Larch's e0, an energy point; refined, the edge moves by less
    # than half an energy step (0.25-0.32 eV here)
    half_step = np.median(np.diff(energy[np.abs(energy - found.measured_e0) < 5])) / 2
    assert abs(found.shift_ev - entry["shift_to_put_reference_at_8979_eV"]) <= half_step
    assert found.snr > 1000
    named = reference_calibration(energy, mu, "Cu", "K")
    assert named.shift_ev == found.shift_ev


def test_a_shifted_axis_moves_the_shift_with_it():
    energy, mu = foil("cu0_Cu_foil_APS13BMD_2008.txt")
    here = reference_calibration(energy, mu).shift_ev
    assert reference_calibration(energy + 3.0, mu).shift_ev == pytest.approx(here - 3.0, abs=1e-6)


def test_flat_or_noisy_reference_is_refused():
    rng = np.random.default_rng(1)
    energy, mu = foil("cu0_Cu_foil_APS13BMD_2008.txt")
    with pytest.raises(BadReference):  # an empty foil holder: noise on a slope
        reference_calibration(energy, 0.1 - 1e-5 * energy + rng.normal(0, 0.01, energy.size))
    step = mu[-1] - mu[0]
    with pytest.raises(BadReference, match="noisy"):  # thick sample: It, hence Iref, starved
        reference_calibration(energy, mu + rng.normal(0, abs(step) / 5, energy.size))


def test_a_foil_of_another_edge_is_refused():
    energy, mu = foil("cu0_Cu_foil_APS13BMD_2008.txt")
    with pytest.raises(BadReference, match="Ni K"):  # Cu foil, sample declared as Ni
        reference_calibration(energy, mu, "Ni", "K")
    with pytest.raises(BadReference, match="from Cu K"):  # 20 eV off: not a drift
        reference_calibration(energy + 20.0, mu, "Cu", "K")


def test_a_compound_reference_takes_its_edge_from_the_caller():
    """SSRL 4-1 (1997): As2O3 and As2O5 measured against a GaAs powder in Iref, whose As
    edge sits 0.4 eV above elemental As in that session; both scans share it."""
    from edgestream.doors.files.readers import channel

    shifts = []
    for name in ("as2o3_roomt_scan1.xdi", "as2o5_roomt_scan1.xdi"):
        data = read_spectrum_file(MEASURED.parent / "experimental" / name)
        assert data.meta("Sample.reference") == "GaAs powder"
        mu_ref = np.log(channel(data, "itrans") / channel(data, "irefer"))
        given = reference_calibration(data.energy, mu_ref, "As", "K", reference_e0=11867.4)
        assert (given.target_e0, given.target_source) == (11867.4, "given")
        shifts.append(given.shift_ev)
    half_step = np.median(np.diff(data.energy[np.abs(data.energy - 11867.4) < 5])) / 2
    for shift in shifts:  # both GaAs edges were at Larch's e0 11867.423 eV, refined apart
        assert abs(shift - (11867.4 - 11867.423)) <= half_step
    with pytest.raises(BadReference, match="from As K"):
        reference_calibration(data.energy, mu_ref, "As", "K", reference_e0=11890.0)


def test_the_edge_is_found_between_energy_points():
    """A foil step at 8979.3 eV on 0.75 eV steps: Larch's e0 can only say 8979.0 or 8979.75;
    refined, the edge is found within 0.1 eV."""
    from edgestream_sim.plans import step_energies_ev
    from edgestream_sim.spectra import reference_foil_mu

    energy = step_energies_ev()
    for true in (8978.6, 8979.3, 8979.9):
        found = reference_calibration(energy, reference_foil_mu(energy - (true - 8979.0)))
        assert abs(found.measured_e0 - true) < 0.1, (true, found)
        assert np.isfinite(found.snr)  # noiseless, and still a number JSON can carry


def test_foils_located_in_one_batch_read_as_one_by_one():
    """A QEXAFS batch of foils with different offsets, one empty holder and one NaN sweep:
    the batch's edges are each foil's own, the broken rows fail alone."""
    from edgestream.errors import StreamError
    from edgestream.physics.calibration import reference_edges
    from edgestream_sim.spectra import reference_foil_mu

    energy = np.linspace(8900.0, 9300.0, 1200)
    offsets = [-3.0, -0.4, 0.0, 1.7, 2.9]
    rows = [reference_foil_mu(energy - d) for d in offsets]
    rows.insert(2, 0.3 + 0.0 * energy)                 # empty foil holder
    rows.insert(4, np.where(energy > 9000, np.nan, 1.0))  # a torn sweep
    edges = reference_edges(np.tile(energy, (len(rows), 1)), np.stack(rows))
    for row, got in zip(rows, edges, strict=True):
        alone = reference_edges(energy, row)[0]
        if isinstance(alone, StreamError):
            assert isinstance(got, StreamError) and got.reason == alone.reason
        else:
            assert got == pytest.approx(alone, abs=1e-9)
    good = [e for e in edges if not isinstance(e, StreamError)]
    assert len(good) >= len(offsets)
    found = [reference_calibration(energy, r, "Cu", "K", located=e).shift_ev
             for r, e in zip(rows, edges, strict=True) if not isinstance(e, StreamError)
             and e[1] > 0.05]
    np.testing.assert_allclose(found, [-d for d in offsets], atol=0.1)
