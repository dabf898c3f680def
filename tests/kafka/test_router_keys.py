"""The router's run keys: each document of a run maps to its start uid, whatever its kind."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from event_model import compose_run
from kafka import TopicPartition

from edgestream.config.settings import Settings, SettingsError
from edgestream.documents.wire import encode
from edgestream.doors.kafka.router import check_router
from edgestream.doors.kafka.runkeys import RunKeys, peek
from edgestream.errors import MalformedDocument

TP = TopicPartition("bl.bluesky.runengine.documents", 0)


def full_run() -> list[tuple[str, dict]]:
    """Every kind of document a run carries (event_model's own composers)."""
    bundle = compose_run(metadata={"element": "Cu", "edge": "K"})
    start = bundle.start_doc
    keys = {"energy": {"source": "sim", "dtype": "number", "shape": [], "units": "eV"},
            "det": {"source": "sim", "dtype": "array", "shape": [4], "external": "FILESTORE:"}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    res = bundle.compose_resource(spec="AD_HDF5", root="/", resource_path="a.h5",
                                  resource_kwargs={})
    datum = res.compose_datum(datum_kwargs={"point": 0})
    dpage = res.compose_datum_page(datum_kwargs={"point": [1, 2]})
    sres = bundle.compose_stream_resource(mimetype="application/x-hdf5", uri="file:///b.h5",
                                          data_key="det", parameters={})
    sdatum = sres.compose_stream_datum(indices={"start": 0, "stop": 2})
    event = desc.compose_event(data={"energy": 8980.0, "det": datum["datum_id"]},
                               timestamps={"energy": 0.0, "det": 0.0}, seq_num=1)
    page = desc.compose_event_page(data={"energy": [8981.0], "det": [np.arange(4.0)]},
                                   timestamps={"energy": [0.0], "det": [0.0]}, seq_num=[2],
                                   validate=False)
    return [("start", start), ("descriptor", desc.descriptor_doc),
            ("resource", res.resource_doc), ("datum", datum), ("datum_page", dpage),
            ("stream_resource", sres.stream_resource_doc), ("stream_datum", sdatum),
            ("event", event), ("event_page", page), ("stop", bundle.compose_stop())]


def route_all(keys: RunKeys, docs: list, tp: TopicPartition = TP) -> list[str | None]:
    out = []
    for name, doc in docs:
        out.append(keys.route(*peek(encode(name, doc)), tp))
    return out


def test_every_document_kind_maps_to_its_run() -> None:
    docs = full_run()
    keys = RunKeys(max_runs=10, timeout_s=60)
    assert route_all(keys, docs) == [docs[0][1]["uid"]] * len(docs)
    assert keys.runs == {} and keys.parent_run == {}  # the stop dropped the run's state


def test_interleaved_runs_and_resources_without_run_start() -> None:
    a, b = full_run(), full_run()
    for docs in (a, b):  # an old RunEngine: resources name no run
        for name, doc in docs:
            if name in ("resource", "stream_resource"):
                doc.pop("run_start", None)
    keys = RunKeys(max_runs=10, timeout_s=60)
    # a's start, descriptor and resource; then b wholly on another source; then a's rest
    other = TopicPartition(TP.topic, 1)
    got_a1 = route_all(keys, a[:3])
    got_b = route_all(keys, b, other)
    got_a2 = route_all(keys, a[3:])
    uid_a, uid_b = a[0][1]["uid"], b[0][1]["uid"]
    assert got_a1 + got_a2 == [uid_a] * len(a)
    assert got_b == [uid_b] * len(b)


def test_unknown_documents_have_no_run() -> None:
    docs = full_run()
    keys = RunKeys(max_runs=10, timeout_s=60)
    # the start was never seen (before the router's first commit, or another topic)
    assert route_all(keys, docs[1:]) == [None] * (len(docs) - 1)
    # documents after the stop belong to no open run either
    route_all(keys, docs)
    assert route_all(keys, [docs[7]]) == [None]


def test_bounded_state_forgets_the_longest_idle_run() -> None:
    keys = RunKeys(max_runs=3, timeout_s=100)
    runs = [full_run() for _ in range(5)]
    for i, docs in enumerate(runs):
        for name, doc in docs[:2]:
            keys.route(*peek(encode(name, doc)), TP, now=float(i))
    keys.route(*peek(encode(*runs[0][7])), TP, now=5.0)  # run 0 seen again: now freshest
    assert keys.expire(now=6.0) == [runs[1][0][1]["uid"], runs[2][0][1]["uid"]]
    assert set(keys.runs) == {runs[i][0][1]["uid"] for i in (0, 3, 4)}
    assert keys.expire(now=103.5) == [runs[3][0][1]["uid"]]  # idle over the timeout
    assert keys.route(*peek(encode(*runs[1][7])), TP) is None


@pytest.mark.parametrize("value", [None, b"", b"\xc1garbage", msgpack.packb({"a": 1}),
                                   msgpack.packb(["start"]), msgpack.packb([1, {}]),
                                   msgpack.packb(["start", {"uid": "x"}])[:-3]])
def test_peek_refuses_what_is_not_a_document(value: bytes | None) -> None:
    with pytest.raises(MalformedDocument):
        peek(value)


def test_peek_reads_links_only() -> None:
    big = np.zeros((64, 2048), dtype=np.float32)
    value = encode("event", {"descriptor": "d1", "uid": "e1", "data": {"eels": big},
                             "timestamps": {"eels": 0.0}, "seq_num": 1, "time": 0.0})
    assert peek(value) == ("event", {"descriptor": "d1", "uid": "e1"})


def test_router_settings_are_checked() -> None:
    s = Settings()
    check_router(s)
    s.router.topic = "{beamline}.runs/{x}"
    with pytest.raises(SettingsError, match=r"router\.topic"):
        check_router(s)
    s = Settings()
    s.router.partitions = 0
    with pytest.raises(SettingsError, match="at least 1"):
        check_router(s)
    s = Settings()
    s.kafka.topics = ["bl.edgestream.runs"]
    with pytest.raises(SettingsError, match="input topics"):
        check_router(s)


def test_router_settings_from_file_and_environment(tmp_path) -> None:
    from edgestream.config.settings import load_settings

    cfg = tmp_path / "s.yml"
    cfg.write_text("router: {topic: '{beamline}.runs', partitions: 6}\n")
    s = load_settings(cfg, env={"EDGESTREAM_ROUTER__PARTITIONS": "8"},
                      facility_file=tmp_path / "none.yml")
    assert (s.router.topic, s.router.partitions, s.router.replication) == ("{beamline}.runs", 8, 1)
    with pytest.raises(SettingsError, match=r"ROUTER__PARTITIONS=.many.: expected a whole"):
        load_settings(None, env={"EDGESTREAM_ROUTER__PARTITIONS": "many"},
                      facility_file=tmp_path / "none.yml")
