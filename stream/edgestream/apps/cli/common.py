"""What every verb shares: exit codes, settings from flags, the stop event, common flags.

Also the API of the optional verbs that other distributions add through the
``edgestream.commands`` entry points (``optional.py``): they build their settings and stop
events with these functions.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from edgestream.config.settings import LOG_LEVELS, Settings, load_settings

log = logging.getLogger("edgestream")

# Exit codes, one per class of failure (documented in --help)
EXIT_OK = 0
EXIT_FAILED = 1  # annotate: some inputs could not be annotated (each one named)
EXIT_CONFIG = 2  # a setting, flag or file that cannot be used (also argparse's usage errors)
EXIT_CONNECTION = 3  # no broker reached, or it refused our credentials or certificate
EXIT_INTERNAL = 4  # a bug: the traceback is logged
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    done (stopped by --duration, Ctrl-C or SIGTERM after a clean start)
  1    annotate: some files or spectra could not be annotated (each is named)
  2    configuration error: a setting, flag, kafka.yml or config file that cannot be used
       (the message names the key, the value and what is allowed)
  3    connection error: no Kafka broker answered before --duration / --connect-timeout,
       or a broker refused the credentials or the TLS certificate
  4    internal error: a bug in edgestream; the traceback is logged, please report it
  130  interrupted before a clean start

configuration, lowest to highest precedence: built-in defaults, the facility kafka.yml
($BLUESKY_KAFKA_CONFIG_PATH, else /etc/bluesky/kafka.yml; --kafka-yml), --config FILE,
EDGESTREAM_* environment variables (EDGESTREAM_KAFKA__GROUP_ID=...), flags.
`edgestream config` prints the result, secrets masked."""


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of a verb: defaults, kafka.yml, --config, environment, then its flags."""
    kafka = {
        "bootstrap_servers": getattr(args, "bootstrap_servers", None),
        "group_id": getattr(args, "group_id", None),
        "topics": getattr(args, "topics", None),
        "topic_pattern": getattr(args, "topic_pattern", None),
        "connect_timeout_s": getattr(args, "connect_timeout", None),
    }
    overrides: dict[str, Any] = {
        "kafka": {k: v for k, v in kafka.items() if v is not None},
        "metrics_port": getattr(args, "metrics_port", None),
        "log_level": getattr(args, "log_level", None),
        "beamline": getattr(args, "beamline", None),
    }
    kafka_yml = getattr(args, "kafka_yml", None)
    settings = load_settings(getattr(args, "config", None), overrides=overrides,
                             facility_file=kafka_yml, facility_required=bool(kafka_yml))
    apply_log_level(settings.log_level)
    return settings


def apply_log_level(level: str) -> None:
    """The resolved ``log_level`` (file, environment or flag) for edgestream's own loggers;
    kafka-python stays at WARNING (its INFO is a line per connection)."""
    logging.getLogger().setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def stop_event(duration: float | None) -> threading.Event:
    """Set on Ctrl-C, SIGTERM, or after ``duration`` seconds."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if duration:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def global_flags(p: argparse.ArgumentParser, after_verb: bool) -> None:
    """Flags every verb takes, before or after it (``edgestream serve --log-level DEBUG``).
    After the verb they default to SUPPRESS, so that they do not undo the same flag given
    before it."""
    default = argparse.SUPPRESS if after_verb else None
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default,
                   help="DEBUG, INFO, WARNING, ERROR, CRITICAL (default: log_level setting, "
                   "INFO)")
    p.add_argument("--config", default=default, help="YAML settings file")


def kafka_flags(p: argparse.ArgumentParser) -> None:
    """Where the broker is and who we are on it (every verb that talks to Kafka)."""
    p.add_argument("--kafka-yml", help="facility Kafka file in the nslsii layout (default "
                   "$BLUESKY_KAFKA_CONFIG_PATH, else /etc/bluesky/kafka.yml)")
    p.add_argument("--bootstrap-servers", help="host:port[,host:port]")
    p.add_argument("--group-id")
    p.add_argument("--beamline", help="default beamline name for output topics")
    p.add_argument("--connect-timeout", type=float, metavar="S",
                   help="give up (exit 3) when no broker answers within S seconds "
                   "(default: keep trying with backoff up to 15 s, until --duration)")


def input_topic_flags(p: argparse.ArgumentParser) -> None:
    """The document topics that serve and route read."""
    p.add_argument("--topics", nargs="+", help="explicit input topics (default: the pattern)")
    p.add_argument("--topic-pattern", help="regex of input topics")


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print each annotation as one JSON line instead of the table")
