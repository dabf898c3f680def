"""The Apache Kafka broker's jars, fetched from Maven Central into the cache, and ``java``.

``data/pom.xml`` (package data, so it is found in an installed copy too) names the broker's
runtime closure; ``mvn dependency:copy-dependencies`` copies it into
``${EDGESTREAM_CACHE:-~/.cache/edgestream}/kafka/<version>/lib``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from edgestream.paths import cache_root

#: Default Apache Kafka version (4.1.1 is on Maven Central; 4.0.x works the same).
KAFKA_VERSION = "4.1.1"
#: Environment variable that overrides the version for the CLI and the tests.
VERSION_ENV = "EDGESTREAM_KAFKA_VERSION"
#: Environment variable naming another folder with ``pom.xml`` and ``log4j2.yaml``.
CONFIG_ENV = "EDGESTREAM_KAFKA_OPS"
_MARKER = ".edgestream-complete"
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


class KafkaSetupError(RuntimeError):
    """Missing Java/Maven, a failed jar fetch, or a broken work directory."""


def cache_dir() -> Path:
    """``$EDGESTREAM_CACHE`` or ``~/.cache/edgestream``."""
    return cache_root()


def lib_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of ``version`` are cached."""
    return cache_dir() / "kafka" / version / "lib"


def config_dir() -> Path:
    """The folder of ``pom.xml`` and ``log4j2.yaml``: this package's ``data/`` (shipped with
    it, so no source tree is needed); ``$EDGESTREAM_KAFKA_OPS`` wins."""
    env = os.environ.get(CONFIG_ENV)
    path = Path(env) if env else Path(str(resources.files("edgestream_dev.apache") / "data"))
    if not (path / "pom.xml").is_file():
        raise KafkaSetupError(
            f"{path}/pom.xml not found: reinstall edgestream-lab (stream/) "
            f"or set {CONFIG_ENV} to a folder holding pom.xml and log4j2.yaml"
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
            str(config_dir() / "pom.xml"),
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



def java_command(version: str, main: str, *args: str, heap: str | None = None) -> list[str]:
    """``java ... -cp lib/* <main> args``: a broker JVM with ``heap`` and the log4j2
    configuration, or without a heap a short-lived tool (no log4j2 configuration: the storage
    formatter then prints only its result and errors)."""
    java = find_java()
    if java is None:
        raise KafkaSetupError("java not found (install a JDK 17+ or set JAVA_HOME)")
    if heap is None:
        opts = TOOL_JVM_OPTS
    else:
        opts = [heap, *JVM_OPTS, f"-Dlog4j2.configurationFile={config_dir() / 'log4j2.yaml'}"]
    return [java, *opts, "-cp", str(lib_dir(version) / "*"), main, *args]
