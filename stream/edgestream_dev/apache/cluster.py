"""One Apache Kafka KRaft node or a three-node cluster on 127.0.0.1: format, start, stop,
kill and restart nodes (the fault tests), re-attach to a cluster the CLI started."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

from edgestream.doors.kafka.admin import port_is_open
from edgestream_dev.apache.config import (
    HOST,
    default_base_port,
    node_ports,
    random_cluster_id,
    sasl_plain_properties,
    server_properties,
    write_properties,
)
from edgestream_dev.apache.jars import (
    HEAP,
    KAFKA_VERSION,
    KafkaSetupError,
    fetch,
    java_command,
)
from edgestream_dev.procs import (
    BrokerProcess,
    BrokerStartError,
    Listener,
    log_tail,
    pid_alive,
    stop_pid,
    wait_for_brokers,
    wait_for_ports,
)


@dataclass
class _Node:
    node_id: int
    dir: Path
    client_port: int
    controller_port: int
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def properties(self) -> Path:
        return self.dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.dir / "kafka.pid"

    @property
    def log_path(self) -> Path:
        return self.dir / "kafka.log"

    def saved_pid(self) -> int | None:
        """The PID from kafka.pid if that process is still this node's JVM."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return pid  # no /proc: trust the PID file
        return pid if str(self.properties) in cmdline else None


class ApacheKafka(BrokerProcess):
    """One KRaft node (combined broker + controller) or a three-node cluster on 127.0.0.1.

    ``workdir`` holds the data and logs (a fresh temporary folder when None). ``base_port``
    None means the defaults (9092 / 9192); tests pass :func:`free_base_port`. ``detach=True``
    starts the JVMs in their own session and does not stop them at interpreter exit (the CLI).
    """

    kind = "apache"

    def __init__(
        self,
        version: str = KAFKA_VERSION,
        workdir: str | os.PathLike[str] | None = None,
        nodes: int = 1,
        base_port: int | None = None,
        heap: str | None = None,
        detach: bool = False,
        stop_timeout: float = 30.0,
        sasl_users: Mapping[str, str] | None = None,
        sasl_tls: Mapping[str, str] | None = None,
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError("nodes must be 1 or 3")
        self.version = version
        # Single node only: a SASL/PLAIN listener on client port + 2 with these accounts.
        self.sasl_users = dict(sasl_users or {})
        # With sasl_tls (the broker's keystore settings) that listener is SASL_SSL.
        self.sasl_tls = dict(sasl_tls or {})
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="edgestream-kafka-")).resolve()
        self.nodes = nodes
        if base_port is None:  # a workdir used before keeps its ports (and its data)
            saved = self._saved_state()
            same = saved.get("nodes") == nodes
            base_port = int(saved["base_port"]) if same else default_base_port(nodes)
        self.base_port = base_port
        self.heap = heap or HEAP[nodes]
        self.detach = detach
        self.stop_timeout = stop_timeout
        self.started_in_s: float | None = None
        self.fetched_in_s: float | None = None
        self.cluster_id: str | None = None
        self._nodes = {
            n: _Node(n, self.workdir / f"node-{n}", *node_ports(n, self.base_port))
            for n in range(1, nodes + 1)
        }
        self._atexit = False

    def _saved_state(self) -> dict[str, Any]:
        state = self.workdir / "cluster.json"
        return json.loads(state.read_text()) if state.is_file() else {}

    # ----------------------------------------------------------------- properties

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:P1[,127.0.0.1:P2,...]"``: the client ports of all nodes."""
        return ",".join(f"{HOST}:{node.client_port}" for node in self._nodes.values())

    @property
    def node_ids(self) -> list[int]:
        """The node ids (1..nodes)."""
        return list(self._nodes)

    def node_bootstrap(self, node_id: int) -> str:
        """``"127.0.0.1:P"`` of one node."""
        return f"{HOST}:{self._node(node_id).client_port}"

    def log_path(self, node_id: int = 1) -> Path:
        """The stdout log of one node."""
        return self._node(node_id).log_path

    def pid(self, node_id: int = 1) -> int | None:
        """PID of a running node, or None."""
        node = self._node(node_id)
        if node.proc is not None and node.proc.poll() is None:
            return node.proc.pid
        return node.saved_pid()

    def _node(self, node_id: int) -> _Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise ValueError(f"no node {node_id}; nodes are {self.node_ids}") from None

    # ----------------------------------------------------------------- lifecycle

    def fetch(self, quiet: bool = True) -> Path:
        """Jars into the cache (no-op when present); sets ``fetched_in_s`` when it fetched."""
        lib, seconds = fetch(self.version, quiet=quiet)
        if seconds is not None:
            self.fetched_in_s = seconds
        return lib

    def java_command(self, main: str, *args: str, tool: bool = False) -> list[str]:
        """``java ... -cp lib/* <main> args`` (a broker JVM, or a short-lived ``tool``)."""
        return java_command(self.version, main, *args, heap=None if tool else self.heap)

    def _prepare(self) -> None:
        """Write cluster.json and every node's server.properties."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        saved = self._saved_state()
        if saved and (saved.get("nodes"), saved.get("base_port")) != (self.nodes, self.base_port):
            raise KafkaSetupError(
                f"{self.workdir} holds a different cluster ({saved}); use another workdir"
            )
        self.cluster_id = str(saved.get("cluster_id") or random_cluster_id())
        (self.workdir / "cluster.json").write_text(
            json.dumps(
                {
                    "version": self.version,
                    "nodes": self.nodes,
                    "base_port": self.base_port,
                    "cluster_id": self.cluster_id,
                    "bootstrap_servers": self.bootstrap_servers,
                },
                indent=2,
            )
        )
        for node in self._nodes.values():
            (node.dir / "data").mkdir(parents=True, exist_ok=True)
            props = server_properties(node.node_id, self.nodes, self.base_port, node.dir / "data")
            if self.sasl_users:
                props = sasl_plain_properties(props, self.sasl_port, self.sasl_users,
                                              self.sasl_tls)
            write_properties(node.properties, props)

    def _format(self) -> None:
        """kafka.tools.StorageTool format on every node, in parallel (idempotent)."""
        assert self.cluster_id is not None
        quorum = ["--standalone"] if self.nodes == 1 else []
        procs = []
        for node in self._nodes.values():
            cmd = self.java_command(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(node.properties),
                *quorum,
                "--ignore-formatted",
                tool=True,
            )
            out = open(node.dir / "format.log", "wb")  # noqa: SIM115 - closed below
            procs.append((node, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out))
        failed = []
        for node, proc, out in procs:
            rc = proc.wait(timeout=120)
            out.close()
            if rc != 0:
                failed.append(f"node {node.node_id}:\n{log_tail(node.dir / 'format.log')}")
        if failed:
            raise KafkaSetupError("storage format failed:\n" + "\n".join(failed))

    def _launch(self, node: _Node) -> None:
        if node.saved_pid() is not None:
            raise KafkaSetupError(f"node {node.node_id} already runs (pid {node.saved_pid()})")
        for port in (node.client_port, node.controller_port):
            if port_is_open(HOST, port, timeout=0.2):
                raise BrokerStartError(f"port {port} of node {node.node_id} is already in use")
        cmd = self.java_command("kafka.Kafka", str(node.properties))
        node.log = open(node.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        node.log.write(f"\n==== edgestream start {time.strftime('%F %T')}\n".encode())
        node.log.flush()
        node.proc = subprocess.Popen(
            cmd,
            stdout=node.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=node.dir,
            start_new_session=self.detach,
        )
        node.pid_file.write_text(f"{node.proc.pid}\n")
        if not self.detach and not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    def _wait_ports(self, nodes: list[_Node], deadline: float) -> None:
        wait_for_ports([Listener(n.client_port, n.proc, f"Kafka node {n.node_id}", n.log_path)
                        for n in nodes], max(0.0, deadline - time.monotonic()), HOST)

    def start(self, timeout: float = 120.0) -> Self:
        """Fetch (cached), format, start every node and wait until all answer metadata.

        ``started_in_s`` measures format + start until ready (not the fetch).
        """
        running = {n: pid for n in self._nodes if (pid := self.pid(n)) is not None}
        if running:  # checked before anything else: the clean-up below would stop them
            raise KafkaSetupError(f"{self.workdir} already runs node(s) {running} (node: pid)")
        self.fetch()
        t0 = time.monotonic()
        deadline = t0 + timeout
        self._prepare()
        self._format()
        try:
            for node in self._nodes.values():
                self._launch(node)
            self._wait_ports(list(self._nodes.values()), deadline)
            wait_for_brokers(
                self.bootstrap_servers, self.nodes, timeout=max(1.0, deadline - time.monotonic())
            )
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """SIGTERM every node by PID (all at once), SIGKILL after ``stop_timeout``."""
        with contextlib.suppress(ValueError):
            atexit.unregister(self.stop)
        self._atexit = False
        targets = [(node, node.proc) for node in self._nodes.values()]
        pids = {}
        for node, proc in targets:
            pid = proc.pid if proc is not None and proc.poll() is None else node.saved_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                pids[node.node_id] = pid
        # All nodes got SIGTERM together: stopping them one by one can leave the last ones
        # waiting for a controller quorum that no longer exists.
        for node, proc in targets:
            pid = pids.get(node.node_id)
            if pid is not None:
                stop_pid(pid, self.stop_timeout, proc=proc if proc and proc.pid == pid else None)
            self._reap(node)

    def _reap(self, node: _Node) -> None:
        if node.proc is not None and node.proc.poll() is not None:
            node.proc = None
        if node.proc is None:
            node.pid_file.unlink(missing_ok=True)
        if node.log is not None and node.proc is None:
            node.log.close()
            node.log = None

    def kill_node(self, node_id: int, graceful: bool = False) -> None:
        """Stop one node: SIGKILL (a crash) by default, SIGTERM + wait when ``graceful``."""
        node = self._node(node_id)
        pid = self.pid(node_id)
        if pid is not None:
            proc = node.proc if node.proc is not None and node.proc.pid == pid else None
            if graceful:
                stop_pid(pid, self.stop_timeout, proc=proc)
            else:
                stop_pid(pid, 10.0, proc=proc, sig=signal.SIGKILL)
        self._reap(node)

    def restart_node(self, node_id: int, timeout: float = 120.0) -> float:
        """Start a stopped node again (its data kept); returns seconds until it is unfenced."""
        node = self._node(node_id)
        if self.pid(node_id) is not None:
            self.kill_node(node_id, graceful=True)
        t0 = time.monotonic()
        self._launch(node)
        self._wait_ports([node], t0 + timeout)
        wait_for_brokers(
            self.bootstrap_servers,
            node_ids=[node_id],
            timeout=max(1.0, t0 + timeout - time.monotonic()),
        )
        return time.monotonic() - t0

    def status(self) -> dict[int, dict[str, object]]:
        """Per node: pid (or None), whether its client port answers, ports, log."""
        return {
            node.node_id: {
                "pid": self.pid(node.node_id),
                "client_port": node.client_port,
                "controller_port": node.controller_port,
                "listening": port_is_open(HOST, node.client_port, timeout=0.2),
                "log": str(node.log_path),
            }
            for node in self._nodes.values()
        }

    def is_running(self) -> bool:
        """True when every node has a live process."""
        return all(self.pid(n) is not None for n in self._nodes)

    def __repr__(self) -> str:
        return (
            f"ApacheKafka(version={self.version!r}, nodes={self.nodes}, "
            f"bootstrap={self.bootstrap_servers!r}, workdir={str(self.workdir)!r})"
        )

    @property
    def sasl_bootstrap(self) -> str:
        return f"{HOST}:{self.sasl_port}"

    @property
    def sasl_port(self) -> int:
        return node_ports(1, self.base_port)[0] + 2

    @classmethod
    def from_workdir(cls, workdir: str | os.PathLike[str], **kwargs: object) -> ApacheKafka:
        """Re-attach to a cluster started earlier (e.g. by the CLI) from its cluster.json."""
        state = Path(workdir) / "cluster.json"
        if not state.is_file():
            raise KafkaSetupError(f"{state} not found: nothing was started in {workdir}")
        saved = json.loads(state.read_text())
        kafka = cls(
            version=saved["version"],
            workdir=workdir,
            nodes=saved["nodes"],
            base_port=saved["base_port"],
            **kwargs,  # type: ignore[arg-type]
        )
        kafka.cluster_id = saved.get("cluster_id")
        return kafka

