"""The ``edgestream`` command: serve, route, watch, annotate, replay, config, plugins, and the
verbs of the optional parts (demo, agent, compare-agents, library, broker, simulate) when
their distributions are installed (``optional.py``)."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from typing import Any

from edgestream import __version__
from edgestream.apps.cli.common import (
    EXIT_CODES_HELP,
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    apply_log_level,
    global_flags,
    log,
)
from edgestream.apps.cli.files import add_file_verbs
from edgestream.apps.cli.optional import Command, add_optional_verbs
from edgestream.apps.cli.service import add_info_verbs, add_service_verbs
from edgestream.config.facility import KafkaConfigError
from edgestream.config.settings import SettingsError

__all__ = ["EXIT_CONFIG", "EXIT_CONNECTION", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED",
           "EXIT_OK", "Command", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgestream",
        description="Real-time XAS/EELS analysis of Bluesky documents streamed over Kafka.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgestream {__version__}")
    global_flags(parser, after_verb=False)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add_verb(name: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, epilog=EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        global_flags(p, after_verb=True)
        return p

    add_service_verbs(add_verb)
    add_file_verbs(add_verb)
    add_info_verbs(add_verb)
    add_optional_verbs(add_verb)
    return parser


def _internal(exc: BaseException) -> int:
    log.exception("internal error")
    print(f"edgestream: internal error (a bug, please report it with the traceback "
          f"above): {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    """Run one verb; the exit code says which class of failure ended it (EXIT_CODES_HELP)."""
    from kafka.errors import KafkaError

    from edgestream.doors.kafka.clients import BrokerUnreachable, ConnectionChatter

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=args.log_level or "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(ConnectionChatter())
    apply_log_level(args.log_level or "INFO")
    try:
        return int(args.func(args) or 0)
    except (SettingsError, KafkaConfigError) as exc:
        print(f"edgestream: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokerUnreachable as exc:
        print(f"edgestream: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except KafkaError as exc:  # the broker went away while clients were being made
        print(f"edgestream: kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):  # metrics or live page port
            print(f"edgestream: configuration error: cannot listen there (metrics_port, "
                  f"--live-port, metrics_host): {exc.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        return _internal(exc)
    except Exception as exc:
        return _internal(exc)
