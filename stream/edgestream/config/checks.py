"""The rules a loaded Settings must keep that its types alone do not say: bounds, topic-name
templates, channel roles, cross-field rules. Checked once, when the settings are loaded, so
that ``edgestream config`` refuses what ``edgestream serve`` would refuse; each refusal names
the setting, its value and what is allowed."""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any

from edgestream.config.typed import SettingsError
from edgestream.documents.names import CHANNEL_ROLES

if TYPE_CHECKING:
    from edgestream.config.settings import Settings

# What Kafka accepts as a topic name
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
TOPIC_NAME_RULE = "a Kafka topic name has 1-249 of the characters a-z A-Z 0-9 . _ -"
# The smallest output message limit: below it an annotation with its spectrum does not fit
MIN_MESSAGE_BYTES = 64 * 1024
# Output topic templates, by dotted name; each may fill in these fields only
TEMPLATES = ("kafka.annotations_topic", "kafka.dead_letter_topic", "kafka.derived_topic",
             "router.topic")
TEMPLATE_FIELDS = ("beamline",)

# Bounds of numeric settings, by dotted name: (lowest, highest); None: no bound
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "metrics_port": (0, 65535),
    "kafka.max_message_bytes": (MIN_MESSAGE_BYTES, None),
    "kafka.session_timeout_ms": (1, None),
    "kafka.heartbeat_interval_ms": (1, None),
    "kafka.max_poll_records": (1, None),
    "kafka.poll_timeout_ms": (0, None),
    "kafka.max_batch_latency_ms": (0, None),
    "kafka.connect_timeout_s": (0.1, None),
    "grid.step": (1e-6, None),
    "router.partitions": (1, None),
    "router.replication": (1, None),
    "router.max_open_runs": (1, None),
    "tiled.max_queue": (1, None),
    "run_timeout_s": (1e-3, None),
    "external_data_timeout_s": (0.0, None),
    "max_open_runs": (1, None),
    "min_points": (2, None),
}


def _get(settings: Settings, dotted: str) -> Any:
    node: Any = settings
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def check_bounds(settings: Settings) -> None:
    for dotted, (low, high) in BOUNDS.items():
        value = _get(settings, dotted)
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"{low} to {high}"
            raise SettingsError(f"{dotted}={value!r}: expected {allowed}")


def topic_of(template: str, where: str, beamline: str = "bl") -> str:
    """The topic a template names for ``beamline``; SettingsError for a template that could
    only fail later, once per message: empty, a field other than {beamline}, a format spec,
    or a name Kafka refuses."""
    if not template.strip():
        raise SettingsError(f"{where}={template!r}: expected a topic name, e.g. "
                            "'{beamline}.xas.annotations'")
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template)
                  if f is not None]
    except ValueError as exc:  # a lone brace
        raise SettingsError(f"{where}={template!r}: not a template ({exc}); only "
                            "{beamline} may be filled in") from None
    for name, spec, conversion in fields:
        if name not in TEMPLATE_FIELDS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (
                f":{spec}" if spec else "") + "}"
            raise SettingsError(f"{where}={template!r}: {shown} cannot be filled in; only "
                                "{beamline} may be")
    topic = template.format(beamline=beamline)
    if not TOPIC_NAME.fullmatch(topic):
        raise SettingsError(f"{where}={template!r} makes {topic!r}: {TOPIC_NAME_RULE}")
    return topic


def check_topics(settings: Settings) -> None:
    """Output templates (for any beamline and for the default one), input topics and the
    input pattern."""
    for dotted in TEMPLATES:
        template = _get(settings, dotted)
        topic_of(template, dotted)
        topic_of(template, f"{dotted} (beamline={settings.beamline!r})", settings.beamline)
    k = settings.kafka
    for i, topic in enumerate(k.topics):
        if not TOPIC_NAME.fullmatch(topic):
            raise SettingsError(f"kafka.topics[{i}]={topic!r}: {TOPIC_NAME_RULE}")
    try:
        re.compile(k.topic_pattern)
    except re.error as exc:
        raise SettingsError(f"kafka.topic_pattern={k.topic_pattern!r}: not a regular "
                            f"expression ({exc})") from None


def check_channels(settings: Settings) -> None:
    """Roles of the per-beamline channel mappings: a misspelt role would be ignored."""
    for beamline, mapping in settings.channels.items():
        for role, key in mapping.items():
            if role not in CHANNEL_ROLES:
                raise SettingsError(f"channels.{beamline}.{role}={key!r}: unknown role "
                                    f"(one of {', '.join(CHANNEL_ROLES)})")
            if not key.strip():
                raise SettingsError(f"channels.{beamline}.{role}: expected a data key")


def check_cross_fields(settings: Settings) -> None:
    if settings.grid.start >= settings.grid.stop:
        raise SettingsError(f"grid.start={settings.grid.start} must be below "
                            f"grid.stop={settings.grid.stop}")
    k = settings.kafka
    if k.heartbeat_interval_ms >= k.session_timeout_ms:
        raise SettingsError(f"kafka.heartbeat_interval_ms={k.heartbeat_interval_ms} must be "
                            f"below kafka.session_timeout_ms={k.session_timeout_ms}")


def check_settings(settings: Settings) -> None:
    """Every rule above; the first broken one is raised."""
    check_bounds(settings)
    check_cross_fields(settings)
    check_topics(settings)
    check_channels(settings)
