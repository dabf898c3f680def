"""The absorber's radial distribution, the structure models' second input."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream_models.site_geometry import (
    N_GEOMETRY,
    RADIAL_GRID,
    radial_descriptor,
    site_geometry,
    structure_input,
)


def test_one_shell_peaks_at_its_distance_with_its_count_and_weight():
    d = radial_descriptor(np.array([1.85, 1.85]), np.array([8, 8]))  # Cu2O's two O
    counts, weighted = d[:RADIAL_GRID.size], d[RADIAL_GRID.size:]
    assert d.shape == (N_GEOMETRY,) and d.dtype == np.float32
    peak = int(np.argmax(counts))
    assert RADIAL_GRID[peak] in (1.8, 1.9)
    # area of the smeared shell: 2 neighbours / 0.1 Å grid x sqrt(2 pi) x 0.1 Å
    assert counts.sum() == pytest.approx(2 * np.sqrt(2 * np.pi), rel=1e-3)
    np.testing.assert_allclose(weighted, counts * 8 / 30, rtol=1e-6)


def test_no_neighbours_is_zero_and_heavier_ligands_weigh_more():
    assert not radial_descriptor(np.array([]), np.array([])).any()
    o = radial_descriptor(np.array([2.3]), np.array([8]))
    s = radial_descriptor(np.array([2.3]), np.array([16]))
    n = RADIAL_GRID.size
    np.testing.assert_allclose(o[:n], s[:n])
    assert s[n:].sum() == pytest.approx(2 * o[n:].sum(), rel=1e-6)


def test_structure_input_appends_geometry_to_the_m3gnet_features():
    x = structure_input(np.ones((3, 64)), np.zeros((3, N_GEOMETRY)))
    assert x.shape == (3, 64 + N_GEOMETRY) and x.dtype == np.float32
    assert x[:, :64].all() and not x[:, 64:].any()


def test_site_geometry_of_cu2o():
    core = pytest.importorskip("pymatgen.core")
    cu2o = core.Structure(core.Lattice.cubic(4.2696), ["O", "O"] + ["Cu"] * 4,
                          [[0, 0, 0], [0.5, 0.5, 0.5], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75],
                           [0.75, 0.75, 0.25], [0.25, 0.25, 0.25]])
    g = site_geometry(cu2o, [2, 5])
    np.testing.assert_allclose(g[0], g[1], atol=1e-5)  # equivalent sites
    counts = g[0, :RADIAL_GRID.size]
    first = counts[RADIAL_GRID < 2.2].sum() * 0.1 / np.sqrt(2 * np.pi) / 0.1
    assert first == pytest.approx(2.0, abs=0.05)  # linear O-Cu-O at 1.85 Å
