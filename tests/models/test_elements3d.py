"""FEFF10 K-edge jobs of the 3d absorbers Ti...Zn: sites, input text, cache sets, archives.

Needs pymatgen (training or test extra); the OmniXAS site counts need ../shared beside the
clone; the real FEFF run (slow) needs feff10-rs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import feff_text
import numpy as np
import pytest

from edgestream_models import feff10

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib.*")
pytest.importorskip("pymatgen.core", reason="pymatgen is not installed (test extra)")

from edgestream_models import elements3d, oxides3d  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
XMU_TI = DATA / "xmu_ti_hcp_k.dat"  # FEFF10 Ti K edge of α-Ti (METALS["Ti"]), this pipeline
# The issue's counts of OmniXAS structures holding each element, and the symmetry-inequivalent
# sites of that element in them (SpacegroupAnalyzer, symprec 0.01)
STRUCTURES = {"Ti": 76, "V": 125, "Cr": 63, "Mn": 117, "Fe": 105, "Co": 66, "Ni": 55,
              "Zn": 121}
INEQUIVALENT = {"Ti": 126, "V": 365, "Cr": 132, "Mn": 349, "Fe": 243, "Co": 160, "Ni": 108,
                "Zn": 200}


def _potentials(text: str) -> dict[int, tuple[int, str]]:
    """ipot -> (Z, tag) from the POTENTIALS card."""
    block = text.split("POTENTIALS", 1)[1].split("ATOMS", 1)[0]
    rows = [r.split() for r in block.splitlines()]
    return {int(r[0]): (int(r[1]), r[2]) for r in rows if len(r) >= 3 and r[0].isdigit()}


def _absorber_row(text: str) -> list[str]:
    atoms = text.split("ATOMS", 1)[1].splitlines()
    rows = [r.split() for r in atoms if len(r.split()) == 7]
    zero = [r for r in rows if r[3] == "0"]
    assert len(zero) == 1, zero
    return zero[0]


@pytest.fixture(scope="module")
def omnixas_sites():
    if not (elements3d.OMNIXAS_ROOT / "structures.json.gz").exists():
        pytest.skip(f"{elements3d.OMNIXAS_ROOT} not present (../shared beside the clone)")
    return elements3d.omnixas_sites()


# ----------------------------------------------------------------------------- sites

def test_omnixas_co_cation_sites_match_the_issue_counts(omnixas_sites):
    structures = {el: len({r[0] for r in rows}) for el, rows in omnixas_sites.items()}
    assert structures == STRUCTURES
    assert {el: len(rows) for el, rows in omnixas_sites.items()} == INEQUIVALENT
    poscars = elements3d.load_structures()
    from pymatgen.core import Structure

    for el, rows in omnixas_sites.items():
        # each (material, site) once; the site is that element; multiplicities add up to
        # the element's atoms in the cell
        assert len(set((m, i) for m, i, *_ in rows)) == len(rows)
        mid = rows[0][0]
        s = Structure.from_str(poscars[mid], fmt="poscar")
        mine = [r for r in rows if r[0] == mid]
        assert all(s[i].specie.symbol == el for _, i, _, _ in mine)
        assert sum(m for _, _, m, _ in mine) == s.composition[el]
        assert [r[3] for r in mine] == list(range(len(mine)))


def test_omnixas_order_is_round_robin_and_first_sites_first(omnixas_sites):
    order = elements3d.omnixas_order(omnixas_sites)
    assert len(order) == sum(INEQUIVALENT.values())
    assert [r[0] for r in order[:8]] == list(elements3d.ELEMENTS)
    # stopped after any 8k jobs, every element with k sites left has exactly k done
    head = Counter(r[0] for r in order[:400])
    assert set(head.values()) == {50}
    for el in elements3d.ELEMENTS:
        ranks = [r[4] for r in order if r[0] == el]
        assert ranks == sorted(ranks)  # every structure's first site before any second
        assert ranks.count(0) == STRUCTURES[el]
    assert elements3d.omnixas_order(omnixas_sites) == order  # seeded: the same every time


def test_round_robin():
    assert elements3d.round_robin([[1, 2, 3], ["a"], [], ["b", "c"]]) == [
        1, "a", "b", 2, "c", 3]
    assert elements3d.round_robin([]) == []


def test_parse_elements():
    assert elements3d.parse_elements("fe, Co,Fe") == ["Fe", "Co"]
    assert elements3d.parse_elements("all") == list(elements3d.ELEMENTS)
    assert elements3d.parse_elements(["Zn"]) == ["Zn"]
    with pytest.raises(ValueError, match="one of Ti"):
        elements3d.parse_elements("Cu")  # Cu has its own runs (no --element)
    with pytest.raises(ValueError, match="'Xx'"):
        elements3d.parse_elements("Fe,Xx")


# ----------------------------------------------------------------------------- structures

@pytest.mark.parametrize(("el", "n_sites", "nearest"), [
    ("Ti", 1, 2.8968), ("V", 1, 3.0240 * 3**0.5 / 2), ("Cr", 1, 2.8839 * 3**0.5 / 2),
    ("Mn", 4, None), ("Fe", 1, 2.8665 * 3**0.5 / 2), ("Co", 1, 2.4971),
    ("Ni", 1, 3.5240 / 2**0.5), ("Zn", 1, 2.6649)])
def test_calibration_metals(el, n_sites, nearest):
    s = elements3d.METALS[el].structure()
    sites = elements3d.inequivalent_sites(s, el)
    assert len(sites) == n_sites
    # periodic images included (hcp's in-plane neighbour is the same site one cell over)
    d = min(n.nn_distance for i, _ in sites for n in s.get_neighbors(s[i], 3.5))
    if nearest is not None:
        assert d == pytest.approx(nearest, abs=2e-3)
    else:  # α-Mn: 58 atoms, sites 2a, 8c, 24g, 24g; shortest Mn-Mn ~2.24-2.27 Å
        assert len(s) == 58 and sorted(m for _, m in sites) == [2, 8, 24, 24]
        assert 2.22 < d < 2.30
        assert s.get_space_group_info()[1] == 217


def test_oxide_prototypes_first_shell():
    """Every oxide absorber has its expected number of O neighbours (within 2.4 Å) at
    distances known for that oxide class, and the expected space group survives building."""
    seen = Counter()
    for p in oxides3d.OXIDES:
        s = p.structure()
        labels = s.site_properties["label"]
        for el in oxides3d.absorbing_elements(p):
            for i, _ in elements3d.inequivalent_sites(s, el):
                cn, _ = p.cu_sites[labels[i]]
                o = [n.nn_distance for n in s.get_neighbors(s[i], 2.4)
                     if n.specie.symbol == "O"]
                assert len(o) == cn, (p.name, labels[i], sorted(o))
                assert min(o) > 1.85 and max(o) < 2.25, (p.name, sorted(o))
                seen[el] += 1
    assert set(seen) == set(elements3d.ELEMENTS)


# ----------------------------------------------------------------------------- input text

def test_input_text_has_the_absorber_edge_and_the_cu_k_settings():
    fe = elements3d.calibration_jobs(["Fe"])
    assert len(fe) == 1 and fe[0].absorber == "Fe" and fe[0].set == "Fe_K"
    cards = feff_text.cards(fe[0].inp)
    assert cards["EDGE"] == "K" and cards["XANES"] == feff10.XANES
    assert cards["FMS"].split()[0] == f"{feff10.FMS_RADIUS:.1f}"
    assert cards["SCF"].split()[0] == f"{feff10.K_SCF_RADIUS:.1f}"
    assert cards["COREHOLE"] == "FSR" and "LDOS" not in cards
    assert _potentials(fe[0].inp)[0] == (26, "Fe")
    assert _absorber_row(fe[0].inp)[4] == "Fe"
    assert feff10.matches_settings({"feff": fe[0].feff}, "Fe_K")
    assert fe[0].feff["absorber"] == "Fe"


def test_a_structure_with_two_3d_elements_gives_each_its_own_absorber(omnixas_sites):
    """A Cu-Fe oxide: the Fe job absorbs at Fe, the Cu one (old code path) at Cu."""
    from pymatgen.core import Structure

    from edgestream_models.omnixas import structures_and_sites

    poscars, cu_sites = structures_and_sites(elements3d.OMNIXAS_ROOT)
    mid, i, _, _ = omnixas_sites["Fe"][0]
    s = Structure.from_str(poscars[mid], fmt="poscar")
    fe = feff10.make_job(s, i, "fe", absorber="Fe")
    cu = feff10.make_job(s, cu_sites[mid][0], "cu")
    assert _potentials(fe.inp)[0][0] == 26 and _potentials(cu.inp)[0][0] == 29
    assert fe.set == "Fe_K" and cu.set == "K" and fe.hash != cu.hash
    with pytest.raises(ValueError, match="not Cu"):
        feff10.make_job(s, i, "fe-as-cu")          # an Fe index is not a Cu site
    with pytest.raises(ValueError, match="not Fe"):
        feff10.make_job(s, cu_sites[mid][0], "cu-as-fe", absorber="Fe")


def test_omnixas_jobs_carry_element_and_site():
    jobs = elements3d.omnixas_jobs(limit=16)
    assert [j.absorber for j in jobs[:8]] == list(elements3d.ELEMENTS)
    for j in jobs:
        assert j.labels["element"] == j.absorber and j.labels["group"] == "omnixas"
        assert _absorber_row(j.inp)[4] == j.absorber and feff_text.cards(j.inp)["EDGE"] == "K"
        assert j.key == f"omnixas/{j.labels['material']}/{j.absorber}{j.site_index:03d}"


def test_prototype_jobs_cover_every_element_base_first():
    jobs = elements3d.prototype_jobs(strains=(-0.02,), n_displaced=0)
    by_el = {el: [j for j in jobs if j.absorber == el] for el in elements3d.ELEMENTS}
    assert all(by_el.values())
    for js in by_el.values():
        variants = [j.labels["variant"] for j in js]
        assert variants.index("s-0.02") == variants.count("base")  # bases first
        assert all(j.labels["formal_valence"] > 0 or j.labels["prototype"].endswith("_metal")
                   for j in js)
    fe3o4 = {j.labels["site_label"]: j.labels for j in by_el["Fe"]
             if j.labels["prototype"] == "fe3o4_spinel"}
    assert fe3o4["Fe1"]["formal_valence"] == 3.0 and fe3o4["Fe1"]["cn_expected"] == 4
    assert fe3o4["Fe2"]["formal_valence"] == 2.5 and fe3o4["Fe2"]["valence_class"] == "mixed"
    assert len({(j.set, j.hash) for j in jobs}) == len(jobs)  # strains differ from bases


# ----------------------------------------------------------------------------- cache + archive

# Cu foil and Cu2O mp-361 of the committed Cu K archive (models/data/feff10_K_runs.tar.xz)
CU_ARCHIVED = {"cu_fcc/base/Cu1-000": "15de948a8cb8eafe", "calib/mp-361/site000":
               "4808466fd42c0a8a"}


def test_cu_cache_keys_are_unchanged(tmp_path):
    """Cu jobs keep their input text, hash and ``K`` folder: the committed Cu K archive's
    calibration entries are found where today's jobs look for them."""
    from edgestream_models.feff10_jobs import calibration_jobs
    from edgestream_models.generate_feff10 import archive_path

    jobs = {j.key: j for j in calibration_jobs("K")}
    seeded = feff10.seed_entries(archive_path("K"), "K", tmp_path)
    assert seeded["seeded"] > 300
    for key, digest in CU_ARCHIVED.items():
        job = jobs[key]
        assert job.hash == digest and job.absorber == "Cu" and job.set == "K"
        assert "absorber" not in job.feff  # meta.json of Cu runs as before
        path = feff10.entry_dir(job, tmp_path)
        assert path == tmp_path / "K" / digest and feff10.entry_state(path) == "done"
        meta = json.loads((path / "meta.json").read_text())
        assert meta["key"] == key and feff10.matches_settings(meta, "K")
        assert {k: v for k, v in meta["feff"].items() if k != "versions"} == job.feff


def _fake_runner(inp: str, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "xmu.dat").write_bytes(XMU_TI.read_bytes())
    energy, _, mu = feff10.parse_xmu(workdir / "xmu.dat")
    return energy, mu


def test_pack_seed_round_trip_of_a_non_cu_entry(tmp_path):
    pytest.importorskip("tqdm")
    ti = elements3d.calibration_jobs(["Ti"])[0]
    here = tmp_path / "here"
    res = feff10.run_jobs([ti], workers=1, root=here, runner=_fake_runner, progress=False)
    assert res["ok"] == 1 and (here / "Ti_K" / ti.hash / "meta.json").exists()
    assert not (here / "K").exists()
    archive = tmp_path / "feff10_Ti_K_runs.tar.xz"
    assert feff10.pack_entries("Ti_K", archive, here) == 1
    assert feff10.pack_entries("K", tmp_path / "cu.tar.xz", here) == 0  # Cu set untouched
    fresh = tmp_path / "fresh"
    assert feff10.seed_entries(archive, "Ti_K", fresh) == {"seeded": 1, "present": 0,
                                                          "failed": 0}
    entries = list(feff10.iter_entries("Ti_K", fresh, current_only=True))
    assert len(entries) == 1
    meta, energy, _, mu = entries[0]
    assert meta["key"] == ti.key and meta["labels"]["element"] == "Ti"
    assert meta["feff"]["absorber"] == "Ti"
    ref_e, _, ref_mu = feff10.parse_xmu(XMU_TI)
    assert np.array_equal(energy, ref_e) and np.array_equal(mu, ref_mu)
    again = feff10.run_jobs([ti], workers=1, root=fresh, runner=_fake_runner, progress=False)
    assert again["cached"] == 1 and again["ok"] == 0  # seeded: not recomputed


def test_cache_set_names():
    assert feff10.cache_set("K") == "K" and feff10.cache_set("L3") == "L3"
    assert feff10.cache_set("K", "Fe") == "Fe_K"
    assert feff10.set_edge("Fe_K") == "K" and feff10.set_edge("L3") == "L3"
    assert feff10.settings("Fe_K") == feff10.settings("K")
    with pytest.raises(ValueError):
        feff10.set_edge("Fe_M5")
    with pytest.raises(ValueError):
        feff10.cache_set("M5", "Fe")


def test_cli_rejects_what_it_cannot_do(capsys):
    from edgestream_models.generate_feff10 import main

    with pytest.raises(SystemExit, match="K edge only"):
        main(["--element", "Fe", "--edge", "L3", "calibration"])
    with pytest.raises(SystemExit, match="one of Ti"):
        main(["--element", "Cu,Fe", "status"])
    with pytest.raises(SystemExit):
        main(["k3d"])  # k3d needs --element
    with pytest.raises(SystemExit, match="one archive"):
        main(["--element", "Ti,Zn", "seed", "--archive", "x.tar.xz"])
    with pytest.raises(SystemExit, match="one archive"):
        main(["--element", "Ti,Zn", "pack", "--out", "x.tar.xz"])


def test_cli_pack_and_seed_per_element(tmp_path, capsys):
    """``--element Ti,Zn pack``/``seed``: one archive per element set; an element without
    runs leaves no archive and is reported."""
    pytest.importorskip("tqdm")
    from edgestream_models.generate_feff10 import main

    here, fresh = str(tmp_path / "here"), str(tmp_path / "fresh")
    ti = elements3d.calibration_jobs(["Ti"])
    feff10.run_jobs(ti, workers=1, root=here, runner=_fake_runner, progress=False)
    out = tmp_path / "ti.tar.xz"
    assert main(["--cache", here, "--element", "Ti", "pack", "--out", str(out)]) == 0
    assert main(["--cache", here, "--element", "Zn", "pack", "--out",
                 str(tmp_path / "zn.tar.xz")]) == 0
    assert not (tmp_path / "zn.tar.xz").exists()
    assert "no finished Zn_K runs" in capsys.readouterr().out
    assert main(["--cache", fresh, "--element", "Ti", "seed", "--archive", str(out)]) == 0
    assert '"seeded": 1' in capsys.readouterr().out
    assert main(["--cache", fresh, "--element", "Ti", "calibration", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["Ti"]["done"] == 1


def test_cli_status_counts_per_element(tmp_path, capsys):
    from edgestream_models.generate_feff10 import main

    assert main(["--element", "Ti,Zn", "--cache", str(tmp_path), "calibration",
                 "--dry-run"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table == {"Ti": {"jobs": 1, "done": 0, "failed": 0, "pending": 1},
                     "Zn": {"jobs": 1, "done": 0, "failed": 0, "pending": 1}}


# ----------------------------------------------------------------------------- real FEFF

@pytest.mark.slow
def test_real_feff_ti_metal_k_edge(tmp_path):
    """α-Ti through FEFF10 (~8 CPU-s): the committed sample, an edge near Ti K (4966 eV)."""
    pytest.importorskip("feff10", reason="feff10-rs is not installed (training extra)")
    job = elements3d.calibration_jobs(["Ti"])[0]
    energy, mu = feff10.run_feff(job.inp, tmp_path)
    ref_e, _, ref_mu = feff10.parse_xmu(XMU_TI)
    assert np.allclose(energy, ref_e, atol=1e-3) and np.allclose(mu, ref_mu, atol=1e-4)
    half = energy[np.argmax(mu > 0.5)]
    assert 4960.0 < half < 4985.0


def test_collect_an_element_set(tmp_path):
    """``--element Ti collect``: the Ti_K entries into one npz, with the edge and absorber
    apart and the metal's coordination from its structure."""
    pytest.importorskip("tqdm")
    from edgestream_models.generate_feff10 import main

    here = tmp_path / "here"
    feff10.run_jobs(elements3d.calibration_jobs(["Ti"]), workers=1, root=here,
                    runner=_fake_runner, progress=False)
    out = tmp_path / "ti.npz"
    assert main(["--cache", str(here), "--element", "Ti", "collect", "--out", str(out)]) == 0
    d = np.load(out)
    assert str(d["edge"]) == "K" and list(d["absorber"]) == ["Ti"]
    assert list(d["calibration"]) == ["Ti foil"] and list(d["group"]) == ["calibration"]
    assert d["cn"][0] == 12 and d["formal_valence"][0] == 0.0


def test_the_committed_3d_archives_seed_runs_of_todays_settings(tmp_path):
    """models/data/feff10_<El>_K_runs.tar.xz (``--element all pack``): every element's metal
    is there, every entry made with the Cu K settings for its own absorber, readable."""
    from edgestream_models.generate_feff10 import archive_path

    metals = {j.hash: j for j in elements3d.calibration_jobs()}
    for el in elements3d.ELEMENTS:
        name = feff10.cache_set("K", el)
        archive = archive_path(name)
        assert archive.exists(), f"{archive} is missing (--element all pack)"
        assert archive.stat().st_size < 1_000_000 * 8 / len(elements3d.ELEMENTS)
        seeded = feff10.seed_entries(archive, name, tmp_path)
        assert seeded["seeded"] >= 1 and seeded["present"] == 0
        entries = list(feff10.iter_entries(name, tmp_path, current_only=True))
        assert len(entries) == seeded["seeded"]
        for meta, energy, _, mu in entries:
            assert meta["feff"]["absorber"] == el == meta["labels"]["element"]
            assert energy.size > 50 and np.all(np.isfinite(mu))
        assert {m["hash"] for m, *_ in entries} >= {
            h for h, j in metals.items() if j.absorber == el}, f"{el} metal missing"
