"""librdkafka keys (what a facility's kafka.yml and ``kafka.client`` use) as kafka-python
arguments or KafkaSettings fields: the table, and the conversion and check of each value.
A converter raises ValueError naming what it allows; facility.translate names the source."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgestream.config.typed import boolean


def _text(v: Any) -> str:
    return str(v).strip()


def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("a whole number")
    return int(str(v).strip())


def _protocol(v: Any) -> str:
    text = str(v).strip().upper()  # librdkafka accepts lower case
    if text not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise ValueError("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    return text


def _mechanism(v: Any) -> str:
    text = str(v).strip().upper()
    if "," in text or " " in text:  # librdkafka's plural key names one mechanism in practice
        raise ValueError("one mechanism (kafka-python uses one)")
    if text in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        return text
    if text == "GSSAPI":
        if importlib.util.find_spec("gssapi") is None:
            raise ValueError("GSSAPI needs the gssapi package (pip install gssapi)")
        return text
    if text == "OAUTHBEARER":
        raise ValueError("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI: OAUTHBEARER needs a "
                         "token provider object, which a file cannot give kafka-python")
    raise ValueError("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI")


def _offset_reset(v: Any) -> str:
    text = str(v).strip().lower()
    if text in ("earliest", "smallest", "beginning"):
        return "earliest"
    if text in ("latest", "largest", "end"):
        return "latest"
    raise ValueError("earliest or latest (smallest/beginning, largest/end)")


CODEC_PACKAGES = {"gzip": None, "snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}


def _codec(v: Any) -> str | None:
    text = str(v).strip().lower()
    if text in ("none", ""):
        return None
    if text not in CODEC_PACKAGES:
        raise ValueError("none, gzip, snappy, lz4 or zstd")
    from kafka import codec

    # The documents of a topic written with this codec must be decoded by our consumer too
    if not getattr(codec, f"has_{text}")():
        raise ValueError(f"{text} needs the {CODEC_PACKAGES[text]} package "
                         f"(pip install {CODEC_PACKAGES[text]})")
    return text


def _acks(v: Any) -> str:
    text = str(v).strip().lower()
    if text in ("all", "-1"):
        return "all"
    if text in ("0", "1"):
        return text
    raise ValueError("all, -1, 0 or 1")


def _ca_location(v: Any) -> str | None:
    text = str(v).strip()
    if text == "probe":  # librdkafka: the system's CA certificates, as kafka-python's default
        return None
    if Path(text).is_dir():
        raise ValueError("a CA file (kafka-python reads one PEM file, not a directory; "
                         "concatenate the certificates into one file)")
    return text


@dataclass(frozen=True)
class Key:
    """Where a librdkafka key goes: a kafka-python argument or a KafkaSettings field."""

    target: str
    convert: Callable[[Any], Any] = _text
    setting: bool = False  # a KafkaSettings field rather than a client argument


SECURITY_KEYS: dict[str, Key] = {
    "security.protocol": Key("security_protocol", _protocol),
    "sasl.mechanism": Key("sasl_mechanism", _mechanism),
    "sasl.mechanisms": Key("sasl_mechanism", _mechanism),
    "sasl.username": Key("sasl_plain_username"),
    "sasl.password": Key("sasl_plain_password"),
    "sasl.kerberos.service.name": Key("sasl_kerberos_service_name"),
    "ssl.ca.location": Key("ssl_cafile", _ca_location),
    "ssl.certificate.location": Key("ssl_certfile"),
    "ssl.key.location": Key("ssl_keyfile"),
    "ssl.key.password": Key("ssl_password"),
    "ssl.crl.location": Key("ssl_crlfile"),
    "ssl.cipher.suites": Key("ssl_ciphers"),
    "ssl.endpoint.identification.algorithm": Key(
        "ssl_check_hostname", lambda v: str(v).strip().lower() == "https"),
    # Not a kafka-python argument: clients.make_ssl_context turns False into CERT_NONE
    "enable.ssl.certificate.verification": Key("ssl_verify_certificate", boolean),
}

CLIENT_KEYS: dict[str, Key] = {
    "client.id": Key("client_id"),
    "client.rack": Key("client_rack"),
    "client.dns.lookup": Key("client_dns_lookup"),
    "request.timeout.ms": Key("request_timeout_ms", _int),
    "reconnect.backoff.ms": Key("reconnect_backoff_ms", _int),
    "reconnect.backoff.max.ms": Key("reconnect_backoff_max_ms", _int),
    "retry.backoff.ms": Key("retry_backoff_ms", _int),
    "metadata.max.age.ms": Key("metadata_max_age_ms", _int),
    "topic.metadata.refresh.interval.ms": Key("metadata_max_age_ms", _int),
    "connections.max.idle.ms": Key("connections_max_idle_ms", _int),
    "socket.send.buffer.bytes": Key("send_buffer_bytes", _int),
    "socket.receive.buffer.bytes": Key("receive_buffer_bytes", _int),
    "receive.message.max.bytes": Key("receive_message_max_bytes", _int),
    "max.in.flight.requests.per.connection": Key("max_in_flight_requests_per_connection", _int),
    "max.in.flight": Key("max_in_flight_requests_per_connection", _int),
    "allow.auto.create.topics": Key("allow_auto_create_topics", boolean),
    # consumer
    "auto.offset.reset": Key("auto_offset_reset", _offset_reset, setting=True),
    "session.timeout.ms": Key("session_timeout_ms", _int, setting=True),
    "heartbeat.interval.ms": Key("heartbeat_interval_ms", _int, setting=True),
    "max.poll.interval.ms": Key("max_poll_interval_ms", _int),
    "fetch.min.bytes": Key("fetch_min_bytes", _int),
    "fetch.wait.max.ms": Key("fetch_max_wait_ms", _int),
    "fetch.max.bytes": Key("fetch_max_bytes", _int),
    "max.partition.fetch.bytes": Key("max_partition_fetch_bytes", _int),
    "isolation.level": Key("isolation_level"),
    "group.instance.id": Key("group_instance_id"),
    "check.crcs": Key("check_crcs", boolean),
    # producer
    "compression.codec": Key("compression_type", _codec),
    "compression.type": Key("compression_type", _codec),
    "linger.ms": Key("linger_ms", _int),
    "queue.buffering.max.ms": Key("linger_ms", _int),
    "batch.size": Key("batch_size", _int),
    "message.max.bytes": Key("max_request_size", _int),
    "message.timeout.ms": Key("delivery_timeout_ms", _int),
    "delivery.timeout.ms": Key("delivery_timeout_ms", _int),
    "retries": Key("retries", _int),
    "message.send.max.retries": Key("retries", _int),
    "enable.idempotence": Key("enable_idempotence", boolean),
    "transaction.timeout.ms": Key("transaction_timeout_ms", _int),
    "transactional.id": Key("transactional_id", setting=True),
    "acks": Key("acks", _acks),
    "request.required.acks": Key("acks", _acks),
}

# Keys edgestream reads but does not apply, and why (a person reading the log can act on it)
NOT_APPLIED = {
    "group.id": "each edgestream consumer names its group (kafka.group_id)",
    "enable.auto.commit": "edgestream commits offsets itself, after the outputs are "
                          "acknowledged",
    "auto.commit.interval.ms": "edgestream commits offsets itself",
    "enable.auto.offset.store": "edgestream commits offsets itself",
}
ACKS_NOTE = ("edgestream's producer keeps acks=all: offsets are committed only after every "
             "output is acknowledged by the in-sync replicas")


def is_security_key(key: str) -> bool:
    return key.startswith(("security.", "sasl.", "ssl.", "enable.ssl."))


# kafka-python names that are KafkaSettings fields: given in kafka.client they would be
# overridden by the field when the client is made, so they set the field instead
SETTING_NAMES = {"bootstrap_servers", "group_id", "auto_offset_reset", "session_timeout_ms",
                 "heartbeat_interval_ms", "max_poll_records", "transactional_id"}
# kafka-python names whose values are checked as their librdkafka keys' are
CHECKED_NAMES = {"security_protocol": _protocol, "sasl_mechanism": _mechanism,
                 "compression_type": _codec, "auto_offset_reset": _offset_reset}
