"""The development process helpers (edgestream_dev.procs): the one wait loop, a logged
subprocess that can be killed and started again, stopping by PID, waiting for ports."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from edgestream_dev.procs import (
    BrokerStartError,
    Listener,
    LoggedProcess,
    free_port,
    pid_alive,
    stop_pid,
    wait_for_ports,
    wait_until,
)

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def test_wait_until_returns_the_first_true_value() -> None:
    calls = iter([0, None, "", {"ready": 1}])
    assert wait_until(lambda: next(calls), 5, "readiness", interval=0) == {"ready": 1}


def test_wait_until_names_what_did_not_come() -> None:
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no group assignment within 0 s"):
        wait_until(lambda: False, 0.3, "group assignment", interval=0.05)
    assert 0.3 <= time.monotonic() - t0 < 3
    last = ["not yet"]
    with pytest.raises(TimeoutError, match=r"no brokers \(last: not yet\)"):
        wait_until(lambda: None, 0.1, lambda: f"brokers (last: {last[0]})", interval=0.05)


def test_wait_until_not_strict_returns_the_last_value() -> None:
    assert wait_until(lambda: [], 0.1, "records", interval=0.02, strict=False) == []


def test_logged_process_kill9_and_restart_append_to_one_log(tmp_path) -> None:
    proc = LoggedProcess(SLEEPER, tmp_path / "logs" / "p.log").start()
    try:
        wait_until(lambda: proc.logged("up"), 30, "first start")
        first = proc.pid
        proc.kill9()
        assert not proc.alive() and proc.proc is not None
        assert proc.proc.returncode == -signal.SIGKILL
        proc.start()
        wait_until(lambda: proc.logged("up") == 2, 30, "second start")
        assert proc.alive() and proc.pid != first
    finally:
        code = proc.stop(timeout=10)
    assert code == -signal.SIGTERM and not proc.alive()
    assert proc.log_tail(5).splitlines() == ["up", "up"]


def test_stop_pid_kills_what_ignores_sigterm(tmp_path) -> None:
    stubborn = LoggedProcess([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                              " print('up', flush=True); time.sleep(60)"], tmp_path / "s.log")
    stubborn.start()
    wait_until(lambda: stubborn.logged("up"), 30, "start")
    assert stubborn.proc is not None and stubborn.pid is not None
    assert stop_pid(stubborn.pid, timeout=0.5, proc=stubborn.proc) is False  # needed SIGKILL
    assert not pid_alive(stubborn.pid)


def test_wait_for_ports_reports_an_exited_process_with_its_log(tmp_path) -> None:
    log = tmp_path / "crash.log"
    crash = LoggedProcess([sys.executable, "-c", "print('bad config'); raise SystemExit(3)"],
                          log).start()
    with pytest.raises(BrokerStartError, match=r"(?s)broker exited with code 3.*bad config"):
        wait_for_ports([Listener(free_port(), crash.proc, "broker", log)], 30)


def test_wait_for_ports_times_out_on_a_closed_port(tmp_path) -> None:
    sleeper = LoggedProcess(SLEEPER, tmp_path / "s.log").start()
    try:
        with pytest.raises(BrokerStartError, match="no open port"):
            wait_for_ports([Listener(free_port(), sleeper.proc, "sleeper", sleeper.log)], 0.3)
    finally:
        sleeper.stop(timeout=10)


def test_a_new_session_stops_with_its_children(tmp_path) -> None:
    """A process tree (a shell and the child it started) stops whole: no orphan is left."""
    tree = LoggedProcess(["sh", "-c", "sleep 60 & echo child $! ; wait"], tmp_path / "t.log",
                         new_session=True).start()
    try:
        line = wait_until(lambda: [ln for ln in tree.read_log().splitlines()
                                   if ln.startswith("child ")], 30, "child started")[0]
        child = int(line.split()[1])
        assert pid_alive(child)
    finally:
        tree.stop(timeout=10)
    wait_until(lambda: not pid_alive(child), 10, f"exit of child {child}")
