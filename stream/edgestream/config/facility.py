"""A facility's Kafka configuration (``kafka.yml`` as nslsii lays it out) for kafka-python.

nslsii (``configure_kafka_publisher``) reads ``$BLUESKY_KAFKA_CONFIG_PATH`` or
``/etc/bluesky/kafka.yml``, with the sections ``bootstrap_servers`` (a list),
``abort_run_on_kafka_exception``, ``runengine_producer_config`` (librdkafka keys of the
RunEngine's producer), ``producer_consumer_security_config`` (SASL/TLS for every client),
``consumer_config`` and ``runengine_topics`` (``{endstation}`` templates). The keys are
librdkafka's (confluent-kafka); edgestream's clients are kafka-python's, so each key is
translated (the table is config.librdkafka), or named when kafka-python has no equivalent.
Security is never dropped: a security key that cannot be applied, or credentials the chosen
protocol would not use, stop the start with a configuration error.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgestream.config.librdkafka import (
    ACKS_NOTE,
    CHECKED_NAMES,
    CLIENT_KEYS,
    NOT_APPLIED,
    SECURITY_KEYS,
    SETTING_NAMES,
    is_security_key,
)
from edgestream.config.typed import KafkaConfigError

log = logging.getLogger(__name__)

FACILITY_KAFKA_YML = Path("/etc/bluesky/kafka.yml")
CONFIG_PATH_ENV = "BLUESKY_KAFKA_CONFIG_PATH"


@dataclass
class Translated:
    """librdkafka keys sorted into kafka-python client arguments and KafkaSettings fields."""

    client: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    not_applied: dict[str, str] = field(default_factory=dict)  # key -> why


def translate(config: Mapping[str, Any], source: str, only_security: bool = False
              ) -> Translated:
    """Translate librdkafka keys (kafka-python names pass through). Unsupported security
    keys raise; other unsupported keys are returned by name in ``not_applied``.

    ``only_security``: a section read for its security keys only (the RunEngine's producer
    settings); the rest is named as not applied.
    """
    out = Translated()
    for key, value in config.items():
        key = str(key)
        if key == "bootstrap.servers":
            out.settings["bootstrap_servers"] = servers(value, f"{source}: {key}")
            continue
        spec = SECURITY_KEYS.get(key)
        if spec is None and not only_security:
            spec = CLIENT_KEYS.get(key)
        if spec is None:
            if key in ("compression.codec", "compression.type"):
                spec = CLIENT_KEYS[key]  # the codec of the documents: checked, and ours too
            elif only_security and not is_security_key(key):
                out.not_applied[key] = (
                    f"{value}: {ACKS_NOTE}" if key in ("acks", "request.required.acks")
                    else "a setting of the RunEngine's producer, not of edgestream")
                continue
            elif "." not in key:  # already a kafka-python name (checked when clients are made)
                _kafka_python_name(key, value, source, out)
                continue
            elif key in NOT_APPLIED:
                out.not_applied[key] = NOT_APPLIED[key]
                continue
            elif is_security_key(key):
                raise KafkaConfigError(
                    f"{source}: {key} cannot be applied by kafka-python (supported security "
                    f"keys: {', '.join(sorted(SECURITY_KEYS))}); refusing to start without "
                    "the facility's security")
            else:
                out.not_applied[key] = "kafka-python has no equivalent"
                continue
        try:
            converted = spec.convert(value)
        except ValueError as exc:
            shown = "***" if "password" in key else repr(value)
            raise KafkaConfigError(f"{source}: {key}={shown}: expected {exc}") from None
        if spec.target == "acks":
            if converted != "all":
                out.not_applied[key] = f"{converted}: {ACKS_NOTE}"
            continue
        target = out.settings if spec.setting else out.client
        if spec.target in target and target[spec.target] != converted:
            raise KafkaConfigError(f"{source}: {key} contradicts another key for "
                                   f"{spec.target}")
        target[spec.target] = converted
    return out


def _kafka_python_name(key: str, value: Any, source: str, out: Translated) -> None:
    if key in ("acks", "enable_auto_commit"):
        out.not_applied[key] = ACKS_NOTE if key == "acks" else NOT_APPLIED["enable.auto.commit"]
        return
    if key in CHECKED_NAMES:
        try:
            value = CHECKED_NAMES[key](value)
        except ValueError as exc:
            raise KafkaConfigError(f"{source}: {key}={value!r}: expected {exc}") from None
    (out.settings if key in SETTING_NAMES else out.client)[key] = value


def servers(value: Any, where: str) -> str:
    """``host:port[,host:port]`` (or a list of them) as one comma-separated string."""
    items = value if isinstance(value, list) else str(value).split(",")
    servers = [str(s).strip() for s in items if str(s).strip()]
    for s in servers:
        host, _, port = s.rpartition(":")
        if not host or not port.isdigit():
            raise KafkaConfigError(f"{where}: {s!r}: expected host:port")
    if not servers:
        raise KafkaConfigError(f"{where}: no bootstrap server given")
    return ",".join(servers)


def config_path(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The facility file nslsii would read: ``explicit``, ``$BLUESKY_KAFKA_CONFIG_PATH``,
    then ``/etc/bluesky/kafka.yml``. The flag says whether the file must exist (named by the
    environment, as nslsii requires)."""
    if explicit:
        return Path(explicit), False
    if env.get(CONFIG_PATH_ENV):
        return Path(env[CONFIG_PATH_ENV]), True
    return FACILITY_KAFKA_YML, False


@dataclass
class Facility:
    """What a facility kafka.yml gives edgestream."""

    path: Path | None = None
    client: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    not_applied: dict[str, str] = field(default_factory=dict)


def read_kafka_yml(path: Path, required: bool = False) -> Facility:
    """Read a facility kafka.yml in the nslsii layout (or flat librdkafka keys)."""
    if not path.exists():
        if required:
            raise KafkaConfigError(f"{path}: facility Kafka file not found (named by "
                                   f"--kafka-yml or ${CONFIG_PATH_ENV})")
        return Facility()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KafkaConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, Mapping):
        raise KafkaConfigError(f"{path}: expected a mapping at top level")
    out = Facility(path=path)
    sections: list[tuple[str, Mapping[str, Any], bool]] = []
    for name in ("producer_consumer_security_config", "consumer_config"):
        sections.append((name, _section(raw, name, path), False))
    # The RunEngine's producer: its security keys are the facility's (nslsii merges the
    # security section into it) and its codec is the documents' codec; acks 0 and a 3 s
    # message timeout are right for a RunEngine that must not block, not for our outputs.
    sections.append(("runengine_producer_config",
                     _section(raw, "runengine_producer_config", path), True))
    flat = {k: v for k, v in raw.items() if isinstance(k, str) and "." in k}
    sections.append(("top level", flat, False))
    for name, section, only_security in sections:
        t = translate(section, f"{path}: {name}", only_security=only_security)
        for key, value in t.client.items():
            if key in out.client and out.client[key] != value:
                raise KafkaConfigError(f"{path}: {name} sets {key} differently from an "
                                       "earlier section")
            out.client[key] = value
        for key, value in t.settings.items():
            out.settings.setdefault(key, value)
        out.not_applied |= {f"{name}: {k}": why for k, why in t.not_applied.items()}
    if "bootstrap_servers" in raw:
        out.settings["bootstrap_servers"] = servers(raw["bootstrap_servers"],
                                                     f"{path}: bootstrap_servers")
    pattern = topic_pattern(raw.get("runengine_topics"), path, out.not_applied)
    if pattern:
        out.settings["topic_pattern"] = pattern
    known = {"bootstrap_servers", "abort_run_on_kafka_exception", "runengine_topics",
             "producer_consumer_security_config", "consumer_config",
             "runengine_producer_config"}
    for key in raw:
        if isinstance(key, str) and "." not in key and key not in known:
            out.not_applied[str(key)] = "not a section edgestream knows"
    return out


def _section(raw: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise KafkaConfigError(f"{path}: {name}: expected a mapping of librdkafka keys")
    return value


def topic_pattern(templates: Any, path: Path, notes: dict[str, str]) -> str | None:
    """``runengine_topics`` (``{endstation}.bluesky.runengine.documents``) as one regex.

    Templates with ``{document_name}`` split a run over several topics, whose documents
    arrive out of order: they are named, not consumed.
    """
    if templates is None:
        return None
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, list):
        raise KafkaConfigError(f"{path}: runengine_topics: expected a list of templates")
    parts = []
    for t in map(str, templates):
        if "{document_name}" in t:
            notes[f"runengine_topics: {t}"] = ("one topic per document type loses the order "
                                               "of a run's documents; not consumed")
            continue
        regex = re.escape(t).replace(re.escape("{endstation}"), r"[^.]+")
        if "{" in regex:
            raise KafkaConfigError(f"{path}: runengine_topics: {t!r}: only {{endstation}} "
                                   "and {document_name} are known")
        parts.append(regex)
    if not parts:
        return None
    return "^(?:" + "|".join(parts) + ")$" if len(parts) > 1 else f"^{parts[0]}$"


def check_security(client: Mapping[str, Any], source: str = "kafka client settings") -> None:
    """Refuse security settings that would be silently unused or cannot work."""
    protocol = str(client.get("security_protocol", "PLAINTEXT")).upper()
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    sasl_keys = sorted(k for k in client if k.startswith("sasl_"))
    # Only what adds security counts: a relaxed hostname check on a plain connection is moot
    ssl_keys = sorted(k for k in client if k.startswith("ssl_") and client[k] is not None
                      and k not in ("ssl_check_hostname", "ssl_verify_certificate"))
    if sasl_keys and not sasl:
        raise KafkaConfigError(f"{source}: {', '.join(sasl_keys)} given, but security.protocol "
                               f"is {protocol}: the credentials would not be used")
    if ssl_keys and not tls:
        raise KafkaConfigError(f"{source}: {', '.join(ssl_keys)} given, but security.protocol "
                               f"is {protocol}: TLS would not be used")
    if sasl:
        mechanism = client.get("sasl_mechanism")
        if mechanism is None:
            raise KafkaConfigError(f"{source}: security.protocol {protocol} needs "
                                   "sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
        if str(mechanism).upper() in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            missing = [k for k in ("sasl_plain_username", "sasl_plain_password")
                       if not client.get(k)]
            if missing:
                names = {"sasl_plain_username": "sasl.username",
                         "sasl_plain_password": "sasl.password"}
                raise KafkaConfigError(f"{source}: SASL {mechanism} needs "
                                       f"{' and '.join(names[m] for m in missing)}")
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile"):
        value = client.get(key)
        if value and not os.access(str(value), os.R_OK):
            raise KafkaConfigError(f"{source}: {key} {value}: no readable file there")
    if client.get("ssl_keyfile") and not client.get("ssl_certfile"):
        raise KafkaConfigError(f"{source}: ssl.key.location without "
                               "ssl.certificate.location")


# Arguments of ours, not kafka-python's: turned into an ssl_context by the clients module
EXTENSION_KEYS = {"ssl_verify_certificate"}


def check_client_keys(client: Mapping[str, Any], source: str = "kafka.client") -> None:
    """Refuse kafka-python argument names neither client knows (a typo would otherwise
    fail deep inside kafka-python, or not at all)."""
    from kafka import KafkaConsumer, KafkaProducer

    known = set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaProducer.DEFAULT_CONFIG)
    unknown = sorted(set(client) - known - EXTENSION_KEYS)
    if unknown:
        raise KafkaConfigError(f"{source}: unknown Kafka client setting(s) "
                               f"{', '.join(unknown)} (librdkafka keys such as "
                               "security.protocol, or kafka-python arguments such as "
                               "security_protocol)")
