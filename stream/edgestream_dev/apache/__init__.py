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

Modules: :mod:`.jars` (fetch the jars, find java, ``data/`` with pom.xml and log4j2.yaml),
:mod:`.config` (ports, server.properties), :mod:`.cluster` (:class:`ApacheKafka`),
:mod:`.cli` (the command line).
"""

from edgestream_dev.apache.cli import main
from edgestream_dev.apache.cluster import ApacheKafka
from edgestream_dev.apache.config import (
    HOST,
    default_base_port,
    free_base_port,
    node_ports,
    random_cluster_id,
    sasl_plain_properties,
    server_properties,
    write_properties,
)
from edgestream_dev.apache.jars import (
    CONFIG_ENV,
    HEAP,
    JVM_OPTS,
    KAFKA_VERSION,
    TOOL_JVM_OPTS,
    VERSION_ENV,
    KafkaSetupError,
    cache_dir,
    config_dir,
    fetch,
    find_java,
    is_fetched,
    java_command,
    lib_dir,
)
from edgestream_dev.procs import BrokerStartError

__all__ = [
    "CONFIG_ENV",
    "HEAP",
    "HOST",
    "JVM_OPTS",
    "KAFKA_VERSION",
    "TOOL_JVM_OPTS",
    "VERSION_ENV",
    "ApacheKafka",
    "BrokerStartError",
    "KafkaSetupError",
    "cache_dir",
    "config_dir",
    "default_base_port",
    "fetch",
    "find_java",
    "free_base_port",
    "is_fetched",
    "java_command",
    "lib_dir",
    "main",
    "node_ports",
    "random_cluster_id",
    "sasl_plain_properties",
    "server_properties",
    "write_properties",
]
