"""One typed Settings object, built once at the edge: defaults < kafka.yml < YAML < env < CLI."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

FACILITY_KAFKA_YML = Path("/etc/bluesky/kafka.yml")
ENV_PREFIX = "EDGESTREAM_"
SECRET_WORDS = ("password", "secret", "token", "sasl_plain_username", "key_password")

# librdkafka-style keys (as in /etc/bluesky/kafka.yml) -> kafka-python keyword arguments.
LIBRDKAFKA_TO_KAFKA_PYTHON = {
    "bootstrap.servers": "bootstrap_servers",
    "client.id": "client_id",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.crl.location": "ssl_crlfile",
}


class SettingsError(ValueError):
    """A configuration file or value that cannot be used; the message names the source."""


@dataclass
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    # Explicit topics win over the pattern; the pattern follows the Bluesky convention.
    topics: list[str] = field(default_factory=list)
    topic_pattern: str = r"^.*\.bluesky\.runengine\.documents$"
    group_id: str = "edgestream"
    # Output topics; "{beamline}" is the prefix of the input topic (or the default beamline).
    annotations_topic: str = "{beamline}.xas.annotations"
    dead_letter_topic: str = "{beamline}.xas.deadletter"
    derived_topic: str = "{beamline}.xas.derived.documents"
    publish_derived: bool = True
    # Largest output message sent, in bytes. Apache Kafka refuses records over its
    # message.max.bytes (1,048,588 by default, per topic max.message.bytes): derived event
    # pages above this are split, any other output is dead-lettered (output_too_large). A
    # broker that refuses a smaller message lowers it at run time (logged).
    max_message_bytes: int = 1_000_000
    auto_offset_reset: str = "earliest"
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    max_poll_records: int = 500
    poll_timeout_ms: int = 200
    # "at_least_once" (any broker) or "exactly_once" (brokers with transactions: Apache Kafka).
    delivery: str = "at_least_once"
    # Exactly-once only; default "<group_id>-<host>-<pid>".
    transactional_id: str | None = None
    # Extra kafka-python client arguments (security, timeouts): passed through as given.
    client: dict[str, Any] = field(default_factory=dict)


@dataclass
class GridSettings:
    """Output grid of the annotation's normalized spectrum, in eV relative to e0/onset."""

    start: float = -20.0
    stop: float = 80.0
    step: float = 0.5


@dataclass
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    grid: GridSettings = field(default_factory=GridSettings)
    beamline: str = "sim"
    # Per-beamline channel mapping: {beamline: {role: data_key}}, roles as in channels.py.
    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Per-beamline energy shifts (eV) added to measured energies, e.g. from a foil scan.
    energy_shift_ev: dict[str, float] = field(default_factory=dict)
    # Align each scan on its reference foil (ln(It/Iref)) when it has one: the foil's edge
    # (max of dμ/dE) goes to the tabulated edge. A run's energy_shift_ev metadata wins.
    align_on_reference: bool = True
    # Per-beamline edge energy (eV) of the reference when it is not the element's foil (a
    # GaAs powder for As); default: the tabulated edge. A run's reference_e0_ev wins.
    reference_e0_ev: dict[str, float] = field(default_factory=dict)
    plugins: list[str] | None = None  # None: every installed plugin not marked opt_in
    run_timeout_s: float = 600.0
    # Bound on runs held open at once (memory); the oldest idle one is closed as partial.
    max_open_runs: int = 200
    # Detector files (HDF5 named by resource/stream_resource documents): prefix as the
    # documents spell it -> where it is mounted here, e.g. {"/nsls2/data": "/mnt/nsls2"}.
    data_roots: dict[str, str] = field(default_factory=dict)
    # A run whose external data is not readable for this long (s) is dead-lettered
    # (external_data_unavailable); until then its documents wait, other runs flow.
    external_data_timeout_s: float = 60.0
    min_points: int = 20
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"

    def masked(self) -> dict[str, Any]:
        """Settings as a dict with secrets replaced, safe to print or log."""
        return _mask(asdict(self))

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"Settings({self.masked()!r})"


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: ("***" if any(w in str(k).lower() for w in SECRET_WORDS) else _mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def translate_librdkafka(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Translate librdkafka keys to kafka-python arguments; unknown keys are logged by name."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "ssl.endpoint.identification.algorithm":
            out["ssl_check_hostname"] = str(value).lower() not in ("none", "")
        elif key in LIBRDKAFKA_TO_KAFKA_PYTHON:
            target = LIBRDKAFKA_TO_KAFKA_PYTHON[key]
            if target in out and out[target] != value:
                raise SettingsError(f"{source}: {key} duplicates another key for {target}")
            out[target] = value
        elif "_" in key and "." not in key:  # already a kafka-python name
            out[key] = value
        else:
            log.warning("%s: ignoring unsupported Kafka key %s", source, key)
    if isinstance(out.get("bootstrap_servers"), list):
        out["bootstrap_servers"] = ",".join(out["bootstrap_servers"])
    return out


def read_facility_kafka_yml(path: Path = FACILITY_KAFKA_YML) -> dict[str, Any]:
    """Client settings from a facility kafka.yml (nslsii layout or flat librdkafka keys)."""
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{path}: expected a mapping at top level")
    flat: dict[str, Any] = {}
    if "bootstrap_servers" in raw:
        flat["bootstrap.servers"] = raw["bootstrap_servers"]
    for section in ("consumer_config", "runengine_producer_config", "producer_config"):
        if isinstance(raw.get(section), Mapping):
            for k, v in raw[section].items():
                flat.setdefault(k, v)
    flat.update({k: v for k, v in raw.items() if isinstance(k, str) and "." in k})
    return translate_librdkafka(flat, str(path))


def _merge(target: Any, updates: Mapping[str, Any], source: str) -> None:
    """Merge a nested mapping into a dataclass tree, refusing unknown keys."""
    types = {f.name: str(f.type) for f in fields(target)}
    for key, value in updates.items():
        if key not in types:
            raise SettingsError(f"{source}: unknown setting {key!r}")
        current = getattr(target, key)
        if current is None and types[key].startswith("list["):
            current = []  # an optional list given as text (EDGESTREAM_PLUGINS=a,b) is a list
        if is_dataclass(current) and isinstance(value, Mapping):
            _merge(current, value, source)
        elif isinstance(current, dict) and isinstance(value, Mapping):
            current.update(value)
        else:
            setattr(target, key, _coerce(current, value, f"{source}: {key}"))


def _coerce(current: Any, value: Any, where: str) -> Any:
    if value is None or current is None or not isinstance(value, str):
        return value
    try:
        if isinstance(current, bool):
            return value.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(current, int):
            try:
                return int(value)
            except ValueError:
                return float(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, list):
            return [v for v in re.split(r"[,\s]+", value) if v]
    except ValueError:
        raise SettingsError(f"{where}: cannot read {value!r}") from None
    return value


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``EDGESTREAM_KAFKA__GROUP_ID=x`` -> {"kafka": {"group_id": "x"}}."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    facility_file: Path = FACILITY_KAFKA_YML,
) -> Settings:
    """Build Settings from the facility kafka.yml, a YAML file, the environment and CLI flags."""
    settings = Settings()
    facility = read_facility_kafka_yml(facility_file)
    if "bootstrap_servers" in facility:
        settings.kafka.bootstrap_servers = facility.pop("bootstrap_servers")
    settings.kafka.client.update(facility)
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{path}: cannot read: {exc}") from None
        if not isinstance(data, Mapping):
            raise SettingsError(f"{path}: expected a mapping at top level")
        client = data.get("kafka", {}).get("client") if isinstance(data.get("kafka"), Mapping) \
            else None
        if isinstance(client, Mapping):
            data["kafka"]["client"] = translate_librdkafka(client, str(path))
        _merge(settings, data, str(path))
    _merge(settings, env_overrides(os.environ if env is None else env), "environment")
    if overrides:
        _merge(settings, {k: v for k, v in overrides.items() if v is not None}, "command line")
    return settings
