"""kafka-python clients from Settings: identity as named arguments, the rest passed through."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from edgestream.settings import KafkaSettings

# Keys that only make sense for one client type; the shared ``client`` dict may hold both.
CONSUMER_ONLY = {"fetch_max_bytes", "max_partition_fetch_bytes", "isolation_level",
                 "fetch_min_bytes", "fetch_max_wait_ms", "max_poll_interval_ms"}
PRODUCER_ONLY = {"acks", "linger_ms", "batch_size", "compression_type", "max_request_size",
                 "enable_idempotence", "transactional_id", "retries", "buffer_memory"}


# Defaults a facility may override through ``kafka.client``. kafka-python backs off up to
# 30 s between reconnects by default: after a broker restart the service would sit idle
# that long. The Java client's 1 s maximum lets it resume within seconds.
TUNABLE_DEFAULTS = {"reconnect_backoff_max_ms": 1000, "retry_backoff_ms": 100}
# A fetch that finds one partition empty waits up to fetch_max_wait_ms on the broker (500 ms
# by default) before the data of the others come back: that was the p99 latency at 100
# spectra/s. 20 ms costs a few idle fetches per second per broker.
CONSUMER_DEFAULTS = {"fetch_max_wait_ms": 20}
# An annotation is 10-30 kB (the normalized spectrum): with the 16 kB default every one went
# in a request of its own, and flushing 100 took 264 ms on Apache Kafka (acks=all); in 1 MB
# batches, 14-31 ms.
PRODUCER_DEFAULTS = {"batch_size": 1 << 20}


def _common(k: KafkaSettings, drop: set[str]) -> dict[str, Any]:
    return TUNABLE_DEFAULTS | {key: v for key, v in k.client.items() if key not in drop}


def make_consumer(k: KafkaSettings, **extra: Any) -> KafkaConsumer:
    """A consumer with manual commits: offsets move only after annotations are acknowledged."""
    kwargs = CONSUMER_DEFAULTS | _common(k, PRODUCER_ONLY) | {
        "bootstrap_servers": k.bootstrap_servers.split(","),
        "group_id": k.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": k.auto_offset_reset,
        "session_timeout_ms": k.session_timeout_ms,
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_records": k.max_poll_records,
        # Bounded fetch buffers keep memory flat under a burst (the lag grows instead);
        # a larger message (a big spectrum-image row) is still fetched, alone.
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 16 * 1024 * 1024,
        # The pattern subscription must see topics created after start-up quickly.
        "metadata_max_age_ms": 5000,
    }
    return KafkaConsumer(**(kwargs | extra))


def make_producer(k: KafkaSettings, **extra: Any) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    kwargs = PRODUCER_DEFAULTS | _common(k, CONSUMER_ONLY) | {
        "bootstrap_servers": k.bootstrap_servers.split(","),
        "acks": "all",
        "linger_ms": 5,
        "max_request_size": 16 * 1024 * 1024,
    }
    return KafkaProducer(**(kwargs | extra))
