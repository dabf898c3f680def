"""The screening library CLI: featurize structures with matgl, append, search them.

Needs the training extra (matgl, pymatgen); skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matgl")
pymatgen_core = pytest.importorskip("pymatgen.core")

from edgestream_models.library import load_library, main  # noqa: E402
from edgestream_plugins.cu_k import GRID  # noqa: E402

CU2O_POSCAR = """Cu4 O2
1.0
4.2696 0.0 0.0
0.0 4.2696 0.0
0.0 0.0 4.2696
O Cu
2 4
direct
0.00 0.00 0.00 O
0.50 0.50 0.50 O
0.75 0.25 0.75 Cu
0.25 0.75 0.75 Cu
0.75 0.75 0.25 Cu
0.25 0.25 0.25 Cu
"""


@pytest.fixture
def structures(tmp_path):
    s = pymatgen_core.Structure.from_str(CU2O_POSCAR, fmt="poscar")
    cif = tmp_path / "cu2o_mine.cif"
    s.to(filename=str(cif))
    fcc = pymatgen_core.Structure(pymatgen_core.Lattice.cubic(3.615), ["Cu"] * 4,
                                  [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    folder = tmp_path / "cu_fcc"
    folder.mkdir()
    fcc.to(filename=str(folder / "POSCAR"), fmt="poscar")
    return cif, folder / "POSCAR"


def test_add_creates_appends_and_replaces(structures, tmp_path, capsys):
    cif, poscar = structures
    lib_path = tmp_path / "mine.npz"
    assert main(["add", str(cif), "--library", str(lib_path)]) == 0
    assert main(["add", str(poscar), str(cif), "--library", str(lib_path)]) == 0
    lib = load_library(lib_path)
    assert sorted(lib["material_id"]) == ["cu2o_mine", "cu_fcc"]  # cu2o replaced, not doubled
    assert dict(zip(lib["material_id"], lib["formula"], strict=True))["cu_fcc"] == "Cu"
    assert lib["spectrum"].shape == (2, GRID.size) and np.isfinite(lib["spectrum"]).all()
    norms = np.linalg.norm(lib["embedding"].astype(np.float32), axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=2e-3)
    assert set(lib["source"]) == {"user"}
    assert main(["show", str(lib_path)]) == 0
    assert "cu_fcc\tCu\tuser" in capsys.readouterr().out


def test_screening_searches_a_user_library(structures, tmp_path, monkeypatch):
    from edgestream_models.cards import standards_batch
    from edgestream_plugins.screening import LIBRARY_ENV, CuKScreening

    lib_path = tmp_path / "mine.npz"
    main(["add", *map(str, structures), "--library", str(lib_path)])
    monkeypatch.setenv(LIBRARY_ENV, str(lib_path))
    plugin = CuKScreening()
    plugin.load(("CPUExecutionProvider",))
    assert {"cu2o_mine", "cu_fcc"} <= set(plugin.library["material_id"])
    outs = plugin.predict(standards_batch(6))
    assert all(len(o["candidates"]) == plugin.manifest["top_k"] for o in outs)
