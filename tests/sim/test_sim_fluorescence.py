"""The simulated multi-element fluorescence detector: HDF5 frames and ophyd-async documents."""

from __future__ import annotations

from collections import Counter, defaultdict

import h5py
import numpy as np
from bluesky import RunEngine

from edgestream_sim.beamline import RunSchedule, SimBeamline, run_beamline
from edgestream_sim.fluorescence import CU_KA_EV
from edgestream_sim.plans import step_energies_ev


def record_fluorescence_run(tmp_path, published_root=None):
    bl = SimBeamline.build(5, data_dir=tmp_path, published_root=published_root)
    docs: list = []
    RE = RunEngine({}, context_managers=[])
    RE(RunSchedule(bl, "sim", {"fluor": 1}).plan("fluor"),
       lambda name, doc: docs.append((name, doc)))
    return bl, docs


def test_describe_declares_stream_keys_and_read_holds_none(tmp_path):
    bl = SimBeamline.build(0, data_dir=tmp_path)
    desc = bl.fluor.describe()
    assert set(desc) == {"fluor", "fluor_icr", "fluor_ocr"}
    assert all(d["external"] == "STREAM:" for d in desc.values())
    assert desc["fluor"]["shape"] == [4, 1024] and desc["fluor"]["dims"] == ["element", "bin"]
    assert bl.fluor.read() == {}
    assert "fluor_ev_per_bin" in bl.fluor.read_configuration()


def test_each_point_is_a_frame_in_the_file_and_a_stream_datum_per_key(tmp_path):
    _, docs = record_fluorescence_run(tmp_path, published_root="/nsls2/data/sim")
    counts = Counter(name for name, _ in docs)
    n = len(step_energies_ev())
    assert counts["event"] == n and counts["stream_resource"] == 3
    assert counts["stream_datum"] == 3 * n
    resources = {d["uid"]: d for name, d in docs if name == "stream_resource"}
    assert {d["data_key"] for d in resources.values()} == {"fluor", "fluor_icr", "fluor_ocr"}
    assert all(d["uri"].startswith("file://localhost/nsls2/data/sim/fluor_")
               and d["mimetype"] == "application/x-hdf5" for d in resources.values())
    seq_of = defaultdict(list)
    for name, d in docs:
        if name == "stream_datum":
            assert d["seq_nums"]["stop"] - d["seq_nums"]["start"] == 1
            assert d["indices"]["start"] == d["seq_nums"]["start"] - 1
            seq_of[resources[d["stream_resource"]]["data_key"]].append(d["seq_nums"]["start"])
    assert all(v == list(range(1, n + 1)) for v in seq_of.values())
    events = [d for name, d in docs if name == "event"]
    assert all("fluor" not in e["data"] and set(e["data"]) >= {"I0", "dcm_energy"}
               for e in events)
    assert "It" not in events[0]["data"] and "If" not in events[0]["data"]
    [path] = tmp_path.glob("fluor_*.h5")
    with h5py.File(path) as f:
        mca, icr, ocr = f["/entry/data/data"][()], f["/entry/data/icr"][()], \
            f["/entry/data/ocr"][()]
    assert mca.shape == (n, 4, 1024) and icr.shape == ocr.shape == (n, 4)
    assert np.all(ocr < icr) and np.all(ocr > 0.5 * icr)
    # above the edge the Cu Kα line dominates every element's spectrum
    above = mca[-1].astype(float)
    assert np.all(np.abs(np.argmax(above, axis=1) * 10.0 + 5.0 - CU_KA_EV) < 30.0)
    # the elements see unequal solid angles: the first the most
    assert above[0].sum() > above[3].sum()


def test_run_beamline_runs_fluorescence_only_when_asked(tmp_path):
    summary = run_beamline(None, n_step=0, n_fly=0, n_eels=0, n_fluor=1, data_dir=tmp_path)
    assert summary.runs == {"step": 0, "fly": 0, "eels": 0, "fluor": 1}
    assert summary.documents["stream_resource"] == 3
    plain = run_beamline(None, n_step=0, n_fly=0, n_eels=0)
    assert plain.runs == {"step": 0, "fly": 0, "eels": 0}
