"""The filler: external detector data in HDF5, read in front of the run router."""

from __future__ import annotations

import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
from bluesky import RunEngine
from test_pipeline import run_all as feed  # every document through the pipeline

from edgestream.config.settings import Settings
from edgestream.documents.external import ExternalFiller
from edgestream.documents.fluorescence import Roi, dead_time_sum, line_roi, roi_counts
from edgestream.documents.hdf5 import map_path, source_of
from edgestream.errors import BadSpectrum, ExternalDataUnavailable
from edgestream.pipeline import Pipeline
from edgestream_dev.procs import wait_until
from edgestream_sim.beamline import RunSchedule, SimBeamline
from edgestream_sim.plans import step_energies_ev

E0 = 8980.0
ENERGIES = step_energies_ev(E0)


def mu(e):
    return 0.3 - 2e-5 * (e - E0) + 0.5 + np.arctan((e - E0) / 2) / np.pi


class Clock:
    """A clock the test moves: timeouts without sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pipeline(tmp_path: Path | None = None, timeout_s: float = 30.0, roots=None):
    s = Settings(external_data_timeout_s=timeout_s, data_roots=roots or {})
    p = Pipeline(s)
    clock = Clock()
    p.filler.clock = clock
    return p, clock


def transmission_run(path: str, *, spec="AD_HDF5", page=False, root="", run_uid=None,
                     fpp=1):
    """A step scan whose It sits in an area-detector HDF5 file (one scalar frame per point),
    referenced by resource + datum (or datum_page) documents as ophyd emits them."""
    run = run_uid or str(uuid.uuid4())
    desc, res = str(uuid.uuid4()), str(uuid.uuid4())
    docs = [("start", {"uid": run, "time": 0.0, "element": "Cu", "edge": "K",
                       "beamline_id": "bl", "hints": {"dimensions": [[["energy"], "primary"]]}}),
            ("descriptor", {"uid": desc, "run_start": run, "name": "primary", "time": 0.0,
                            "data_keys": {
                                "energy": {"source": "x", "dtype": "number", "shape": [],
                                           "units": "eV"},
                                "I0": {"source": "x", "dtype": "number", "shape": []},
                                "It": {"source": "x", "dtype": "number", "shape": [],
                                       "external": "FILESTORE:"}},
                            "configuration": {}, "hints": {}, "object_keys": {}}),
            ("resource", {"uid": res, "spec": spec, "root": root, "resource_path": path,
                          "resource_kwargs": {"frame_per_point": fpp}, "run_start": run,
                          "path_semantics": "posix"})]
    ids = [f"{res}/{i}" for i in range(len(ENERGIES))]
    if page:
        docs.append(("datum_page", {"resource": res, "datum_id": ids,
                                    "datum_kwargs": {"point_number": list(range(len(ids)))}}))
    else:
        docs += [("datum", {"resource": res, "datum_id": d,
                            "datum_kwargs": {"point_number": i}}) for i, d in enumerate(ids)]
    for i, (e, d) in enumerate(zip(ENERGIES, ids, strict=True)):
        docs.append(("event", {"uid": str(uuid.uuid4()), "descriptor": desc, "seq_num": i + 1,
                               "time": float(i), "data": {"energy": e, "I0": 1e5, "It": d},
                               "timestamps": {"energy": i, "I0": i, "It": i},
                               "filled": {"It": False}}))
    docs.append(("stop", {"uid": str(uuid.uuid4()), "run_start": run, "time": 1.0,
                          "exit_status": "success"}))
    return docs


def write_it(path: Path, fpp: int = 1, frames: int | None = None) -> None:
    it = 1e5 * np.exp(-mu(ENERGIES))
    data = np.repeat(it, fpp)[: None if frames is None else frames * fpp]
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=data)


@pytest.mark.parametrize("page", [False, True], ids=["datum", "datum_page"])
def test_ad_hdf5_resource_and_datum_are_read(tmp_path, page):
    write_it(tmp_path / "it.h5")
    p, _ = pipeline()
    annotations, failures = feed(p, transmission_run("it.h5", page=page, root=str(tmp_path)))
    assert failures == []
    [a] = annotations
    assert (a["element"], a["edge"], a["modality"]) == ("Cu", "K", "xas_transmission")
    assert abs(a["e0"] - E0) < 1.5
    assert a["spectrum"]["n_points_measured"] == len(ENERGIES)


def test_frame_per_point_gives_the_frames_of_each_point(tmp_path):
    """AD_HDF5 with frame_per_point 3: each datum is 3 frames (databroker's convention)."""
    write_it(tmp_path / "it.h5", fpp=3)
    filler = ExternalFiller()
    docs = transmission_run(str(tmp_path / "it.h5"), fpp=3)
    events = [item.doc for name, doc in docs for item in filler(name, doc)
              if item.name == "event"]
    assert len(events) == len(ENERGIES)
    expected = 1e5 * np.exp(-mu(ENERGIES[7]))
    np.testing.assert_allclose(events[7]["data"]["It"], [expected] * 3)
    assert events[7]["filled"]["It"] is True


def test_data_roots_map_the_detector_path_to_the_local_mount(tmp_path):
    (tmp_path / "bmm" / "2026").mkdir(parents=True)
    write_it(tmp_path / "bmm" / "2026" / "it.h5")
    p, _ = pipeline(roots={"/nsls2/data": str(tmp_path)})
    docs = transmission_run("bmm/2026/it.h5", root="/nsls2/data/")
    annotations, failures = feed(p, docs)
    assert failures == [] and len(annotations) == 1


def test_map_path_prefers_the_longest_root_on_whole_components():
    roots = {"/nsls2/data": "/mnt/a", "/nsls2/data/bmm/": "/mnt/b", "/": "/srv"}
    assert map_path("/nsls2/data/bmm/x.h5", roots) == "/mnt/b/x.h5"
    assert map_path("/nsls2/data/cms/x.h5", roots) == "/mnt/a/cms/x.h5"
    assert map_path("/nsls2/database/x.h5", roots) == "/srv/nsls2/database/x.h5"
    assert map_path("/nsls2/data/bmm/x.h5", {}) == "/nsls2/data/bmm/x.h5"


def test_both_stream_resource_layouts_name_the_same_file_and_dataset():
    new = source_of("stream_resource", {
        "uid": "a", "data_key": "d", "mimetype": "application/x-hdf5",
        "uri": "file://localhost/nsls2/data/x%20y.h5",
        "parameters": {"dataset": "/entry/data/data", "multiplier": 2, "swmr": True}})
    old = source_of("stream_resource", {
        "uid": "b", "data_key": "d", "spec": "AD_HDF5_SWMR_SLICE", "root": "/nsls2/data",
        "resource_path": "x y.h5", "path_semantics": "posix",
        "resource_kwargs": {"path": "/entry/data/data", "multiplier": 2}})
    assert (new.path, new.dataset, new.rows_per_index) == ("/nsls2/data/x y.h5",
                                                           "/entry/data/data", 2)
    assert (old.path, old.dataset, old.rows_per_index, old.swmr) == (
        new.path, new.dataset, new.rows_per_index, True)


def test_a_file_written_late_holds_its_run_then_is_annotated(tmp_path):
    p, clock = pipeline()
    annotations, failures = feed(p, transmission_run(str(tmp_path / "late.h5")))
    assert annotations == [] and failures == [] and p.filler.held_runs == 1
    write_it(tmp_path / "late.h5", frames=40)  # half flushed: still waiting for the rest
    clock.t += 1.0
    out = p.expire()
    assert out.annotations == [] and out.failures == [] and p.filler.held_runs == 1
    write_it(tmp_path / "late.h5")
    clock.t += 1.0
    out = p.expire()
    assert out.failures == [] and p.filler.held_runs == 0
    [a] = out.annotations
    assert abs(a["e0"] - E0) < 1.5 and a["kind"] == "final"
    assert not p.router.runs and not p.filler.runs


def test_a_missing_file_is_dead_lettered_after_the_timeout_while_other_runs_flow(tmp_path):
    write_it(tmp_path / "here.h5")
    p, clock = pipeline(timeout_s=30.0)
    missing = transmission_run(str(tmp_path / "never.h5"))
    present = transmission_run(str(tmp_path / "here.h5"))
    # interleaved, as two runs on one partition would be
    docs = [d for pair in zip(missing, present, strict=True) for d in pair]
    annotations, failures = feed(p, docs)
    assert failures == []
    assert [a["ids"]["run_uid"] for a in annotations] == [present[0][1]["uid"]]
    clock.t += 29.0
    assert p.expire().failures == []
    clock.t += 2.0
    out = p.expire()
    [f] = out.failures
    assert f.error.reason == "external_data_unavailable" == ExternalDataUnavailable.reason
    assert f.run_uid == missing[0][1]["uid"]
    assert str(tmp_path / "never.h5") in f.error.message
    assert f.error.context["path"] == str(tmp_path / "never.h5")
    assert not p.router.runs and not p.filler.runs  # nothing left open, nothing annotated
    # a late document of the given-up run is not an error of its own
    assert feed(p, [missing[-1]]) == ([], [])


def test_a_spec_not_read_here_is_one_dead_letter_naming_it(tmp_path):
    """It is needed for the spectrum: one external_data_unavailable naming the spec and the
    key, then the spectrum's own bad_spectrum (its It is unknown) at the stop; not one
    dead letter per event."""
    p, _ = pipeline()
    docs = transmission_run(str(tmp_path / "x.tif"), spec="AD_TIFF")
    annotations, failures = feed(p, docs)
    assert annotations == []
    assert [f.error.reason for f in failures] == ["external_data_unavailable", "bad_spectrum"]
    assert "AD_TIFF" in failures[0].error.message
    assert failures[0].error.context["data_key"] == "It"


def test_an_unreadable_key_the_spectrum_does_not_need_costs_one_dead_letter(tmp_path):
    """A camera snapshot in a format not read here next to the ion chambers: the spectrum
    is annotated, the snapshot's key is reported once."""
    write_it(tmp_path / "it.h5")
    docs = transmission_run(str(tmp_path / "it.h5"))
    desc, run = docs[1][1], docs[0][1]["uid"]
    desc["data_keys"]["cam_image"] = {"source": "x", "dtype": "array", "shape": [4, 4],
                                      "external": "FILESTORE:"}
    docs.insert(3, ("resource", {"uid": "tif", "spec": "AD_TIFF", "root": "/",
                                 "resource_path": "cam", "resource_kwargs": {},
                                 "run_start": run, "path_semantics": "posix"}))
    for name, doc in docs:
        if name == "event":
            doc["data"]["cam_image"] = f"tif/{doc['seq_num']}"
            doc["filled"]["cam_image"] = False
    docs[4:4] = [("datum", {"resource": "tif", "datum_id": f"tif/{i + 1}",
                            "datum_kwargs": {"point_number": i}}) for i in range(len(ENERGIES))]
    p, _ = pipeline()
    annotations, failures = feed(p, docs)
    assert len(annotations) == 1
    [f] = failures
    assert f.error.reason == "external_data_unavailable" and "AD_TIFF" in f.error.message


# -- fluorescence: numbers --------------------------------------------------------------------
def test_dead_time_correction_numbers():
    counts = np.array([100.0, 200.0, 50.0])
    icr = np.array([1000.0, 2000.0, 0.0])
    ocr = np.array([800.0, 1000.0, 0.0])
    # 100·1000/800 + 200·2000/1000 + an idle element (no input, no output)
    assert dead_time_sum(counts, icr, ocr) == pytest.approx(125.0 + 400.0 + 50.0)
    assert dead_time_sum(counts) == pytest.approx(350.0)
    with pytest.raises(BadSpectrum, match="saturated"):
        dead_time_sum(counts, icr, np.array([800.0, 0.0, 0.0]))


def test_roi_from_the_emission_line_and_the_bins():
    roi = line_roi(8047.78, 10.0, 0.0, 2, 1024)  # Cu Kα ± 150 eV in 10 eV bins
    assert roi.low == (789, 789) and roi.high == (820, 820)
    mca = np.zeros((2, 1024))
    mca[0, 800], mca[1, 810], mca[1, 890] = 7, 5, 1000  # 890: Kβ, outside the ROI
    np.testing.assert_array_equal(roi_counts(mca, roi), [7, 5])
    np.testing.assert_array_equal(roi_counts(mca, Roi((0, 0), (1024, 800), "x")), [7, 0])


def xspress3_run(path: Path, raw: np.ndarray, icr: np.ndarray, ocr: np.ndarray):
    """NSLS-II Xspress3 layout: spec XSP3, one datum per channel and frame
    (``frame``, ``channel``), keys ``xs_channels_channel01``.., in-line ICR/OCR per channel,
    ROI limits in the detector's configuration (bins)."""
    n_frames, n_ch, n_bins = raw.shape
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/instrument/detector/data", data=raw)
    run, desc, res = (str(uuid.uuid4()) for _ in range(3))
    keys = [f"xs_channels_channel{c:02d}" for c in range(1, n_ch + 1)]
    data_keys = {"energy": {"source": "x", "dtype": "number", "shape": [], "units": "eV"},
                 "I0": {"source": "x", "dtype": "number", "shape": []}}
    for c, k in enumerate(keys, 1):
        data_keys[k] = {"source": "FileStore:", "dtype": "array", "shape": [n_bins],
                        "external": "FILESTORE:"}
        data_keys[f"xs_channel{c:02d}_icr"] = {"source": "x", "dtype": "number", "shape": []}
        data_keys[f"xs_channel{c:02d}_ocr"] = {"source": "x", "dtype": "number", "shape": []}
    config = {f"xs_channel{c:02d}_mcaroi01_min_x": 10 + c for c in range(1, n_ch + 1)}
    config |= {f"xs_channel{c:02d}_mcaroi01_size_x": 5 for c in range(1, n_ch + 1)}
    docs = [("start", {"uid": run, "time": 0.0, "element": "Cu", "edge": "K"}),
            ("descriptor", {"uid": desc, "run_start": run, "name": "primary", "time": 0.0,
                            "data_keys": data_keys, "hints": {},
                            "object_keys": {"xs": [*keys, *[k for k in data_keys
                                                            if k.startswith("xs_channel")]]},
                            "configuration": {"xs": {"data": config, "timestamps": {},
                                                     "data_keys": {}}}}),
            ("resource", {"uid": res, "spec": "XSP3", "root": str(path.parent),
                          "resource_path": path.name, "resource_kwargs": {},
                          "run_start": run, "path_semantics": "posix"})]
    for frame in range(n_frames):
        data = {"energy": 9000.0 + frame, "I0": 1e5}
        for c, k in enumerate(keys, 1):
            datum = f"{res}/{frame}/{c}"
            docs.append(("datum", {"resource": res, "datum_id": datum,
                                   "datum_kwargs": {"frame": frame, "channel": c}}))
            data[k] = datum
            data[f"xs_channel{c:02d}_icr"] = float(icr[frame, c - 1])
            data[f"xs_channel{c:02d}_ocr"] = float(ocr[frame, c - 1])
        docs.append(("event", {"uid": str(uuid.uuid4()), "descriptor": desc,
                               "seq_num": frame + 1, "time": 0.0, "data": data,
                               "timestamps": dict.fromkeys(data, 0.0),
                               "filled": dict.fromkeys(keys, False)}))
    return docs


def test_xspress3_channels_summed_in_their_rois_with_dead_time_corrected(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 50, size=(3, 4, 64)).astype(np.uint32)
    icr = rng.uniform(1e4, 5e4, size=(3, 4))
    ocr = icr * rng.uniform(0.6, 0.95, size=(3, 4))
    filler = ExternalFiller()
    out = [item for name, doc in xspress3_run(tmp_path / "xs.h5", raw, icr, ocr)
           for item in filler(name, doc)]
    assert all(item.error is None for item in out)
    descriptor = next(i.doc for i in out if i.name == "descriptor")
    keys = descriptor["data_keys"]
    assert "xs_fluor" in keys and keys["xs_fluor"]["shape"] == []
    assert not any(k.startswith("xs_channel") for k in keys)  # members and rates consumed
    marker = keys["xs_fluor"]["edgestream_fluorescence"]
    assert marker["dead_time_corrected"] and len(marker["sources"]) == 4
    events = [i.doc for i in out if i.name == "event"]
    for frame, event in enumerate(events):
        expected = sum(raw[frame, c, 10 + c + 1:15 + c + 1].sum() * icr[frame, c] / ocr[frame, c]
                       for c in range(4))
        assert event["data"]["xs_fluor"] == pytest.approx(expected)
        assert set(event["data"]) == {"energy", "I0", "xs_fluor"}


def simulated_fluorescence_docs(tmp_path: Path, published_root: str | None = None):
    bl = SimBeamline.build(3, data_dir=tmp_path, published_root=published_root)
    docs: list = []
    RE = RunEngine({}, context_managers=[])
    RE(RunSchedule(bl, "sim", {"fluor": 1}).plan("fluor"),
       lambda name, doc: docs.append((name, doc)))
    return docs, bl


def test_simulated_sdd_stream_resource_and_stream_datum_annotated(tmp_path):
    """ophyd-async-style documents from the simulated 4-element SDD, its files published
    under /nsls2/data/sim and mounted here at tmp_path."""
    docs, _ = simulated_fluorescence_docs(tmp_path, "/nsls2/data/sim")
    names = {n for n, _ in docs}
    assert {"stream_resource", "stream_datum"} <= names
    assert "resource" not in names and "datum" not in names
    sr = next(d for n, d in docs if n == "stream_resource")
    assert sr["uri"].startswith("file://localhost/nsls2/data/sim/")
    p, _ = pipeline(roots={"/nsls2/data/sim": str(tmp_path)})
    annotations, failures = feed(p, docs)
    assert failures == []
    [a] = annotations
    assert (a["element"], a["edge"], a["modality"]) == ("Cu", "K", "xas_fluorescence")
    truth = docs[0][1]["sample_truth"]
    # the measured edge is the compound's (a few eV above Cu metal) plus the run's offset
    assert 8975.0 < a["e0"] - truth["energy_offset_ev"] < 8995.0


def test_dead_time_correction_restores_the_edge_step_of_the_simulated_sdd(tmp_path):
    """Uncorrected, the elements lose more counts above the edge than below it: the raw ROI
    sum understates the step; ICR/OCR bring the sum back to the true Kα counts."""
    docs, bl = simulated_fluorescence_docs(tmp_path)
    filler = ExternalFiller()
    filled = [i.doc for n, d in docs for i in filler(n, d) if i.name == "event"]
    assert len(filled) == len(ENERGIES)
    path = next(bl.fluor.data_dir.glob("fluor_*.h5"))
    with h5py.File(path) as f:
        raw, icr, ocr = (f[k][()] for k in ("/entry/data/data", "/entry/data/icr",
                                             "/entry/data/ocr"))
    roi = line_roi(8047.78, 10.0, 0.0, raw.shape[1], raw.shape[2])
    raw_sum = roi_counts(raw, roi).sum(axis=1)
    corrected = np.array([e["data"]["fluor"] for e in filled])
    i0 = np.array([e["data"]["I0"] for e in filled])
    np.testing.assert_allclose(corrected, (roi_counts(raw, roi) * icr / ocr).sum(axis=1))
    above, below = ENERGIES > E0 + 60, ENERGIES < E0 - 60
    step_raw = (raw_sum / i0)[above].mean() / (raw_sum / i0)[below].mean()
    step_corrected = (corrected / i0)[above].mean() / (corrected / i0)[below].mean()
    assert step_corrected > step_raw * 1.05  # the loss grows with the count rate
    assert np.all(ocr < icr)


def test_a_collected_fly_scan_without_events_becomes_events_at_its_stop(tmp_path):
    """ophyd-async ``collect`` (a PandA fly scan): a descriptor whose keys are all
    "STREAM:", stream_resource per dataset, stream_datum per chunk, and no event at all."""
    n = len(ENERGIES)
    i0 = np.full(n, 2e5)
    fluor = i0 * 0.02 * (0.5 + np.arctan((ENERGIES - E0) / 2) / np.pi) + 50.0
    with h5py.File(tmp_path / "panda.h5", "w") as f:
        f["/ENERGY.Value"], f["/COUNTER1.Value"], f["/COUNTER2.Value"] = ENERGIES, i0, fluor
    run, desc = str(uuid.uuid4()), str(uuid.uuid4())
    keys = {"energy": "/ENERGY.Value", "I0": "/COUNTER1.Value", "If": "/COUNTER2.Value"}
    docs = [("start", {"uid": run, "time": 0.0, "element": "Cu", "edge": "K"}),
            ("descriptor", {"uid": desc, "run_start": run, "name": "primary", "time": 0.0,
                            "data_keys": {k: {"source": "panda", "dtype": "number",
                                              "shape": [], "external": "STREAM:",
                                              **({"units": "eV"} if k == "energy" else {})}
                                          for k in keys},
                            "configuration": {}, "hints": {}, "object_keys": {}})]
    resources = {k: str(uuid.uuid4()) for k in keys}
    docs += [("stream_resource", {"uid": resources[k], "data_key": k, "run_start": run,
                                  "mimetype": "application/x-hdf5",
                                  "uri": f"file://localhost{tmp_path / 'panda.h5'}",
                                  "parameters": {"dataset": ds, "multiplier": 1}})
             for k, ds in keys.items()]
    for lo, hi in ((0, 60), (60, n)):  # two collect() calls
        docs += [("stream_datum", {"uid": f"{resources[k]}/{lo}", "descriptor": desc,
                                   "stream_resource": resources[k],
                                   "seq_nums": {"start": lo + 1, "stop": hi + 1},
                                   "indices": {"start": lo, "stop": hi}}) for k in keys]
    docs.append(("stop", {"uid": str(uuid.uuid4()), "run_start": run, "time": 2.0,
                          "exit_status": "success"}))
    p, _ = pipeline()
    annotations, failures = feed(p, docs)
    assert failures == []
    [a] = annotations
    assert a["modality"] == "xas_fluorescence" and a["spectrum"]["n_points_measured"] == n
    assert abs(a["e0"] - E0) < 1.5


def test_an_event_whose_datum_comes_later_waits_for_it(tmp_path):
    """Random partition keys can deliver a datum after its event: the run waits for it."""
    write_it(tmp_path / "it.h5")
    docs = transmission_run(str(tmp_path / "it.h5"))
    datums = [d for d in docs if d[0] == "datum"]
    reordered = [d for d in docs if d[0] != "datum" and d[0] != "stop"]
    p, _ = pipeline()
    assert feed(p, reordered) == ([], [])
    assert p.filler.held_runs == 1
    annotations, failures = feed(p, [*datums, docs[-1]])
    assert failures == [] and len(annotations) == 1


def test_the_runengine_callback_door_annotates_the_simulated_fluorescence_scan(tmp_path):
    from edgestream.doors.callback import AnnotatingCallback

    bl = SimBeamline.build(4, data_dir=tmp_path)
    p, _ = pipeline()
    callback = AnnotatingCallback(p)
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(callback)
    try:
        [uid] = RE(RunSchedule(bl, "sim", {"fluor": 1}).plan("fluor"))
        [a] = callback.wait_for(uid, timeout=60)
    finally:
        callback.close()
    assert (a["element"], a["modality"]) == ("Cu", "xas_fluorescence")
    assert a["spectrum"]["n_points_measured"] == len(ENERGIES)


def test_malformed_asset_and_event_documents_are_dead_letters_not_poison(tmp_path):
    """A malformed document costs itself: it never stays at the head of its run's queue."""
    write_it(tmp_path / "it.h5")
    docs = transmission_run(str(tmp_path / "it.h5"))
    bad_event = dict(docs[-2][1], data=5, uid="bad")  # data is not a mapping
    p, _ = pipeline()
    out = [p("datum_page", {"resource": "r", "datum_id": ["a"], "datum_kwargs": 3}),
           p("stream_datum", {"uid": "x", "descriptor": "d"}),
           p("event", ["not", "a", "dict"]),
           p("event_page", {"descriptor": ["unhashable"], "uid": ["e"]})]
    assert [f.error.reason for o in out for f in o.failures] == ["malformed_document"] * 4
    annotations, failures = feed(p, [*docs[:-1], ("event", bad_event), docs[-1]])
    assert [f.error.reason for f in failures] == ["malformed_document"]
    assert len(annotations) == 1 and p.filler.held_runs == 0


WRITER = """
import sys, time, h5py, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
values = np.array([float(v) for v in sys.argv[3].split(",")])
sys.stdin.readline()  # go
with h5py.File(path, "w", libver="latest") as f:
    ds = f.create_dataset("/entry/data/data", shape=(0,), maxshape=(None,), dtype="f8")
    f.swmr_mode = True
    for i in range(n):
        ds.resize((i + 1,))
        ds[i] = values[i]
        ds.flush()
        if i % 40 == 39:
            time.sleep(0.3)
    sys.stdin.readline()  # hold the file open, as a detector still capturing would
"""


def test_ad_hdf5_swmr_frames_are_read_while_another_process_writes(tmp_path):
    """A detector process writing in SWMR mode: the run waits for frames not yet flushed and
    is annotated once they are, the file still open for writing."""
    import subprocess
    import sys

    path = tmp_path / "swmr.h5"
    it = 1e5 * np.exp(-mu(ENERGIES))
    values = ",".join(str(float(v)) for v in it)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(len(it)), values],
        stdin=subprocess.PIPE, text=True)
    try:
        p, clock = pipeline()
        annotations, failures = feed(p, transmission_run(str(path), spec="AD_HDF5_SWMR"))
        assert (annotations, failures, p.filler.held_runs) == ([], [], 1)  # no file yet
        writer.stdin.write("go\n")
        writer.stdin.flush()

        def step() -> bool:  # a quarter second on the pipeline's clock: what came out
            clock.t += 0.25
            out = p.expire()
            annotations.extend(out.annotations)
            failures.extend(out.failures)
            return bool(annotations or failures)

        wait_until(step, 60, "annotation of the SWMR run", interval=0.1, strict=False)
        assert failures == []
        [a] = annotations
        assert abs(a["e0"] - E0) < 1.5
    finally:
        writer.communicate("\n", timeout=30)


def test_an_eels_camera_writing_ad_hdf5_is_annotated_per_spectrum(tmp_path):
    """An EELS camera whose spectra are AD_HDF5 frames (energy-loss axis from its
    offset/dispersion configuration): one Cu L2,3 annotation per frame."""
    from edgestream_sim.spectra import EelsAxis, EelsSimulator

    axis = EelsAxis()
    sim = EelsSimulator(axis, np.random.default_rng(2))
    frames = np.stack([sim.spectrum("Cu2O") for _ in range(3)])
    with h5py.File(tmp_path / "eels.h5", "w") as f:
        f["/entry/data/data"] = frames
    run, desc, res = "eels-run", "eels-desc", "eels-res"
    docs = [("start", {"uid": run, "time": 0.0, "element": "Cu", "edge": "L2,3"}),
            ("descriptor", {"uid": desc, "run_start": run, "name": "primary", "time": 0.0,
                            "data_keys": {"eels_spectrum": {
                                "source": "x", "dtype": "array", "shape": [axis.n_channels],
                                "external": "FILESTORE:"}},
                            "configuration": {"eels": {"data": {
                                "eels_offset": axis.offset,
                                "eels_dispersion": axis.dispersion}}},
                            "hints": {}, "object_keys": {"eels": ["eels_spectrum"]}}),
            ("resource", {"uid": res, "spec": "AD_HDF5", "root": str(tmp_path),
                          "resource_path": "eels.h5", "resource_kwargs": {},
                          "run_start": run, "path_semantics": "posix"})]
    for i in range(3):
        docs.append(("datum", {"resource": res, "datum_id": f"{res}/{i}",
                               "datum_kwargs": {"point_number": i}}))
        docs.append(("event", {"uid": f"e{i}", "descriptor": desc, "seq_num": i + 1,
                               "time": 0.0, "data": {"eels_spectrum": f"{res}/{i}"},
                               "timestamps": {"eels_spectrum": 0.0},
                               "filled": {"eels_spectrum": False}}))
    docs.append(("stop", {"uid": "eels-stop", "run_start": run, "time": 1.0,
                          "exit_status": "success"}))
    p, _ = pipeline()
    annotations, failures = feed(p, docs)
    assert failures == []
    assert [(a["modality"], a["edge"]) for a in annotations] == [("eels", "L2,3")] * 3
    assert all(925.0 < a["e0"] < 940.0 for a in annotations)
