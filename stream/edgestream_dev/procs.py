"""Process helpers for the development brokers, the tests, the benchmark and the demo.

One set, used everywhere: :func:`wait_until` (the one polling loop with a deadline), free
ports, waiting for ports (:func:`wait_for_ports`) and for brokers to answer metadata
(:func:`wait_for_brokers`), stopping a process by PID (SIGTERM, then SIGKILL), a subprocess
with its own log file (:class:`LoggedProcess`: start, stop gracefully, kill -9, start again)
and the context-manager base of the local brokers. No pytest imports: ``make demo`` uses this
module too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from edgestream.doors.kafka.admin import describe_cluster, port_is_open

T = TypeVar("T")


class BrokerStartError(RuntimeError):
    """A local broker process exited or did not become ready in time."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.2,
    strict: bool = True,
) -> T:
    """Call ``predicate`` until it returns something true; return that value.

    ``predicate`` may do the work itself (a consumer poll that blocks for a while), then
    ``interval`` can be 0. When ``timeout`` seconds pass: raise :class:`TimeoutError`
    naming ``what`` (a callable gives the message at that time, e.g. the last error), or,
    with ``strict=False``, return the last (false) value, for callers that take what came.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            if not strict:
                return value
            text = what() if callable(what) else what
            raise TimeoutError(f"no {text} within {timeout:.0f} s")
        if interval:
            time.sleep(interval)


# --------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ports_free(ports: list[int], host: str = "127.0.0.1") -> bool:
    """True when every port in ``ports`` can be bound now."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


@dataclass
class Listener:
    """A port that a starting process should open: which process, named how, logging where."""

    port: int
    proc: subprocess.Popen[bytes] | None = None
    name: str = "process"
    log: Path | None = None


def wait_for_ports(listeners: Sequence[Listener], timeout: float, host: str = "127.0.0.1"
                   ) -> None:
    """Wait until every listener's port accepts connections (they start in parallel); raise
    :class:`BrokerStartError` with the tail of its log as soon as one process exits, or for
    the first still closed when ``timeout`` passes."""
    pending = list(listeners)

    def all_open() -> bool:
        for item in list(pending):
            if port_is_open(host, item.port, timeout=0.2):
                pending.remove(item)
            elif item.proc is not None and item.proc.poll() is not None:
                raise BrokerStartError(
                    f"{item.name} exited with code {item.proc.returncode}; "
                    f"log {item.log}:\n{log_tail(item.log)}"
                )
        return not pending

    try:
        wait_until(all_open, timeout, lambda: f"open port {[i.port for i in pending]} of "
                   f"{[i.name for i in pending]}", interval=0.05)
    except TimeoutError as exc:
        raise BrokerStartError(f"{exc}; log {pending[0].log}:\n{log_tail(pending[0].log)}"
                               ) from None


def wait_for_brokers(
    bootstrap: str,
    brokers: int = 1,
    timeout: float = 120.0,
    node_ids: Iterable[int] = (),
) -> dict[str, Any]:
    """Ask for metadata until ``brokers`` live brokers (and every id in ``node_ids``) are
    listed. Brokers the controller reports as fenced do not count. Returns the cluster
    metadata; raises :class:`TimeoutError` with the last answer or error at the deadline."""
    wanted = set(node_ids)
    deadline = time.monotonic() + timeout
    last: list[object] = [None]

    def ready() -> dict[str, Any] | None:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            meta = describe_cluster(bootstrap, timeout=min(10.0, remaining))
        except Exception as exc:  # NoBrokersAvailable, timeouts, ... while the broker boots
            last[0] = exc
            return None
        live = {b["broker_id"] for b in meta.get("brokers", []) if not b.get("is_fenced")}
        last[0] = meta
        return meta if len(live) >= brokers and wanted <= live else None

    return wait_until(ready, timeout, lambda: f"{brokers} live Kafka broker(s) "
                      f"{sorted(wanted) or ''} at {bootstrap} (last: {last[0]!r})")


class BrokerProcess(ABC):
    """What the local brokers share: ``with broker:`` starts it (unless running) and stops
    it at the end."""

    @abstractmethod
    def start(self) -> Self:
        """Launch and wait until ready."""

    @abstractmethod
    def stop(self) -> None:
        """Stop every process of the broker (safe to call twice)."""

    @abstractmethod
    def is_running(self) -> bool:
        """True while the broker's processes run."""

    def __enter__(self) -> Self:
        return self if self.is_running() else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --------------------------------------------------------------------------- PIDs


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def stop_pid(
    pid: int,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    sig: int = signal.SIGTERM,
    tree: bool = False,
) -> bool:
    """Send ``sig`` (SIGTERM) to ``pid``, wait up to ``timeout`` s, then SIGKILL.

    ``tree``: ``pid`` leads its own session (started with ``start_new_session``), and every
    process of its group gets the signals, so no child it started outlives it. ``proc`` (our
    own child) is reaped. Returns True when the process ended on ``sig`` without SIGKILL.
    """
    send = os.killpg if tree else os.kill
    try:
        send(pid, sig)
    except ProcessLookupError:
        if proc is not None:
            proc.wait()
        return True
    if _wait_gone(pid, timeout, proc):
        if tree:  # children that outlived the leader's exit
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        return True
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)
    _wait_gone(pid, 10.0, proc)
    return False


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    return bool(wait_until(lambda: not pid_alive(pid), timeout, f"exit of pid {pid}",
                           interval=0.1, strict=False))


def log_tail(path: Path | None, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when missing)."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- processes


class LoggedProcess:
    """A subprocess whose stdout and stderr go to (the end of) one log file.

    ``start()`` may be called again after ``kill9()``/``stop()``: the same command starts
    anew and appends to the same log, as a supervisor restarting a crashed service would.
    With ``new_session`` it leads a session of its own, and stopping it stops its whole
    process tree (its children too).
    """

    def __init__(
        self,
        cmd: Sequence[str],
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        new_session: bool = False,
    ) -> None:
        self.cmd, self.log, self.cwd = list(cmd), Path(log), cwd
        self.env = dict(env) if env is not None else None
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Launch the command (its output appended to ``log``)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, env=self.env, start_new_session=self.new_session,
            )
        return self

    @property
    def pid(self) -> int | None:
        """PID of the last start, or None before any."""
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL (a crash), then reap."""
        if self.alive():
            assert self.proc is not None
            stop_pid(self.proc.pid, 10.0, proc=self.proc, sig=signal.SIGKILL,
                     tree=self.new_session)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, SIGKILL after ``timeout`` s; the exit code (None if never started)."""
        if self.alive():
            assert self.proc is not None
            stop_pid(self.proc.pid, timeout, proc=self.proc, tree=self.new_session)
        return self.proc.returncode if self.proc is not None else None

    def read_log(self) -> str:
        """The whole log so far ('' when missing)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def logged(self, text: str) -> int:
        """How many times ``text`` appears in the log."""
        return self.read_log().count(text)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the log."""
        return log_tail(self.log, lines)
