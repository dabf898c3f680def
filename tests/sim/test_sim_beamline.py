"""run_beamline from a worker thread, with a producer-like object instead of a broker."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from edgestream_sim import beamline as beamline_mod
from edgestream_sim.beamline import RunSchedule, SimBeamline, run_beamline
from edgestream_sim.publisher import decode_document, topic_for


class FakeProducer:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []
        self.closed = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> None:
        self.messages.append((topic, key, value))

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def in_thread(**kwargs: Any):
    """Run ``run_beamline`` in a non-main thread, as the demo does; re-raise its error."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["summary"] = run_beamline(**kwargs)
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    return result["summary"]


def test_mixed_runs_published_from_a_thread():
    producer = FakeProducer()
    seen: list[str] = []
    summary = in_thread(
        bootstrap_servers=None,
        beamline="bl9",
        n_step=1,
        n_fly=1,
        n_eels=2,
        seed=3,
        producer=producer,
        on_document=lambda n, d: seen.append(n),
    )
    assert summary.runs == {"step": 1, "fly": 1, "eels": 2}
    assert summary.topic == topic_for("bl9")
    assert summary.documents["start"] == summary.documents["stop"] == 4
    assert sum(summary.documents.values()) == len(seen)
    assert [r["kind"] for r in summary.run_uids] == ["step", "fly", "eels", "eels"]
    assert all(r["sample_truth"] for r in summary.run_uids)
    assert producer.closed
    decoded = [decode_document(m[2]) for m in producer.messages]
    assert sum(summary.published["sent"].values()) == len(decoded)
    assert {m[0] for m in producer.messages} == {"bl9.bluesky.runengine.documents"}
    # fly and EELS events go out as pages by default; step-scan events stay events
    names = [n for n, _ in decoded]
    assert "event_page" in names and "event" in names
    starts = {d["uid"]: d for n, d in decoded if n == "start"}
    assert {d["beamline_id"] for d in starts.values()} == {"bl9"}
    for _, key, _ in producer.messages:
        assert key.decode() in starts


def test_on_document_errors_do_not_stop_runs():
    def broken(name, doc):
        raise ValueError("display crashed")

    summary = in_thread(bootstrap_servers=None, n_step=0, n_fly=1, n_eels=1, on_document=broken)
    assert summary.runs == {"step": 0, "fly": 1, "eels": 1}
    assert summary.topic is None and summary.published == {}


def test_duration_and_stop_event():
    assert in_thread(bootstrap_servers=None, duration=0.0).runs == {"step": 0, "fly": 0, "eels": 0}
    stop = threading.Event()
    stop.set()
    summary = in_thread(bootstrap_servers=None, n_step=5, stop_event=stop)
    assert sum(summary.runs.values()) == 0


def test_schedule_interleaves_and_cycles():
    schedule = RunSchedule(SimBeamline.build(0), "sim", {"step": 3, "fly": 1, "eels": 0})
    kinds = []
    while (kind := schedule.next_kind()) is not None:
        schedule.plan(kind)
        kinds.append(kind)
    assert kinds == ["step", "fly", "step", "step"]
    unlimited = RunSchedule(SimBeamline.build(0), "sim", {"step": None, "fly": 0, "eels": 0})
    assert [unlimited.next_kind() for _ in range(3)] == ["step"] * 3


def test_cli_arguments(monkeypatch, capsys):
    calls: list[tuple] = []

    def fake_run(*args, **kwargs):
        calls.append((args, kwargs))
        return beamline_mod.BeamlineSummary(runs={"step": 0})

    monkeypatch.setattr(beamline_mod, "run_beamline", fake_run)
    beamline_mod.main(
        [
            "--bootstrap",
            "h:1",
            "--duration",
            "5",
            "--beamline",
            "x",
            "--n-step",
            "2",
            "--no-event-pages",
        ]
    )
    ((args, kwargs),) = calls
    assert args == ("h:1", "x", 2, None, None)
    assert kwargs["duration"] == 5.0 and kwargs["event_pages"] is False
    assert '"runs"' in capsys.readouterr().out


@pytest.mark.parametrize("n", [0, 1])
def test_counts_zero_or_one(n):
    summary = in_thread(bootstrap_servers=None, n_step=0, n_fly=0, n_eels=n)
    assert summary.runs["eels"] == n
