"""The callback door over a days-long beamtime: thousands of runs, some never stopped,
through ``AnnotatingCallback`` (documents fed directly, as a RunEngine would), and its memory
stays flat: finished runs are forgotten after ``keep_runs``, idle open runs expire."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edgestream.config.settings import Settings
from edgestream.doors.callback import AnnotatingCallback
from edgestream.doors.files.door import file_documents
from edgestream.metrics import Metrics
from edgestream.pipeline import Pipeline

pytestmark = pytest.mark.timeout(600)

DATA = Path(__file__).parent / "data"
RUNS = 3000
WARM_UP = 600
KEEP = 100
MAX_OPEN = 20
NO_STOP_EVERY = 10  # every tenth run never sends its stop: it must expire


def template() -> list[tuple[str, dict[str, Any]]]:
    return file_documents(DATA / "experimental/ZnO.xdi")  # start, descriptor, event, stop


def run_docs(docs: list[tuple[str, dict[str, Any]]], i: int) -> list[tuple[str, dict]]:
    """The template run under new uids, its stop left out for every NO_STOP_EVERY-th."""
    run, desc = str(uuid.uuid4()), str(uuid.uuid4())
    out = []
    for name, doc in docs:
        if name == "start":
            out.append((name, doc | {"uid": run}))
        elif name == "descriptor":
            out.append((name, doc | {"uid": desc, "run_start": run}))
        elif name == "event":
            out.append((name, doc | {"uid": str(uuid.uuid4()), "descriptor": desc}))
        elif name == "stop" and i % NO_STOP_EVERY:
            out.append((name, doc | {"uid": str(uuid.uuid4()), "run_start": run}))
    return out


def sizes(cb: AnnotatingCallback) -> dict[str, int]:
    """Every map of the door that grows with runs."""
    p = cb.pipeline
    return {"by_run": len(cb._by_run), "finished": len(cb._finished_runs),
            "open_runs": len(p.router.runs), "descriptors": len(p.router.descriptor_run),
            "filler_runs": len(p.filler.runs), "run_beamlines": len(cb.policy.run_beamline),
            "derived_open": len(cb.policy.derived._open)}


def test_thousands_of_runs_hold_a_flat_memory() -> None:
    settings = Settings(max_open_runs=MAX_OPEN, run_timeout_s=0.5)
    cb = AnnotatingCallback(Pipeline(settings, [], Metrics()), keep_runs=KEEP,
                            expire_every_s=0.05)
    docs = template()
    kinds: Counter[str] = Counter()  # not the annotations: the test must not hold them
    cb.policy.on_annotation = lambda a: kinds.update([a["kind"]])
    tracemalloc.start()
    try:
        last = ""
        for i in range(RUNS):
            run = run_docs(docs, i)
            for name, doc in run:
                cb(name, doc)
            if i % NO_STOP_EVERY:
                last = run[0][1]["uid"]
            if i % 50 == 49:  # let the worker catch up: the queue is bounded
                assert cb.wait_for(last, timeout=60), f"run {i} not annotated"
            if i == WARM_UP - 1:
                gc.collect()
                warm, warm_bytes = sizes(cb), tracemalloc.get_traced_memory()[0]
        cb.wait_for(last, timeout=60)
        gc.collect()
        end, end_bytes = sizes(cb), tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        cb.close()
    # every run was annotated, the ones never stopped when they expired
    assert cb.dropped == 0 and kinds == {"final": RUNS}
    assert end["finished"] == KEEP and end["by_run"] <= KEEP + MAX_OPEN
    assert end["open_runs"] <= MAX_OPEN
    for key, n in end.items():  # flat after the warm-up: no map grows with the runs
        assert n <= max(warm[key], KEEP + MAX_OPEN), (key, warm, end)
    # 2,400 runs after the warm-up: growth by one annotation (~10 kB) a run would be ~24 MB
    assert end_bytes - warm_bytes < 2_000_000, (warm_bytes, end_bytes)
    assert cb.latest(last) and not cb.latest(run_docs(docs, 1)[0][1]["uid"])


def test_expired_runs_end_for_plans_waiting_on_them() -> None:
    """A run whose stop never comes ends once it is idle for run_timeout_s: ``wait_for``
    returns its annotations instead of waiting for ever."""
    cb = AnnotatingCallback(Pipeline(Settings(run_timeout_s=0.2), [], Metrics()),
                            expire_every_s=0.05)
    run = run_docs(template(), 0)  # no stop
    assert run[-1][0] == "event"
    for name, doc in run:
        cb(name, doc)
    uid = run[0][1]["uid"]
    (a,) = cb.wait_for(uid, timeout=30)
    assert cb.finished(uid) and a["ids"]["run_uid"] == uid
    assert not cb.pipeline.router.runs
    cb.close()
