"""One typed Settings object, built once at the edge: defaults < kafka.yml < YAML < env < CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_type_hints

import yaml

from edgestream.config.checks import check_settings
from edgestream.config.facility import (
    KafkaConfigError,
    check_client_keys,
    check_security,
    config_path,
    read_kafka_yml,
    servers,
    translate,
)
from edgestream.config.typed import SECRET_WORDS, SettingsError, coerce, parse

log = logging.getLogger(__name__)

ENV_PREFIX = "EDGESTREAM_"
# EDGESTREAM_* variables read by tools, not settings (the model cache, test switches)
NOT_SETTINGS = {"CACHE", "SKIP_APACHE", "KAFKA_VERSION", "KAFKA_OPS", "CU_K_LIBRARY",
                "SCREENSHOT", "PYTHON", "M3GNET", "SHARED", "TORCH_THREADS", "QS_DOCS"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    max_poll_records: int = 500
    poll_timeout_ms: int = 200
    # Batches are sized by time as well as count: once records came, more are polled until
    # max_poll_records or until the oldest has waited this long since it was produced (0: one
    # poll per batch). Larger batches share each call's fixed cost; this bounds the wait.
    max_batch_latency_ms: float = 5.0
    # At-least-once: wait for one batch's acknowledgements while the next is polled and
    # processed (its offsets are still committed only after they came). Exactly-once: no effect.
    # Off by default: on Tansu 0.6 a send made while the next batch is polled was once left
    # unacknowledged for the whole 60 s wait (tests/integration/test_external_data.py), then
    # answered twice after the re-read; on Apache Kafka it takes step/fly p50 under load from
    # ~0.8-1 s to 130-160 ms (bench.latency_ab).
    overlap_publish: bool = False
    # "at_least_once" (any broker) or "exactly_once" (brokers with transactions: Apache Kafka).
    delivery: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # Exactly-once only; default "<group_id>-<host>-<pid>".
    transactional_id: str | None = None
    # Extra client settings (security, timeouts), librdkafka keys (security.protocol) or
    # kafka-python arguments (security_protocol); each client takes the ones it knows.
    client: dict[str, Any] = field(default_factory=dict)
    # Start-up: how long to keep trying an unreachable broker (None: until stopped).
    connect_timeout_s: float | None = None


@dataclass
class GridSettings:
    """Output grid of the annotation's normalized spectrum, in eV relative to e0/onset."""

    start: float = -20.0
    stop: float = 80.0
    step: float = 0.5


@dataclass
class RouterSettings:
    """``edgestream route``: re-keys documents by run onto an internal topic, so replicas in
    one group share runs that the facility's producer put under one key."""

    # "{beamline}" is the prefix of the input topic (or the default beamline).
    topic: str = "{beamline}.edgestream.runs"
    partitions: int = 4  # of the topic when the router creates it: at most this many replicas
    replication: int = 1  # of the topic when the router creates it
    # Runs whose descriptor/resource uids are remembered at once (a few hundred bytes each);
    # beyond it the longest idle one is forgotten, as runs idle over run_timeout_s are.
    max_open_runs: int = 10000


@dataclass
class TiledSettings:
    """Write each derived run into a Tiled catalog beside the raw runs (edgestream.publish.tiled).
    Off unless ``uri`` is set."""

    # The container the raw runs are in, e.g. http://tiled:8000/api/v1/metadata/bmm/raw
    uri: str | None = None
    api_key: str | None = None  # or EDGESTREAM_TILED__API_KEY; masked in every printout
    # Derived documents waiting for the writer; beyond it they are counted and not written.
    max_queue: int = 10000


@dataclass
class AnnotationSettings:
    """The form of the published annotations (docs/compact-annotations.md)."""

    # "auto": one compact msgpack message per EELS event that carries several spectra (a
    # spectrum-image row), one JSON annotation per spectrum for the rest; "json" or
    # "compact": that form for every spectrum.
    form: Literal["auto", "json", "compact"] = "auto"
    # Compact messages carry the normalized spectra (float32 on the grid) only when set.
    compact_spectra: bool = False


@dataclass
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    grid: GridSettings = field(default_factory=GridSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    tiled: TiledSettings = field(default_factory=TiledSettings)
    annotations: AnnotationSettings = field(default_factory=AnnotationSettings)
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

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


def _merge(target: Any, updates: Mapping[str, Any], name: Callable[[list[str]], str],
           path: list[str] | None = None) -> None:
    """Merge a nested mapping into a dataclass tree, typed; unknown keys are refused."""
    path = path or []
    hints = get_type_hints(type(target))
    names = {f.name for f in fields(target)}
    for key, value in updates.items():
        here = [*path, str(key)]
        if key not in names:
            raise SettingsError(f"{name(here)}: unknown setting (known: "
                                f"{', '.join(sorted(names))})")
        current = getattr(target, key)
        if is_dataclass(current):
            if isinstance(value, str):
                value = parse(value, name(here))
            if not isinstance(value, Mapping):
                raise SettingsError(f"{name(here)}={value!r}: expected a mapping of "
                                    f"{', '.join(f.name for f in fields(current))}")
            _merge(current, value, name, here)
            continue
        if isinstance(target, KafkaSettings) and key == "client":
            value = _client(value, name(here), target)
        value = coerce(hints[key], value, name(here))
        if isinstance(current, dict) and isinstance(value, dict):
            current.update(value)
        else:
            setattr(target, key, value)


def _client(value: Any, where: str, kafka: KafkaSettings) -> dict[str, Any]:
    """``kafka.client`` in librdkafka or kafka-python names; librdkafka keys that are
    KafkaSettings fields (auto.offset.reset, session.timeout.ms) set those fields."""
    if isinstance(value, str):
        value = parse(value, where)
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where}: expected a mapping of Kafka client settings")
    t = translate(value, where)
    for key, why in t.not_applied.items():
        log.warning("%s: %s not applied: %s", where, key, why)
    if t.settings:
        _merge(kafka, t.settings, lambda p: f"{where}: {'.'.join(p)}")
    return t.client


def validate(settings: Settings) -> None:
    """Bounds, templates, roles and cross-field rules that the types alone do not say
    (config.checks), then the Kafka client settings."""
    check_settings(settings)
    k = settings.kafka
    k.bootstrap_servers = servers(k.bootstrap_servers, "kafka.bootstrap_servers")
    check_client_keys(k.client)
    check_security(k.client, "kafka client settings (kafka.yml, kafka.client)")


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``EDGESTREAM_KAFKA__GROUP_ID=x`` -> {"kafka": {"group_id": "x"}}."""
    out: dict[str, Any] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var[len(ENV_PREFIX):] in NOT_SETTINGS:
            continue
        path = var[len(ENV_PREFIX):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"environment {var}: {part} is given a value and "
                                    "sub-settings both")
        node[path[-1]] = value
    return out


def _env_name(path: list[str]) -> str:
    return f"environment {ENV_PREFIX}{'__'.join(path).upper()}"


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    facility_file: str | Path | None = None,
    facility_required: bool = False,
) -> Settings:
    """Build Settings from defaults < the facility kafka.yml < a YAML file < the environment
    < CLI flags; typed and validated. ``facility_file`` None: ``$BLUESKY_KAFKA_CONFIG_PATH``,
    then /etc/bluesky/kafka.yml; ``facility_required``: it must exist (--kafka-yml)."""
    try:
        return _load(path, os.environ if env is None else env, overrides, facility_file,
                     facility_required)
    except SettingsError:
        raise
    except KafkaConfigError as exc:  # one error type for every configuration mistake
        raise SettingsError(str(exc)) from None


def _load(path: str | Path | None, env: Mapping[str, str],
          overrides: Mapping[str, Any] | None, facility_file: str | Path | None,
          facility_required: bool) -> Settings:
    settings = Settings()
    facility_path, required = config_path(facility_file, env)
    facility = read_kafka_yml(facility_path, required=required or facility_required)
    if facility.path is not None:
        for key, why in facility.not_applied.items():
            log.info("%s: %s not applied: %s", facility.path, key, why)
        settings.kafka.client.update(facility.client)
        _merge(settings.kafka, facility.settings, lambda p: f"{facility.path}: {'.'.join(p)}")
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{path}: cannot read: {exc}") from None
        if not isinstance(data, Mapping):
            raise SettingsError(f"{path}: expected a mapping at top level")
        _merge(settings, data, lambda p: f"{path}: {'.'.join(p)}")
    _merge(settings, env_overrides(env), _env_name)
    if overrides:
        _merge(settings, _drop_none(overrides), lambda p: f"command line: {'.'.join(p)}")
    validate(settings)
    return settings


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            v = _drop_none(v)
            if not v:
                continue
        if v is not None:
            out[k] = v
    return out
