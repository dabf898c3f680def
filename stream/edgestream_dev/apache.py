"""Apache Kafka (KRaft) on this machine, assembled from Maven Central jars: no tarball, no Docker.

The single source of truth for the broker set-up: ``ops/kafka/apache-kafka.sh`` only runs
``python -m edgestream_dev.apache``. Usage from Python::

    kafka = ApacheKafka(workdir="/tmp/k", nodes=1, base_port=29092)
    kafka.fetch()            # jars into ${EDGESTREAM_CACHE:-~/.cache/edgestream}/kafka/<v>/lib
    kafka.start()            # format + start + wait until ready; kafka.started_in_s
    kafka.bootstrap_servers  # "127.0.0.1:29092"
    kafka.stop()

Ports: node ``n`` (node.id, 1-based) listens for clients on ``base_port + 100*(n-1)`` and for
the controller quorum on that port + 1 (one node: 9092/9093; three: 9192/9193, 9292/9293,
9392/9393 by default). Per-node files live in ``<workdir>/node-<n>/``: ``server.properties``,
``data/`` (log.dirs), ``kafka.log`` (stdout+stderr), ``kafka.pid``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from edgestream.doors.kafka.admin import port_is_open, wait_for_brokers
from edgestream.paths import cache_root
from edgestream_dev.tansu import BrokerStartError, log_tail, pid_alive, ports_free, stop_pid

#: Default Apache Kafka version (4.1.1 is on Maven Central; 4.0.x works the same).
KAFKA_VERSION = "4.1.1"
#: Environment variable that overrides the version for the CLI and the tests.
VERSION_ENV = "EDGESTREAM_KAFKA_VERSION"
#: Host for every listener (never ``localhost``: it may resolve to ::1 first).
HOST = "127.0.0.1"
#: Heap per node, by cluster size.
HEAP = {1: "-Xmx768m", 3: "-Xmx512m"}
#: JVM flags from Kafka's kafka-run-class.sh (KAFKA_JVM_PERFORMANCE_OPTS).
JVM_OPTS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]
#: The storage formatter is a short-lived JVM: C1 only starts it faster.
TOOL_JVM_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]
_MARKER = ".edgestream-complete"


class KafkaSetupError(RuntimeError):
    """Missing Java/Maven, a failed jar fetch, or a broken work directory."""


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """``$EDGESTREAM_CACHE`` or ``~/.cache/edgestream``."""
    return cache_root()


def lib_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of ``version`` are cached."""
    return cache_dir() / "kafka" / version / "lib"


def ops_dir() -> Path:
    """``ops/kafka`` of the source tree (pom.xml, log4j2.yaml); ``$EDGESTREAM_KAFKA_OPS`` wins."""
    env = os.environ.get("EDGESTREAM_KAFKA_OPS")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "ops" / "kafka"
    if not (path / "pom.xml").is_file():
        raise KafkaSetupError(
            f"{path}/pom.xml not found: install edgestream editable from a clone "
            "or set EDGESTREAM_KAFKA_OPS to the ops/kafka folder"
        )
    return path


def find_java() -> str | None:
    """Path of ``java`` ($JAVA_HOME first, then PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def is_fetched(version: str = KAFKA_VERSION) -> bool:
    """True when the jars of ``version`` are complete in the cache."""
    lib = lib_dir(version)
    return (lib / _MARKER).is_file() and (lib / f"kafka_2.13-{version}.jar").is_file()


def fetch(version: str = KAFKA_VERSION, quiet: bool = True) -> tuple[Path, float | None]:
    """Copy the broker jars from Maven Central into the cache (a no-op when already there).

    Returns ``(lib_dir, seconds)``; ``seconds`` is None when nothing had to be fetched.
    """
    lib = lib_dir(version)
    if is_fetched(version):
        return lib, None
    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time (parallel test sessions)
        if is_fetched(version):
            return lib, None
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaSetupError(f"mvn (Maven) not found and {lib} is not populated")
        cmd = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(ops_dir() / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            f"-Dedgestream.kafka.lib={lib}",
        ]
        t0 = time.monotonic()
        res = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
        seconds = time.monotonic() - t0
        if res.returncode != 0:
            out = (res.stdout or "") + (res.stderr or "") if quiet else ""
            raise KafkaSetupError(f"{' '.join(cmd)} failed ({res.returncode}):\n{out[-4000:]}")
        if not (lib / f"kafka_2.13-{version}.jar").is_file():
            raise KafkaSetupError(f"Maven finished but {lib} lacks kafka_2.13-{version}.jar")
        jars = sorted(p.name for p in lib.glob("*.jar"))
        (lib / _MARKER).write_text("\n".join(jars) + "\n")
        return lib, seconds


# --------------------------------------------------------------------------- configuration


def node_ports(node_id: int, base_port: int) -> tuple[int, int]:
    """``(client_port, controller_port)`` of node ``node_id`` (1-based)."""
    client = base_port + 100 * (node_id - 1)
    return client, client + 1


def default_base_port(nodes: int) -> int:
    """9092 for one node (9092/9093), 9192 for three (9192/9193, 9292/9293, 9392/9393)."""
    return 9092 if nodes == 1 else 9192


def free_base_port(nodes: int = 1, low: int = 20000, high: int = 32000) -> int:
    """A base port whose client and controller ports are all free now.

    Picked below Linux's ephemeral range (32768+) so client sockets do not take them.
    """
    for _ in range(500):
        base = random.randrange(low, high - 100 * nodes)
        ports = [p for n in range(1, nodes + 1) for p in node_ports(n, base)]
        if ports_free(ports):
            return base
    raise KafkaSetupError(f"no free port block for {nodes} node(s) in {low}-{high}")


def server_properties(node_id: int, nodes: int, base_port: int, log_dir: Path) -> dict[str, str]:
    """server.properties of one KRaft node (combined broker + controller).

    One node: ``controller.quorum.bootstrap.servers`` (formatted ``--standalone``), replication
    factor 1 everywhere. Three nodes: static ``controller.quorum.voters``, internal topics at
    replication factor 3 with min.isr 2. Both tuned for fast tests (no initial rebalance delay,
    1 s minimum session timeout, few internal partitions).
    """
    if nodes not in (1, 3):
        raise ValueError("nodes must be 1 or 3")
    client, controller = node_ports(node_id, base_port)
    rf, isr = ("1", "1") if nodes == 1 else ("3", "2")
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir.resolve()),
        "num.partitions": "1",
        "default.replication.factor": rf,
        "min.insync.replicas": isr,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
        "share.coordinator.state.topic.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        "auto.create.topics.enable": "true",
    }
    if nodes == 1:
        props["controller.quorum.bootstrap.servers"] = f"{HOST}:{controller}"
    else:
        props["controller.quorum.voters"] = ",".join(
            f"{n}@{HOST}:{node_ports(n, base_port)[1]}" for n in range(1, nodes + 1)
        )
    return props


def sasl_plain_properties(props: Mapping[str, str], port: int,
                          users: Mapping[str, str],
                          tls: Mapping[str, str] | None = None) -> dict[str, str]:
    """Add a SASL listener with the PLAIN mechanism on ``port`` (security tests):
    SASL_PLAINTEXT, or SASL_SSL when ``tls`` gives the broker's keystore
    (``ssl.keystore.location``, ``ssl.keystore.password``, ``ssl.keystore.type``, ...)."""
    out = dict(props)
    protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    name = protocol.lower()
    listener = f"{protocol}://{HOST}:{port}"
    out["listeners"] += f",{listener}"
    out["advertised.listeners"] += f",{listener}"
    out["listener.security.protocol.map"] += f",{protocol}:{protocol}"
    out["sasl.enabled.mechanisms"] = "PLAIN"
    accounts = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    out[f"listener.name.{name}.plain.sasl.jaas.config"] = (
        f"org.apache.kafka.common.security.plain.PlainLoginModule required {accounts};"
    )
    for key, value in (tls or {}).items():
        out[f"listener.name.{name}.{key}"] = value
    return out


def write_properties(path: Path, props: Mapping[str, str]) -> None:
    """Write a Java properties file."""
    lines = ["# Generated by edgestream_dev.apache; edits are overwritten on start."]
    lines += [f"{k}={v}" for k, v in props.items()]
    path.write_text("\n".join(lines) + "\n")


def random_cluster_id() -> str:
    """A Kafka ``Uuid`` string (22-char URL-safe base64), like ``kafka-storage random-uuid``."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like command-line flags
            return text


# --------------------------------------------------------------------------- nodes


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


class ApacheKafka:
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
        """``java ... -cp lib/* <main> args``."""
        java = find_java()
        if java is None:
            raise KafkaSetupError("java not found (install a JDK 17+ or set JAVA_HOME)")
        if tool:  # no log4j2 config: the formatter then prints only its result and errors
            opts = TOOL_JVM_OPTS
        else:
            opts = [self.heap, *JVM_OPTS, f"-Dlog4j2.configurationFile={ops_dir() / 'log4j2.yaml'}"]
        return [
            java,
            *opts,
            "-cp",
            str(lib_dir(self.version) / "*"),
            main,
            *args,
        ]

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
        pending = list(nodes)
        while pending:
            for node in list(pending):
                if port_is_open(HOST, node.client_port, timeout=0.2):
                    pending.remove(node)
                elif node.proc is not None and node.proc.poll() is not None:
                    raise BrokerStartError(
                        f"Kafka node {node.node_id} exited with code {node.proc.returncode}; "
                        f"log {node.log_path}:\n{log_tail(node.log_path)}"
                    )
            if pending and time.monotonic() > deadline:
                ids = [n.node_id for n in pending]
                raise BrokerStartError(
                    f"Kafka node(s) {ids} did not open their client port in time; "
                    f"see {pending[0].log_path}:\n{log_tail(pending[0].log_path)}"
                )
            if pending:
                time.sleep(0.1)

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m edgestream_dev.apache fetch|start|stop|status|properties``."""
    parser = argparse.ArgumentParser(
        prog="apache-kafka.sh", description="Apache Kafka (KRaft) from Maven Central jars."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_fetch = sub.add_parser("fetch", help="copy the jars into the cache (no-op when there)")
    p_start = sub.add_parser("start", help="format + start in the background, wait until ready")
    p_stop = sub.add_parser("stop", help="SIGTERM by saved PID, SIGKILL after --timeout")
    p_status = sub.add_parser("status", help="exit 0 when every node runs and listens")
    p_props = sub.add_parser("properties", help="print a node's server.properties")
    for p in (p_fetch, p_start, p_props):
        p.add_argument("--version", default=os.environ.get(VERSION_ENV, KAFKA_VERSION))
    for p in (p_start, p_stop, p_status):
        p.add_argument("--workdir", "-d", required=True, help="data/log/pid folder")
    for p in (p_start, p_props):
        p.add_argument("--nodes", "-n", type=int, choices=(1, 3), default=1)
        p.add_argument(
            "--base-port",
            "-p",
            type=int,
            default=None,
            help="client port of node 1 (node n: +100*(n-1); controller: +1); "
            "default 9092 (one node) / 9192 (three); 0 picks free ports",
        )
    p_start.add_argument("--timeout", type=float, default=120.0, help="readiness timeout (s)")
    p_stop.add_argument("--timeout", type=float, default=30.0, help="SIGKILL after (s)")
    p_props.add_argument("--node", type=int, default=1)
    p_fetch.add_argument("--verbose", "-v", action="store_true", help="show Maven output")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "fetch":
            lib, seconds = fetch(args.version, quiet=not args.verbose)
            took = "already cached" if seconds is None else f"fetched in {seconds:.1f} s"
            print(f"Apache Kafka {args.version} jars: {lib} ({took})")
            return 0
        if args.cmd == "properties":
            base = args.base_port or default_base_port(args.nodes)
            props = server_properties(args.node, args.nodes, base, Path(f"node-{args.node}/data"))
            print("\n".join(f"{k}={v}" for k, v in props.items()))
            return 0
        if args.cmd == "start":
            base = args.base_port
            if base == 0:
                base = free_base_port(args.nodes)
            kafka = ApacheKafka(
                version=args.version,
                workdir=args.workdir,
                nodes=args.nodes,
                base_port=base,
                detach=True,
            )
            kafka.fetch(quiet=False)
            kafka.start(timeout=args.timeout)
            print(f"bootstrap_servers={kafka.bootstrap_servers}")
            print(
                f"Apache Kafka {kafka.version}: {kafka.nodes} node(s) ready in "
                f"{kafka.started_in_s:.1f} s; pids "
                f"{[kafka.pid(n) for n in kafka.node_ids]}; logs {kafka.workdir}/node-*/kafka.log",
                file=sys.stderr,
            )
            return 0
        kafka = ApacheKafka.from_workdir(args.workdir, stop_timeout=getattr(args, "timeout", 30))
        if args.cmd == "stop":
            kafka.stop()
            print(f"stopped {kafka.workdir}", file=sys.stderr)
            return 0
        status = kafka.status()
        ok = True
        for node_id, st in status.items():
            ok &= st["pid"] is not None and bool(st["listening"])
            print(
                f"node {node_id}: pid={st['pid']} port={st['client_port']} "
                f"listening={st['listening']} log={st['log']}"
            )
        print(f"bootstrap_servers={kafka.bootstrap_servers}")
        return 0 if ok else 1
    except (KafkaSetupError, BrokerStartError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
