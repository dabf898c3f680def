"""Cu L2,3 multiplet training data (edrixs, GPL: training distribution only): the physics of
the spectra (L3/L2 branching of d9, 2p spin-orbit splitting, Cu(III) above Cu(II)), the sticks
against edrixs's own XAS, the charge-transfer solver against the ionic one, the calibration,
and the cache (resumable, packed and seeded)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np
import pytest

from edgestream_models.multiplets import calibration, spectrum
from edgestream_models.multiplets.grid import CONFIGS, Params, default_grid

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module a file imports (absolute imports, any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


def test_the_service_and_the_plugins_never_import_gpl_edrixs():
    files = [p for d in ("stream/edgestream", "plugins/edgestream_plugins")
             for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 50
    assert not [str(p) for p in files if "edrixs" in imports_of(p)]
    # and only the training distribution depends on it
    for toml in ("pyproject.toml", "stream/pyproject.toml"):
        text = (ROOT / toml).read_text()
        assert "edrixs" not in text, toml
    models = tomllib.loads((ROOT / "models/pyproject.toml").read_text())["project"]
    assert any(d.startswith("edrixs") for d in models["dependencies"])


def test_the_grid_spans_the_symmetries_and_slater_reductions():
    grid = default_grid()
    assert len({p.key() for p in grid}) == len(grid)
    d9 = [p for p in grid if p.config == "d9"]
    assert {p.symmetry for p in d9} == {"oh", "d4h", "square_planar", "td"}
    assert {p.slater_scale for p in grid} <= set(np.round(np.arange(0.6, 0.91, 0.05), 2))
    assert min(p.slater_scale for p in grid) == 0.6 and max(p.slater_scale for p in grid) == 0.9
    assert {p.config for p in grid} == set(CONFIGS)
    assert Params("d9", "oh", 0.1 + 0.2).key() == Params("d9", "oh", 0.3).key()


def test_thermal_weights_and_the_edge_step():
    w = spectrum.thermal_weights(np.array([0.0, 0.0, 0.1]), 10.0)
    assert w == pytest.approx([0.5, 0.5, 0.0], abs=1e-9)
    assert spectrum.thermal_weights(np.array([0.0, 0.1]), 1e5)[1] > 0.49
    e = np.arange(900.0, 1100.0, 0.1)
    step = spectrum.edge_step(e, 932.7, 19.9)
    assert step[0] < 0.02 and step[-1] == pytest.approx(1.5, abs=0.02)
    assert np.interp(932.7, e, step) == pytest.approx(0.5, abs=0.01)


def test_broaden_keeps_the_area_and_gives_l2_its_own_width():
    grid = np.arange(-100.0, 150.0, 0.01)
    e = np.array([0.0, 20.0])
    w = np.array([2.0, 1.0])
    y = spectrum.broaden(e, w, grid, 0.3, 0.6, 0.2)
    assert np.trapezoid(y, grid) == pytest.approx(3.0, rel=0.01)
    assert spectrum.l2_mask(e, w).tolist() == [False, True]
    # the broader L2 line is lower relative to its area
    assert y.max() / 2.0 > np.interp(20.0, grid, y) / 1.0 * 1.5


edrixs = pytest.importorskip("edrixs")
from edgestream_models.multiplets import generate  # noqa: E402
from edgestream_models.multiplets.solve import solve  # noqa: E402


def moments(p: Params) -> tuple[float, float, float]:
    """(holes, L2/L3 intensity ratio, L2 - L3 centroid separation in eV) at 300 K."""
    e, w = spectrum.flatten(solve(p), 300.0)
    l2 = spectrum.l2_mask(e, w)
    sep = np.average(e[l2], weights=w[l2]) - np.average(e[~l2], weights=w[~l2])
    return float(w.sum()), float(w[l2].sum() / w[~l2].sum()), float(sep)


@pytest.mark.parametrize("p", [Params("d9", "d4h", 1.4, 0.6, 0.8), Params("d9", "oh", 1.2),
                               Params("d9", "td", 0.6, 0.0, 0.7)])
def test_d9_has_one_hole_a_branching_ratio_far_from_statistical_and_l2_20_ev_up(p):
    holes, ratio, sep = moments(p)
    assert holes == pytest.approx(1.0, abs=1e-6)
    # the statistical 2:1 (L2/L3 = 0.5) that the FEFF10 data assume does not hold for d9:
    # an e_g hole (Oh, D4h) takes about 0.37; the t2 hole of a regular tetrahedron, mostly
    # 3d5/2 through the 3d spin-orbit coupling, nearly closes L2 (2p1/2 -> 3d5/2 forbidden)
    assert ratio < 0.45
    if p.symmetry != "td":
        assert ratio > 0.25
    assert 19.5 < sep < 21.0    # 1.5 zeta(2p), zeta = 13.5 eV (edrixs atom data)


def test_d8_has_two_holes_and_its_l23_split():
    holes, ratio, sep = moments(Params("d8", "square_planar", 2.4, 1.1, 0.8))
    assert holes == pytest.approx(2.0, abs=1e-6)
    assert ratio != pytest.approx(0.5, abs=0.02)
    assert 19.0 < sep < 21.5


def test_sticks_are_what_edrixs_xas_sums():
    """Sticks broadened by one Lorentzian equal ``edrixs.xas_1v1c_py`` on the same states."""
    import contextlib
    import io
    import warnings

    from edgestream_models.multiplets.solve import atomic_slater, crystal_field

    p = Params("d8", "d4h", 1.4, 0.6, 0.8)
    si, sn, zi, zn, zp = atomic_slater(p)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev_i, ev_n, tr = edrixs.ed_1v1c_py(("d", "p"), v_soc=(zi, zn), c_soc=zp, v_noccu=8,
                                           slater=(si, sn), v_cfmat=crystal_field(p))
        om = np.linspace(-40.0, -5.0, 400)
        ref = edrixs.xas_1v1c_py(ev_i, ev_n, tr, om, gamma_c=0.3, gs_list=list(range(6)),
                                 temperature=300.0)[:, 0]
    e, w = spectrum.flatten(solve(p), 300.0)
    ours = spectrum.broaden(e, w / 3.0, om, 0.3, 0.3, 0.0)
    assert ref.max() > 0.05
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("config", ["d9", "d8"])
def test_charge_transfer_without_hybridization_is_the_ionic_spectrum(config):
    a = spectrum.flatten(solve(Params(config, "d4h", 1.4, 0.6, 0.8)), 300.0)
    b = spectrum.flatten(solve(Params(config + "_ct", "d4h", 1.4, 0.6, 0.8, delta=10.0,
                                      hyb=0.0, u_dd=8.0, u_pd=9.5)), 300.0)
    grid = np.arange(-10.0, 30.0, 0.01)
    ya, yb = ((spectrum.broaden(e - e[w > 1e-3 * w.max()].min(), w, grid, 0.3, 0.6, 0.1))
              for e, w in (a, b))
    for (_e, w) in (a, b):
        assert w.sum() == pytest.approx(10 - int(config[1]), abs=1e-6)
    # the same spectrum (degenerate states may share their weight differently among sticks)
    np.testing.assert_allclose(ya, yb, atol=1e-6 * ya.max())
    # with hybridization the ligand holes take weight away from the 3d (covalency)
    holes = moments(Params(config + "_ct", "square_planar", 2.4, 1.0, 0.85, delta=2.0,
                           hyb=2.5, u_dd=8.0, u_pd=9.5))[0]
    assert holes < 10 - int(config[1]) - 0.05


def calibrated_white_line(p: Params, shift: float) -> float:
    e, w = spectrum.flatten(solve(p), calibration.REFERENCE_TEMPERATURE)
    grid = np.arange(900.0, 1000.0, 0.02)
    return spectrum.main_l3(grid, spectrum.broaden(e + shift, w, grid,
                                                   *calibration.REFERENCE_WIDTHS))


def test_calibration_puts_white_lines_at_their_valence_and_cu3_edges_above_cu2():
    from edgestream_models.ledge_data import FINE, onset_of
    from edgestream_models.multiplets.dataset import one_spectrum

    assert calibration.CUO_L3_PEAK_EV < calibration.CU_METAL_L3_EV < calibration.CU2O_L3_PEAK_EV
    rng = np.random.default_rng(0)
    onsets: dict[float, list[float]] = {2.0: [], 3.0: []}
    fields = (("square_planar", 2.0, 0.8), ("d4h", 1.8, 0.9), ("oh", 1.6, 0.0))
    for field in fields:
        for config, k in (("d9", 0.6), ("d9", 0.9), ("d8", 0.6), ("d8", 0.9),
                          ("d9_ct", 0.85), ("d8_ct", 0.85)):
            extra = {"delta": 2.0 if config == "d9_ct" else -0.5, "hyb": 2.0, "u_dd": 8.0,
                     "u_pd": 9.5} if config.endswith("_ct") else {}
            p = Params(config, *field, k, **extra)
            shift = calibration.offset(solve(p), p.valence)
            assert calibrated_white_line(p, shift) == pytest.approx(
                calibration.L3_PEAK_EV[p.valence], abs=0.03)
            mu, _ = one_spectrum(solve(p), shift, rng, area=4.0)
            onsets[p.valence].append(onset_of(FINE, mu))
    # the edge (steepest rise of white line and step) of Cu(III) lies above Cu(II)'s
    assert np.median(onsets[3.0]) > np.median(onsets[2.0]) + 0.5
    assert max(onsets[2.0]) < calibration.CU_METAL_L3_EV


def test_the_cache_resumes_and_the_archive_seeds_a_fresh_cache(tmp_path):
    sets = [Params("d9", "oh", 1.2), Params("d9", "td", 0.6)]
    lines: list[str] = []
    first = generate.run(sets, cache=tmp_path / "a", log=lines.append, every=1)
    assert len(first) == len(sets)
    assert any("ETA" in line for line in lines)
    assert generate.run(sets, cache=tmp_path / "a", log=lines.append) == {}
    packed = generate.pack(tmp_path / "a", tmp_path / "m.tar.xz")
    assert packed["entries"] == len(first)
    assert generate.seed(tmp_path / "b", tmp_path / "m.tar.xz") == len(first)
    (p, a), = generate.load([sets[1]], tmp_path / "a")
    (q, b), = generate.load([sets[1]], tmp_path / "b")
    assert p == q == sets[1]
    # archived in float32 with the negligible sticks dropped: the same spectrum to 1e-6
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-6, atol=1e-5)
    floor = generate.ARCHIVE_WEIGHT_FLOOR * a.weight.max()
    np.testing.assert_allclose(np.where(a.weight >= floor, a.weight, 0), b.weight, rtol=1e-6,
                               atol=1e-12)
    assert np.abs(a.weight - b.weight).sum() < 1e-4 * a.weight.sum()
    assert a.seconds > 0


def test_a_dataset_spectrum_has_its_step_and_its_white_line_area_per_hole():
    from edgestream_models.ledge_data import FINE
    from edgestream_models.multiplets.dataset import one_spectrum

    rng = np.random.default_rng(1)
    for config, holes in (("d9", 1.0), ("d8", 2.0)):
        sticks = solve(Params(config, "square_planar", 2.4, 1.1, 0.8))
        mu, draw = one_spectrum(sticks, 935.0, rng, area=4.0)
        assert mu[-1] == pytest.approx(1.5, abs=0.03) and mu[0] < 0.03
        e, w = spectrum.flatten(sticks, draw["temperature"])
        first = float(np.min(e[w > 1e-2 * w.max()]) + 935.0)
        white = mu - spectrum.edge_step(FINE, first, 19.9)
        # the Lorentzian tails past the grid's ends are lost: within 3 %
        assert np.trapezoid(white, FINE) == pytest.approx(draw["area"] * holes, rel=0.03)
        assert 0.7 * 4.0 <= draw["area"] <= 1.4 * 4.0


def test_the_shipped_archive_holds_the_grid():
    import tarfile

    assert generate.ARCHIVE.exists()
    assert generate.ARCHIVE.stat().st_size < 4_000_000
    with tarfile.open(generate.ARCHIVE, "r:xz") as tar:
        names = {Path(m.name).stem for m in tar.getmembers()}
    assert {p.key() for p in default_grid()} <= names


def test_post_edge_takes_feff_structure_beyond_the_white_lines_only():
    from edgestream_models.ledge_data import FINE
    from edgestream_models.multiplets.dataset import POST_EDGE_REL, post_edge

    onset = 932.0
    step = spectrum.edge_step(FINE, onset, 19.9)
    white = 3.0 * np.exp(-0.5 * ((FINE - onset - 1.0) / 0.6) ** 2)
    assert np.allclose(post_edge(step + white), 1.0, atol=0.05)
    wiggle = 0.2 * np.sin((FINE - onset) / 2.0) * (onset + 5 < FINE)
    factor = post_edge(step + white + wiggle)
    at = lambda rel: float(np.interp(rel, POST_EDGE_REL, factor))  # noqa: E731
    rel = np.arange(-5.0, 60.0, 0.5)
    inside = [abs(at(r) - 1.0) for r in rel if r < 6.0 or 17.0 <= r <= 26.0]
    beyond = [abs(at(r) - 1.0) for r in rel if 9.0 <= r <= 14.0 or r >= 29.0]
    assert max(inside) < 0.06 and max(beyond) > 0.1
