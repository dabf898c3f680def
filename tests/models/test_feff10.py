"""FEFF10 pipeline: input text, xmu.dat parsing, cache keys, resumability, prototypes.

Parsing, cache and resumability tests need numpy and tqdm only (a fake runner stands in for
FEFF). Input generation and prototypes need pymatgen, the real run feff10 too (``pip install
.[training]``); without them those tests skip and say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import feff_text
import numpy as np
import pytest

from edgestream_models import feff10

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spglib.*")
DATA = Path(__file__).resolve().parent / "data"
XMU = DATA / "xmu_cu_fcc_k.dat"  # FEFF10 Cu K edge of Cu fcc (a = 3.6149 Å), this pipeline
XMU_L3 = DATA / "xmu_cu_fcc_l3.dat"  # the same site's L3 edge, L-edge settings


def _pymatgen():
    return pytest.importorskip(
        "pymatgen.core", reason="pymatgen is not installed (training extra: pip install "
        ".[training]); FEFF input and prototype tests need it")


@pytest.fixture
def cu_fcc():
    _pymatgen()
    from edgestream_models import prototypes

    return prototypes.get("cu_fcc").structure()


# ----------------------------------------------------------------------------- input text

def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_feff_input_cu_fcc_k(cu_fcc):
    text = feff10.feff_input(cu_fcc, 0, edge="K")
    cards = feff_text.cards(text)
    assert cards["EDGE"] == "K"
    assert cards["FMS"].split()[0] == "5.0"
    assert cards["XANES"] == "4 0.04 0.1"
    assert "SCF" not in cards and "LDOS" not in cards
    assert not any(line.split()[:1] == ["SCF"] for line in text.splitlines())
    atoms = text.split("ATOMS", 1)[1].splitlines()
    rows = [r.split() for r in atoms if len(r.split()) == 7 and _is_number(r.split()[0])]
    absorber = [r for r in rows if r[3] == "0"]
    assert len(absorber) == 1 and absorber[0][4] == "Cu"
    assert [float(x) for x in absorber[0][:3]] == [0.0, 0.0, 0.0]
    dist = np.array([float(r[5]) for r in rows])
    assert dist.max() <= 6.0 + 1e-6                      # cluster radius
    assert np.sum(np.isclose(dist, 3.6149 / 2**0.5, atol=1e-3)) == 12  # first fcc shell


def test_feff_input_l3_and_errors(cu_fcc):
    assert feff_text.cards(feff10.feff_input(cu_fcc, 0, edge="L3"))["EDGE"] == "L3"
    with pytest.raises(ValueError, match="edge"):
        feff10.feff_input(cu_fcc, 0, edge="M5")


def test_feff_input_is_deterministic(cu_fcc):
    a = feff10.feff_input(cu_fcc, 0)
    b = feff10.feff_input(cu_fcc.copy(), 0)
    assert a == b and feff10.input_hash(a) == feff10.input_hash(b)
    assert feff10.input_hash(a) != feff10.input_hash(feff10.feff_input(cu_fcc, 0, fms=4.0))


# ----------------------------------------------------------------------------- xmu.dat

def test_parse_xmu_sample():
    energy, energy_rel, mu = feff10.parse_xmu(XMU)
    assert energy.shape == energy_rel.shape == mu.shape and len(energy) > 50
    assert np.all(np.diff(energy) > 0)
    # column 1 absolute, column 2 relative to the Fermi level: a constant offset
    offset = energy - energy_rel
    assert np.ptp(offset) < 1e-6 and 8970 < offset[0] < 9010
    assert energy_rel[0] < 0 < energy_rel[-1]
    assert 0.8 < np.mean(mu[-20:]) < 1.2  # FEFF's edge-step normalized mu


def test_parse_xmu_rejects_empty(tmp_path):
    (tmp_path / "xmu.dat").write_text("# nothing\n")
    with pytest.raises(ValueError, match="rows"):
        feff10.parse_xmu(tmp_path / "xmu.dat")


# ----------------------------------------------------------------------------- cache

def test_input_hash_is_stable():
    text = "TITLE x\nEDGE K\nFMS 5.0 0\n"
    assert feff10.input_hash(text) == "22bf9a3655c4230a"  # sha256, never Python's hash()
    assert feff10.input_hash(text.replace("\n", "\r\n")) == feff10.input_hash(text)
    assert feff10.input_hash(text.replace("5.0", "5.5")) != feff10.input_hash(text)


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGESTREAM_CACHE", str(tmp_path))
    assert feff10.cache_root() == tmp_path / "feff10"
    job = _job("k")
    assert feff10.entry_dir(job) == tmp_path / "feff10" / "K" / job.hash


CALLS: list[str] = []


def fake_runner(inp: str, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Stands in for FEFF: copies the committed xmu.dat (unless the input says FAIL)."""
    CALLS.append(inp)
    if "FAIL" in inp:
        raise RuntimeError("fake FEFF failure")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "xmu.dat").write_bytes(XMU.read_bytes())
    energy, _, mu = feff10.parse_xmu(workdir / "xmu.dat")
    return energy, mu


def _job(key: str, extra: str = "") -> feff10.Job:
    return feff10.Job(key=key, edge="K", inp=f"TITLE {key}\nEDGE K\n{extra}", poscar="P\n",
                      site_index=0, labels={"group": "prototype", "material": "proto:x"})


def test_finished_entry_is_not_recomputed(tmp_path):
    pytest.importorskip("tqdm")
    CALLS.clear()
    jobs = [_job("a"), _job("b"), _job("c", "FAIL\n")]
    first = feff10.run_jobs(jobs, workers=1, root=tmp_path, runner=fake_runner, progress=False)
    assert (first["ok"], first["failed"], len(CALLS)) == (2, 1, 3)
    assert [k for k, _ in first["failures"]] == ["c"]
    path = feff10.entry_dir(jobs[0], tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["POSCAR", "feff.inp", "meta.json",
                                                      "xmu.dat"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["key"] == "a" and meta["hash"] == jobs[0].hash and meta["n_points"] > 50
    failed = feff10.entry_dir(jobs[2], tmp_path)
    assert "fake FEFF failure" in (failed / "error.txt").read_text()
    assert feff10.entry_state(failed) == "failed" and not (failed / "meta.json").exists()

    CALLS.clear()  # a restart: nothing finished is recomputed, failures are not retried
    again = feff10.run_jobs(jobs, workers=1, root=tmp_path, runner=fake_runner,
                            progress=False)
    assert (again["cached"], again["skipped_failed"], CALLS) == (2, 1, [])
    retry = feff10.run_jobs(jobs, workers=1, root=tmp_path, runner=fake_runner,
                            progress=False, retry_failed=True)
    assert (retry["cached"], retry["failed"], len(CALLS)) == (2, 1, 1)


def test_killed_run_resumes(tmp_path):
    pytest.importorskip("tqdm")
    job = _job("k")
    path = feff10.entry_dir(job, tmp_path)
    (path / "_work").mkdir(parents=True)           # what a kill mid-run leaves behind
    (path / "feff.inp").write_text(job.inp)
    (path / ".lock").write_text("999999999")       # a pid that is not running
    CALLS.clear()
    res = feff10.run_jobs([job], workers=1, root=tmp_path, runner=fake_runner, progress=False)
    assert res["ok"] == 1 and len(CALLS) == 1
    assert feff10.entry_state(path) == "done" and not (path / "_work").exists()
    assert not (path / ".lock").exists()
    entries = list(feff10.iter_entries("K", tmp_path))
    assert [e[0]["key"] for e in entries] == ["k"] and len(entries[0][1]) > 50


def test_duplicate_inputs_run_once(tmp_path):
    pytest.importorskip("tqdm")
    CALLS.clear()
    res = feff10.run_jobs([_job("a"), _job("a")], workers=1, root=tmp_path,
                          runner=fake_runner, progress=False)
    assert res["jobs"] == 1 and len(CALLS) == 1


def test_archived_runs_seed_a_fresh_cache(tmp_path):
    """pack -> seed: a fresh machine gets the finished runs of today's settings and computes
    only what is missing; other settings stay out; the archive is byte-reproducible."""
    pytest.importorskip("tqdm")
    today = feff10.settings("K")
    jobs = [feff10.Job(key=k, edge="K", inp=f"TITLE {k}\nEDGE K\n", poscar="P\n", site_index=0,
                       feff=today) for k in ("a", "b")]
    old = feff10.Job(key="old", edge="K", inp="TITLE old\n", poscar="P\n", site_index=0,
                     feff=today | {"scf": None})
    feff10.run_jobs([*jobs, old], workers=1, root=tmp_path / "here", runner=fake_runner,
                    progress=False)
    archive = tmp_path / "K.tar.xz"
    assert feff10.pack_entries("K", archive, tmp_path / "here") == 2
    first = archive.read_bytes()
    assert feff10.pack_entries("K", archive, tmp_path / "here") == 2
    assert archive.read_bytes() == first

    assert feff10.pack_entries("K", archive, tmp_path / "empty") == 0
    assert archive.read_bytes() == first  # an empty cache leaves the archive alone
    fresh = tmp_path / "fresh"
    assert feff10.seed_entries(archive, "K", fresh) == {"seeded": 2, "present": 0, "failed": 0}
    assert feff10.seed_entries(archive, "K", fresh) == {"seeded": 0, "present": 2, "failed": 0}
    seeded = {m["key"]: e for m, e, _, _ in feff10.iter_entries("K", fresh)}
    original = {m["key"]: e for m, e, _, _ in feff10.iter_entries("K", tmp_path / "here")}
    assert sorted(seeded) == ["a", "b"]
    assert all(np.array_equal(seeded[k], original[k]) for k in seeded)
    CALLS.clear()
    more = feff10.Job(key="c", edge="K", inp="TITLE c\nEDGE K\n", poscar="P\n",
                      site_index=0, feff=today)
    res = feff10.run_jobs([*jobs, more], workers=1, root=fresh, runner=fake_runner,
                          progress=False)
    assert (res["cached"], res["ok"], len(CALLS)) == (2, 1, 1)


class FeffPipelineError(RuntimeError):
    """Named as feff10-rs names a crashed FEFF stage."""


def crashing_runner(inp: str, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """``fake_runner``, but FEFF's xsph crashes on inputs that say XSPH_CRASH."""
    if "XSPH_CRASH" in inp:
        CALLS.append(inp)
        raise FeffPipelineError("stage 'xsph' failed (exit code: 29)")
    return fake_runner(inp, workdir)


def test_deterministic_failures_are_archived_and_not_rerun(tmp_path):
    """A FEFF stage that crashed on an input is archived (POSCAR, error.txt) and seeded as a
    failed entry, so a fresh machine skips it; other failures are not archived."""
    pytest.importorskip("tqdm")
    today = feff10.settings("K")
    jobs = [feff10.Job(key=k, edge="K", inp=f"TITLE {k}\nEDGE K\n{extra}", poscar="P\n",
                       site_index=0, feff=today)
            for k, extra in (("ok", ""), ("crash", "XSPH_CRASH\n"), ("flaky", "FAIL\n"))]
    feff10.run_jobs(jobs, workers=1, root=tmp_path / "here", runner=crashing_runner,
                    progress=False)
    archive = tmp_path / "K.tar.xz"
    assert feff10.pack_entries("K", archive, tmp_path / "here") == 1
    fresh = tmp_path / "fresh"
    assert feff10.seed_entries(archive, "K", fresh) == {"seeded": 1, "present": 0, "failed": 1}
    assert "xsph" in (feff10.entry_dir(jobs[1], fresh) / "error.txt").read_text()
    CALLS.clear()
    res = feff10.run_jobs(jobs, workers=1, root=fresh, runner=crashing_runner, progress=False)
    assert (res["cached"], res["skipped_failed"], res["failed"]) == (1, 1, 1)
    ran = list(CALLS)
    assert ran == [jobs[2].inp]  # only the failure that was not archived ran again
    assert [e[0]["key"] for e in feff10.iter_entries("K", fresh)] == ["ok"]


K_ARCHIVED_AT_LEAST = 356  # 352 prototype sites and 4 calibration references (SCF 3.5 Å)


def test_the_committed_k_archive_seeds_runs_of_todays_settings(tmp_path):
    """models/data/feff10_K_runs.tar.xz: every entry well formed, made with today's K
    settings, its spectrum readable; the calibration references and the prototypes there."""
    from edgestream_models.generate_feff10 import archive_path

    archive = archive_path("K")
    assert archive.exists(), f"{archive} is missing (make feff10-archive)"
    seeded = feff10.seed_entries(archive, "K", tmp_path)
    assert seeded["seeded"] >= K_ARCHIVED_AT_LEAST and seeded["present"] == 0
    entries = list(feff10.iter_entries("K", tmp_path, current_only=True))
    assert len(entries) == seeded["seeded"]
    assert all(e.size > 50 and np.all(np.isfinite(mu)) for _, e, _, mu in entries)
    groups = {m["labels"].get("group") for m, *_ in entries}
    assert {"calibration", "prototype"} <= groups


L3_ARCHIVED_AT_LEAST = 1083  # 2 calibration references, 471 prototype sites, 610 OmniXAS sites
L3_OMNIXAS_SITES = 600  # the "at least 600 sites" of the OmniXAS structures
L3_PROTOTYPE_SITES = 471  # every base, strained and displaced variant that FEFF10 finishes


def test_the_committed_l3_archive_holds_every_l3_run(tmp_path):
    """models/data/feff10_L3_runs.tar.xz: every entry of today's L3 settings, which ``make
    train-ledge`` seeds so that it has nothing left to compute; the OmniXAS sites and the
    prototypes with all their variants are there."""
    from edgestream_models.generate_feff10 import archive_path

    archive = archive_path("L3")
    assert archive.exists(), f"{archive} is missing (make feff10-archive)"
    seeded = feff10.seed_entries(archive, "L3", tmp_path)
    assert seeded["seeded"] >= L3_ARCHIVED_AT_LEAST
    entries = list(feff10.iter_entries("L3", tmp_path, current_only=True))
    assert len(entries) == seeded["seeded"]
    assert all(e.size > 50 and np.all(np.isfinite(mu)) for _, e, _, mu in entries)
    groups = [m["labels"].get("group") for m, *_ in entries]
    assert {"calibration", "omnixas", "prototype"} <= set(groups)
    assert groups.count("omnixas") >= L3_OMNIXAS_SITES
    assert groups.count("prototype") >= L3_PROTOTYPE_SITES


def test_a_tampered_archive_is_refused(tmp_path):
    import io
    import tarfile

    bad = tmp_path / "bad.tar.xz"
    with tarfile.open(bad, "w:xz") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="unexpected member"):
        feff10.seed_entries(bad, "K", tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*passwd*"))


# ----------------------------------------------------------------------------- prototypes

EXPECTED_CN = {"cu_fcc": 12, "cu3au": 12, "cuzn_b2": 8, "cucl": 4, "cubr": 4, "cui": 4,
               "cu3n": 2, "cucn_ht": 2, "cufes2": 4, "cu2s_digenite": 4, "kcuf3": 6,
               "cuf2": 6, "cu3pt": 12, "cupd_b2": 8, "cu2mnal": 8}


@pytest.mark.parametrize("name", sorted(EXPECTED_CN))
def test_prototype_coordination(name):
    _pymatgen()
    from edgestream_models import prototypes

    p = prototypes.get(name)
    s = p.structure()
    assert s.composition.reduced_formula == s.composition.reduced_composition.reduced_formula
    assert s.composition.reduced_composition.almost_equals(
        type(s.composition)(p.formula).reduced_composition)
    (i,) = prototypes.inequivalent_cu_sites(s)
    cn, _ = p.cu_sites[s.site_properties["label"][i]]
    assert cn == EXPECTED_CN[name]
    # the expected shell is really there: the CN nearest neighbours, then a clear gap
    d = sorted(n.nn_distance for n in s.get_neighbors(s[i], 4.0))
    assert d[cn - 1] < 3.0 and (len(d) == cn or d[cn] - d[cn - 1] > 0.25
                                or name in {"cu_fcc", "cu3au"})  # 12 equal, then 3.6 Å


def test_prototype_crystalnn_motifs():
    """The labels module (CrystalNN + its Jahn–Teller rule) agrees with the prototypes."""
    _pymatgen()
    pytest.importorskip("pymatgen.analysis.local_env", reason="pymatgen analysis missing")
    from edgestream_models import prototypes
    from edgestream_models.labels import coordination

    for name in ("cu_fcc", "cucl", "cu3n", "cus_covellite", "kcuf3", "cufes2"):
        p = prototypes.get(name)
        s = p.structure()
        for i in prototypes.inequivalent_cu_sites(s):
            cn, motif = p.cu_sites[s.site_properties["label"][i]]
            got = coordination(s, i)
            assert (got["cn"], got["motif"]) == (cn, motif), (name, i, got)


def test_variants_and_site_count():
    _pymatgen()
    from edgestream_models import prototypes

    p = prototypes.get("cus_covellite")
    vs = list(prototypes.variants(p))
    assert [v.name for v in vs[:5]] == ["base", "s-0.04", "s-0.02", "s+0.02", "s+0.04"]
    assert [lab for _, lab in vs[0].absorbers] == ["Cu1", "Cu2"]  # two inequivalent sites
    assert np.isclose(vs[1].structure.lattice.a, 0.96 * vs[0].structure.lattice.a)
    d = vs[-1]
    assert d.sigma >= 0.02 and abs(d.strain) <= 0.04 and min(d.structure.lattice.abc) >= 7.0
    assert len(d.absorbers) == 4 and len({i for i, _ in d.absorbers}) == 4
    assert all(d.structure[i].specie.symbol == "Cu" for i, _ in d.absorbers)
    again = list(prototypes.variants(p))[-1]  # seeded: the same structure every time
    assert np.allclose(again.structure.cart_coords, d.structure.cart_coords)
    assert prototypes.count_sites((p,)) == 2 + 4 * 2 + 5 * 4


# ----------------------------------------------------------------------------- real FEFF

@pytest.mark.slow
def test_real_feff_run_matches_sample(cu_fcc, tmp_path):
    pytest.importorskip("feff10", reason="feff10-rs is not installed (training extra)")
    energy, mu = feff10.run_feff(feff10.feff_input(cu_fcc, 0), tmp_path)
    ref_e, _, ref_mu = feff10.parse_xmu(XMU)
    assert np.allclose(energy, ref_e, atol=1e-3) and np.allclose(mu, ref_mu, atol=1e-4)


def test_l_edge_jobs_use_the_l_edge_settings(cu_fcc):
    job = feff10.make_job(cu_fcc, 0, "cu", edge="L3")
    cards = feff_text.cards(job.inp)
    assert cards["EDGE"] == "L3"
    assert cards["FMS"].split()[0] == f"{feff10.L_FMS_RADIUS:.1f}"
    assert cards["XANES"] == feff10.L_XANES
    assert cards["SCF"].split()[0] == f"{feff10.L_SCF_RADIUS:.1f}"
    assert job.feff["fms"] == feff10.L_FMS_RADIUS and job.feff["xanes"] == feff10.L_XANES
    assert job.feff["scf"] == feff10.L_SCF_RADIUS and "SCF" not in job.feff["dropped_cards"]
    assert cards["COREHOLE"] == feff10.L_COREHOLE == job.feff["corehole"] == "NONE"
    k = feff10.make_job(cu_fcc, 0, "cu")
    assert feff_text.cards(k.inp)["XANES"] == feff10.XANES and k.feff["scf"] == feff10.K_SCF_RADIUS
    assert feff_text.cards(k.inp)["SCF"].split()[0] == f"{feff10.K_SCF_RADIUS:.1f}" == "3.5"
    # the K edge keeps pymatgen's full core hole
    assert feff_text.cards(k.inp)["COREHOLE"] == "FSR" == k.feff["corehole"]
    assert k.inp == feff10.feff_input(cu_fcc, 0, scf=feff10.K_SCF_RADIUS)


def test_only_entries_with_todays_settings_are_collected(cu_fcc):
    """Runs with other settings (the K runs without SCF, the old full-core-hole L3 runs)
    share the cache but never a data set."""
    k, l3 = feff10.make_job(cu_fcc, 0, "cu"), feff10.make_job(cu_fcc, 0, "cu", edge="L3")
    k_other = feff10.make_job(cu_fcc, 0, "cu", scf=None)  # the runs before SCF
    assert feff10.matches_settings({"feff": k.feff}, "K")
    assert feff10.matches_settings({"feff": l3.feff}, "L3")
    assert not feff10.matches_settings({"feff": l3.feff}, "K")
    assert not feff10.matches_settings({"feff": k_other.feff}, "K")
    assert k_other.hash != k.hash
    old_l3 = {key: v for key, v in l3.feff.items() if key != "corehole"}  # recorded before
    assert not feff10.matches_settings({"feff": old_l3}, "L3")  # that meant FSR


@pytest.mark.slow
def test_real_feff_l3_run_matches_sample(cu_fcc, tmp_path):
    """Cu fcc L3 (one atom per cell) through FEFF10 and the xmu.dat parser."""
    pytest.importorskip("feff10", reason="feff10-rs is not installed (training extra)")
    job = feff10.make_job(cu_fcc, 0, "cu", edge="L3")
    energy, mu = feff10.run_feff(job.inp, tmp_path)
    ref_e, _, ref_mu = feff10.parse_xmu(XMU_L3)
    assert np.allclose(energy, ref_e, atol=1e-3) and np.allclose(mu, ref_mu, atol=1e-4)
    assert 925.0 < energy[0] < 935.0 and energy[-1] > 975.0  # L3 window with L2 room


def test_omnixas_sites_for_the_l_edge_set_are_stratified_one_per_material(tmp_path):
    """Round-robin over (valence, motif): the first jobs cover every stratum; one site per
    material; L3 input text; labels carried into the job."""
    _pymatgen()
    from edgestream_models.feff10_jobs import omnixas_jobs
    from edgestream_models.omnixas import OMNIXAS_ROOT

    if not (OMNIXAS_ROOT / "structures.json.gz").exists():
        pytest.skip(f"{OMNIXAS_ROOT} not present (../shared beside the clone)")
    d = np.load(OMNIXAS_ROOT / "spectra.npz")
    mids = list(dict.fromkeys(str(m) for m in d["material_id"]))[:6]
    site = {str(m): int(i) for m, i in zip(d["material_id"], d["site_index"], strict=True)}
    strata = [(1.0, "linear"), (1.0, "linear"), (2.0, "square_planar"),
              (2.0, "square_planar"), (2.0, "square_planar"), (3.0, "square_planar")]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps({
        "id": m, "formula": {1.0: "Cu2O", 2.0: "CuO", 3.0: "KCuO2"}[v],
        "sites": {str(site[m]): {"valence": v, "valence_method": "bva", "motif": mo, "cn": 2}}})
        for m, (v, mo) in zip(mids, strata, strict=True)))
    jobs = omnixas_jobs("L3", n_sites=3, labels=labels)
    assert len(jobs) == 3 and len({j.labels["material"] for j in jobs}) == 3
    assert sorted((j.labels["formal_valence"], j.labels["motif_expected"]) for j in jobs) == [
        (1.0, "linear"), (2.0, "square_planar"), (3.0, "square_planar")]
    assert all(j.edge == "L3" and "L3" in j.inp.upper() for j in jobs)


def test_prototype_jobs_come_base_and_strains_first_and_k_keeps_three_displaced_variants():
    """The K set (SCF potentials, slow) stops at 3 displaced variants and still has ≥ 300
    sites; every prototype's base and strains come before any displaced cell, so a run
    stopped early covers every prototype; L3 keeps all of them."""
    _pymatgen()
    from edgestream_models import prototypes
    from edgestream_models.feff10_jobs import prototype_jobs

    k = prototype_jobs(["cu_fcc", "cu3au"], "K", scf=None)
    l3 = prototype_jobs(["cu_fcc", "cu3au"], "L3", scf=None)
    variant = [j.key.split("/")[1] for j in k]
    assert sorted(set(variant)) == sorted(["base", "s-0.04", "s-0.02", "s+0.02", "s+0.04",
                                           "d00", "d01", "d02"])
    first_displaced = variant.index("d00")
    assert set(variant[:first_displaced]) == {"base", "s-0.04", "s-0.02", "s+0.02", "s+0.04"}
    assert {j.key.split("/")[1] for j in l3} >= {"d03", "d04"}
    assert len(l3) > len(k)
    every = sum(len(v.absorbers) for p in prototypes.PROTOTYPES
                for v in prototypes.variants(p, n_displaced=3))
    assert every >= 300
