"""The ``edgestream`` command: serve, demo, watch, annotate, config, plugins, broker."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edgestream import __version__
from edgestream.settings import Settings, SettingsError, load_settings

log = logging.getLogger("edgestream")


def _settings(args: argparse.Namespace) -> Settings:
    kafka = {
        "bootstrap_servers": getattr(args, "bootstrap_servers", None),
        "group_id": getattr(args, "group_id", None),
        "topics": getattr(args, "topics", None),
        "topic_pattern": getattr(args, "topic_pattern", None),
    }
    overrides: dict[str, Any] = {
        "kafka": {k: v for k, v in kafka.items() if v is not None},
        "metrics_port": getattr(args, "metrics_port", None),
        "log_level": getattr(args, "log_level", None),
        "beamline": getattr(args, "beamline", None),
    }
    facility = Path(getattr(args, "kafka_yml", None) or "/etc/bluesky/kafka.yml")
    return load_settings(getattr(args, "config", None), overrides=overrides,
                         facility_file=facility)


def _stop_event(duration: float | None) -> threading.Event:
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


def cmd_serve(args: argparse.Namespace) -> int:
    from edgestream.service import build_service

    settings = _settings(args)
    log.info("settings: %s", json.dumps(settings.masked()))
    service = build_service(settings)
    service.run(_stop_event(args.duration))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edgestream.demo import run_demo

    return run_demo(duration=args.duration, metrics_port=args.metrics_port, seed=args.seed,
                    port=args.port)


def cmd_watch(args: argparse.Namespace) -> int:
    from edgestream.watch import watch

    settings = _settings(args)
    watch(settings, args.topic, _stop_event(args.duration), as_json=args.json)
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    from edgestream.kafka.service import annotation_line
    from edgestream.offline import annotate_file
    from edgestream.plugins import discover

    settings = _settings(args)
    models = discover(settings.plugins)
    failed = 0
    for path in args.files:
        result = annotate_file(Path(path), settings, models, element=args.element,
                               edge=args.edge, energy_shift_ev=args.energy_shift)
        for a in result.annotations:
            print(json.dumps(a) if args.json else f"{path}: {annotation_line(a)}")
        for f in result.failures:
            failed += 1
            print(f"{path}: {f.error.reason}: {f.error.message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from edgestream.documents.wire import encode
    from edgestream.kafka.clients import make_producer
    from edgestream.offline import file_documents

    settings = _settings(args)
    topic = f"{settings.beamline}.bluesky.runengine.documents"
    producer = make_producer(settings.kafka)
    for path in args.files:
        docs = file_documents(Path(path), args.element, args.edge)
        for name, doc in docs:
            producer.send(topic, key=docs[0][1]["uid"].encode(), value=encode(name, doc))
        print(f"{path}: run {docs[0][1]['uid']} -> {topic}")
    producer.flush()
    producer.close()
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).masked(), indent=2))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from edgestream.plugins import discover

    for m in discover(_settings(args).plugins):
        m.load()
        print(f"{m.name} {m.version}  provider={m.provider or 'numpy'}  "
              f"elements={sorted(m.elements) if m.elements else 'any'}  "
              f"edges={sorted(m.edges) if m.edges else 'any'}  "
              f"modalities={sorted(m.modalities) if m.modalities else 'any'}")
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from edgestream.kafka.embedded import EmbeddedTansu

    with EmbeddedTansu(port=args.port) as broker:
        print(f"Tansu broker on {broker.bootstrap_servers} "
              f"(ready in {broker.started_in_s:.2f} s); Ctrl-C stops it", flush=True)
        _stop_event(args.duration).wait()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edgestream.sim.beamline import run_beamline

    summary = run_beamline(args.bootstrap_servers, beamline=args.beamline,
                           duration=args.duration, seed=args.seed)
    print(json.dumps(summary.as_dict(), indent=2, default=str))
    return 0


def _kafka_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML settings file")
    p.add_argument("--kafka-yml", help="facility Kafka file (default /etc/bluesky/kafka.yml)")
    p.add_argument("--bootstrap-servers", help="host:port[,host:port]")
    p.add_argument("--group-id")
    p.add_argument("--beamline", help="default beamline name for output topics")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgestream",
        description="Real-time XAS/EELS analysis of Bluesky documents streamed over Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"edgestream {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("serve", help="consume documents, publish annotations (the service)")
    _kafka_flags(p)
    p.add_argument("--topics", nargs="+", help="explicit input topics (default: the pattern)")
    p.add_argument("--topic-pattern", help="regex of input topics")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="embedded broker + simulated beamline + service, live output")
    p.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--metrics-port", type=int, default=9464, help="Prometheus port (0: off)")
    p.add_argument("--port", type=int, help="broker port (default: a free one)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("watch", help="print annotations from a topic as they arrive")
    _kafka_flags(p)
    p.add_argument("--topic", default="sim.xas.annotations")
    p.add_argument("--json", action="store_true", help="print the JSON instead of one line")
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("annotate", help="annotate XDI or column files offline")
    p.add_argument("files", nargs="+")
    p.add_argument("--config")
    p.add_argument("--element", help="absorbing element when the file does not say")
    p.add_argument("--edge", help="edge when the file does not say")
    p.add_argument("--energy-shift", type=float,
                   help="eV added to the file's energies (e.g. from the day's foil scan)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("replay", help="publish a spectrum file to Kafka as a Bluesky run")
    _kafka_flags(p)
    p.add_argument("files", nargs="+")
    p.add_argument("--element")
    p.add_argument("--edge")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("config", help="print the resolved settings (secrets masked)")
    _kafka_flags(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("plugins", help="list installed model plugins and their providers")
    p.add_argument("--config")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("simulate", help="run the simulated beamline against a broker")
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    p.add_argument("--beamline", default="sim")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"edgestream: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
