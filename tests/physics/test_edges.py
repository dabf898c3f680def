"""Edge table and edge identification."""

from __future__ import annotations

import pytest

from edgestream.errors import UnknownElement
from edgestream.physics import EDGES, edge_energy, edge_table, elements_in, identify_edge

from .conftest import manifest_entries


def test_table_covers_z_3_to_95_with_k_l_and_m45_edges():
    table = edge_table()
    assert next(iter(table)) == "Li" and "Am" in table and len(table) >= 93
    assert set(EDGES) >= {"K", "L1", "L2", "L3", "M4", "M5"}
    for symbol in ("Cu", "Zn", "Au", "U", "Am"):
        assert {"K", "L1", "L2", "L3", "M4", "M5"} <= set(table[symbol])


@pytest.mark.parametrize(
    ("element", "edge", "energy"),
    [("Cu", "K", 8979.0), ("Cu", "L3", 932.7), ("Cu", "L2", 952.3), ("cu", "l3", 932.7),
     ("Zn", "K", 9659.0), ("Au", "L3", 11919.0), ("O", "K", 543.1), ("Li", "K", 54.7)],
)
def test_edge_energy(element, edge, energy):
    assert edge_energy(element, edge) == pytest.approx(energy)


@pytest.mark.parametrize(("element", "edge"), [("Xx", "K"), ("Li", "M5"), ("Cu", "N9"), ("", "K")])
def test_unknown_element_or_edge(element, edge):
    with pytest.raises(UnknownElement):
        edge_energy(element, edge)


@pytest.mark.parametrize(("set_name", "entry"), manifest_entries(),
                         ids=[e["file"] for _, e in manifest_entries()])
def test_identifies_every_real_spectrum_from_larchs_e0(set_name, entry):
    element, edge, energy = identify_edge(entry["larch_e0"])
    assert (element, edge) == (entry["element"], entry["edge"])
    assert energy == edge_energy(element, edge)


def test_preferences_and_ties():
    # Se K and Tl L3 are both tabulated at 12658 eV: K wins the exact tie
    assert identify_edge(12656.25)[:2] == ("Se", "K")
    # CuO's L3 white line at 931 eV: I M2 (931.0) is nearer, but by less than 5 eV
    assert identify_edge(931.0)[:2] == ("Cu", "L3")
    # a non-preferred edge still wins when it is clearly the nearest
    assert identify_edge(952.3)[:2] == ("Cu", "L2")
    # oxidised Cu K edges sit up to ~14 eV above the table
    assert identify_edge(8992.75)[:2] == ("Cu", "K")


def test_nothing_within_tolerance():
    with pytest.raises(UnknownElement):
        identify_edge(8940.0 + 20, tolerance=5.0)
    with pytest.raises(UnknownElement):
        identify_edge(1.0e6)


@pytest.mark.parametrize(
    ("composition", "elements"),
    [("CuFe2O4", {"Cu", "Fe", "O"}), ("La1.85Sr0.15CuO4", {"La", "Sr", "Cu", "O"}),
     ("CuSO4·5H2O", {"Cu", "S", "O", "H"}), ("Cu(OH)2", {"Cu", "O", "H"}),
     ("Cu, Fe, O", {"Cu", "Fe", "O"}), (["cu", "O"], {"Cu", "O"}), ("Cu", {"Cu"}),
     ("La2-xSrxCuO4", {"La", "Sr", "Cu", "O"}), ("YBa2Cu3O7-δ", {"Y", "Ba", "Cu", "O"}),
     ("CO", {"C", "O"}), ("Co", {"Co"})],
)
def test_elements_in_a_composition(composition, elements):
    assert elements_in(composition) == elements


@pytest.mark.parametrize("composition", ["cuo", "Cuo2", "Xx2O", "CuQ", "", "Cu copper", []])
def test_unreadable_composition(composition):
    with pytest.raises(UnknownElement):
        elements_in(composition)
