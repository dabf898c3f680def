"""Small Kafka admin helpers shared by the service, the demo, the tests and the local brokers.

Everything here speaks the plain Kafka protocol through kafka-python, so it works against the
embedded Tansu broker, a local Apache Kafka and a facility cluster alike. Waiting for a local
broker to come up is development-only: :func:`edgestream_dev.procs.wait_for_brokers`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Consumer-group settings for tests and the embedded demo (pass as ``KafkaConsumer(**...)``).
#: With kafka-python's defaults (session 45 s, heartbeat 3 s) a group join on Tansu takes ~23 s;
#: with these it takes ~3 s. 6000 ms is also Apache Kafka's default
#: ``group.min.session.timeout.ms``, so these work against an unmodified broker. Production
#: consumers should keep them configurable rather than hard-code them.
FAST_GROUP_SETTINGS: dict[str, int] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}

#: Kafka error code for TopicAlreadyExists (ignored by :func:`create_topics`).
_TOPIC_ALREADY_EXISTS = 36


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``"h1:p1,h2:p2"`` -> ``[("h1", p1), ("h2", p2)]``."""
    out = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def describe_cluster(bootstrap: str, timeout: float = 10.0) -> dict[str, Any]:
    """One metadata round trip: ``{"brokers": [...], "cluster_id": ..., "controller_id": ...}``.

    Raises a kafka-python error (e.g. ``NoBrokersAvailable``) when the broker does not answer.
    """
    from kafka import KafkaAdminClient

    ms = max(1000, int(timeout * 1000))
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="edgestream-admin",
        request_timeout_ms=ms,
        bootstrap_timeout_ms=ms,
    )
    try:
        return admin.describe_cluster()
    finally:
        admin.close()


def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 1,
    replication: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create topics (idempotent: existing ones are left alone) and wait until they have leaders.

    Returns the names that were newly created. Raises the kafka-python error for any other
    failure (e.g. a replication factor larger than the cluster).
    """
    import kafka.errors as errors
    from kafka import KafkaAdminClient

    names = list(dict.fromkeys(names))
    if not names:
        return []
    spec = {
        name: {
            "num_partitions": partitions,
            "replication_factor": replication,
            "configs": {k: str(v) for k, v in (config or {}).items()},
        }
        for name in names
    }
    ms = int(timeout * 1000)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="edgestream-admin", request_timeout_ms=ms
    )
    try:
        result = admin.create_topics(spec, timeout_ms=ms, raise_errors=False)
        created = []
        for topic in result["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code != _TOPIC_ALREADY_EXISTS:
                err = errors.for_code(code)
                raise err(f"creating topic {topic['name']!r}: {topic.get('error_message')}")
        admin.wait_for_topics(names, timeout_ms=ms)
        log.debug("topics created=%s existing=%s", created, sorted(set(names) - set(created)))
        return created
    finally:
        admin.close()
