"""Fault 3: 1,000 fuzzed malformed documents between good runs; the service never dies.

A seeded fuzzer (numpy's generator) covers every kind of bad input the issue names: random
and truncated bytes, unknown names, wrong types and missing keys, orphans, and runs whose event
carries NaN/inf, zig-zag or duplicate energies, mismatched lengths, too few points,
non-positive intensities, non-numbers or an unknown element.

Every bad item gets its dead letter with a reason; every good run is annotated.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import msgpack
import numpy as np
import pytest
from brokers import report
from harness import (
    Expected,
    fly_run,
    publish_runs,
    read_complete,
    read_topic,
)

from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.service import AnnotationService
from edgestream.errors import REASONS
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

N_BAD = 1000


def _good_event_bytes(seed: int) -> bytes:
    docs = fly_run(np.random.default_rng(seed), sweeps=1, n=50)
    return encode(*docs[2])


DOCUMENT_NAMES = {"start", "descriptor", "event", "event_page", "stop", "resource", "datum",
                  "datum_page", "stream_resource", "stream_datum"}


def garbage(rng) -> list[bytes]:
    return [rng.bytes(int(rng.integers(0, 300)))]


def truncated(rng) -> list[bytes]:
    raw = _good_event_bytes(int(rng.integers(0, 2**16)))
    return [raw[: int(rng.integers(1, len(raw)))]]


def unknown_name(rng) -> list[bytes]:
    name = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz_"), int(rng.integers(1, 12))))
    name = name if name not in DOCUMENT_NAMES else name + "_x"
    return [msgpack.packb([name, {"uid": "x"}])]


def not_a_pair(rng) -> list[bytes]:
    value = [int(rng.integers(-9, 9)), "text", [1, 2, 3], {"a": 1}, ["event"], [1, 2, 3]][
        int(rng.integers(0, 6))]
    return [msgpack.packb(value)]


def orphan(rng) -> list[bytes]:
    uid = str(uuid.UUID(bytes=rng.bytes(16)))
    docs = {
        "event": {"descriptor": uid, "uid": uid, "seq_num": 1, "time": 0.0, "data": {},
                  "timestamps": {}},
        "event_page": {"descriptor": uid, "uid": [uid], "seq_num": [1], "time": [0.0],
                       "data": {}, "timestamps": {}},
        "stop": {"run_start": uid, "uid": uid, "time": 0.0, "exit_status": "success"},
        "descriptor": {"run_start": uid, "uid": uid, "time": 0.0, "data_keys": {}},
    }
    name = list(docs)[int(rng.integers(0, 4))]
    return [encode(name, docs[name])]


WRONG_TYPES = [
    ("start", {"uid": 12345, "time": 0.0}),
    ("start", {"time": 0.0}),
    ("descriptor", {"run_start": ["a"], "uid": "d"}),
    ("event", {"descriptor": None, "uid": "e"}),
    ("stop", {"uid": "s"}),
    ("event_page", {"descriptor": 3.5}),
]


def wrong_types(rng) -> list[bytes]:
    return [encode(*WRONG_TYPES[int(rng.integers(0, len(WRONG_TYPES)))])]


# run uid -> kind of every bad run made, to say per kind what the service answered
BAD_RUN_KINDS_BY_UID: dict[str, str] = {}


def bad_run(kind: str, seed: int) -> list[bytes]:
    """A run whose single event is bad in one way; the rest of it is well formed."""
    rng = np.random.default_rng(seed)
    docs = fly_run(rng, sweeps=1, n=300)
    start, desc, (_, event), stop = docs[0], docs[1], docs[2], docs[3]
    BAD_RUN_KINDS_BY_UID[start[1]["uid"]] = kind
    data = {k: np.array(v, dtype=float) for k, v in event["data"].items()}
    if kind == "nan":
        data["It"][rng.integers(0, 300)] = np.nan
    elif kind == "inf":
        data["I0"][rng.integers(0, 300)] = np.inf
    elif kind == "zigzag":
        i = int(rng.integers(1, 299))
        data["energy"][i], data["energy"][i + 1] = data["energy"][i + 1], data["energy"][i]
    elif kind == "duplicate_energy":
        i = int(rng.integers(1, 299))
        data["energy"][i + 1] = data["energy"][i]
    elif kind == "mismatched":
        data["It"] = data["It"][:-7]
    elif kind == "too_few":
        data = {k: v[:5] for k, v in data.items()}
    elif kind == "negative_intensity":
        data["I0"][:10] = -1.0
    elif kind == "unknown_element":
        start = ("start", dict(start[1], element="Xx"))
    elif kind == "not_numbers":
        data = {k: ["a"] * 3 for k in data}
    event = dict(event, data=data)
    return [encode(*start), encode(*desc), encode("event", event), encode(*stop)]


# the dead letter's reason per kind of bad run (every other kind: bad_spectrum)
RUN_REASON = {"too_few": "too_few_points", "unknown_element": "unknown_element"}
BAD_RUN_KINDS = ["nan", "inf", "zigzag", "duplicate_energy", "mismatched", "too_few",
                 "negative_intensity", "unknown_element", "not_numbers"]


def bad_runs(rng) -> list[bytes]:
    return bad_run(BAD_RUN_KINDS[int(rng.integers(0, len(BAD_RUN_KINDS)))],
                   int(rng.integers(0, 2**16)))


CATEGORIES = [garbage, truncated, unknown_name, not_a_pair, orphan, wrong_types, bad_runs]


def fuzzed_items(seed: int, n: int) -> list[list[bytes]]:
    """``n`` bad items (a bad message, or a run with one bad event), every category covered."""
    rng = np.random.default_rng(seed)
    return [CATEGORIES[i % len(CATEGORIES)](rng) for i in range(n)]


@pytest.fixture(scope="module")
def broker(tansu_broker):
    return tansu_broker


def test_fuzzed_documents_are_dead_lettered_and_good_runs_flow(broker):
    items = fuzzed_items(seed=2026, n=N_BAD)
    bootstrap = broker.bootstrap_servers
    beamline = f"fuzz-{uuid.uuid4().hex[:8]}"
    topic = f"{beamline}.bluesky.runengine.documents"
    create_topics(bootstrap, [topic, f"{beamline}.xas.annotations",
                              f"{beamline}.xas.deadletter"], partitions=3)
    s = Settings(beamline=beamline)
    s.kafka.bootstrap_servers, s.kafka.topics = bootstrap, [topic]
    s.kafka.group_id, s.kafka.publish_derived = f"{beamline}-svc", False
    s.kafka.session_timeout_ms = FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    service = AnnotationService(s, Pipeline(s, discover()))
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()

    rng = np.random.default_rng(5)
    good = [fly_run(rng) for _ in range(40)]
    expected = Expected.of(good)
    flat = [raw for item in items for raw in item]
    try:
        publish_runs(bootstrap, topic, good, interleave=items, rng=rng)
        annotations = read_complete(bootstrap, f"{beamline}.xas.annotations", expected, 240)
        dead = read_topic(bootstrap, f"{beamline}.xas.deadletter",
                          lambda m: len(m) >= N_BAD, timeout=240)
        assert worker.is_alive(), "the service died"
    finally:
        stop.set()
        worker.join(timeout=30)

    good_runs = set(expected.spectra)
    got = {a["ids"]["run_uid"] for a in annotations}
    assert good_runs <= got, f"{len(good_runs - got)} good runs not annotated"
    bad_annotated = [a for a in annotations if a["ids"]["run_uid"] not in good_runs]
    assert bad_annotated == [], "a bad run produced an annotation"
    reasons = {d["reason"] for d in dead}
    report(f"{N_BAD} bad items ({len(flat)} messages) -> {len(dead)} dead letters: "
          f"{json.dumps(sorted(reasons))}")
    assert len(dead) == N_BAD
    assert reasons <= set(REASONS) and all(d["message"] for d in dead)
    by_kind = Counter((BAD_RUN_KINDS_BY_UID[d["run_uid"]], d["reason"]) for d in dead
                      if d.get("run_uid") in BAD_RUN_KINDS_BY_UID)
    assert {"malformed_document", "unknown_document_name", "unknown_descriptor", "unknown_run",
            "bad_spectrum", "too_few_points", "unknown_element"} <= reasons, (
        f"bad runs by (kind, reason): {sorted(by_kind.items())}")
    # each bad run arrives in order on one partition, so it gets its own kind's reason, once
    assert all(reason == RUN_REASON.get(kind, "bad_spectrum")
               for (kind, reason) in by_kind), sorted(by_kind.items())
    assert sum(by_kind.values()) == len(BAD_RUN_KINDS_BY_UID), sorted(by_kind.items())
