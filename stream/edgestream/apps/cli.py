"""The ``edgestream`` command: serve, demo, agent, compare-agents, watch, annotate, config, ..."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edgestream import __version__
from edgestream.config.facility import KafkaConfigError
from edgestream.config.settings import LOG_LEVELS, Settings, SettingsError, load_settings

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


def _settings(args: argparse.Namespace) -> Settings:
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
    _apply_log_level(settings.log_level)
    return settings


def _apply_log_level(level: str) -> None:
    """The resolved ``log_level`` (file, environment or flag) for edgestream's own loggers;
    kafka-python stays at WARNING (its INFO is a line per connection)."""
    logging.getLogger().setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))


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
    from edgestream.doors.kafka.clients import wait_for_kafka

    settings = _settings(args)
    log.info("settings: %s", json.dumps(settings.masked()))
    stop = _stop_event(args.duration)
    # Before any client is made: an absent broker is one line per try, not kafka-python's
    # ten a second, and --duration / Ctrl-C end the wait.
    meta = wait_for_kafka(settings.kafka, stop, settings.kafka.connect_timeout_s)
    log.info("kafka %s: %d broker(s)", settings.kafka.bootstrap_servers,
             len(meta.get("brokers", [])))
    if args.live_port:
        from edgestream.apps.web.live import build_live_service

        service, _, server = build_live_service(settings, args.live_host, args.live_port)
        log.info("live page on %s", server.url)
    else:
        from edgestream.apps.serve import build_service

        service = build_service(settings)
    service.run(stop)
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    from edgestream.doors.kafka.clients import wait_for_kafka
    from edgestream.doors.kafka.router import Router

    settings = _settings(args)
    if args.partitions is not None:
        settings.router.partitions = args.partitions
    stop = _stop_event(args.duration)
    wait_for_kafka(settings.kafka, stop, settings.kafka.connect_timeout_s)
    Router(settings).run(stop)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edgestream_sim.demo import run_demo

    return run_demo(duration=args.duration, metrics_port=args.metrics_port, seed=args.seed,
                    port=args.port, live_port=args.live_port, agent=not args.no_agent,
                    compare=not args.no_compare, as_json=args.json,
                    plugins=args.plugins.split(",") if args.plugins else None)


def cmd_agent(args: argparse.Namespace) -> int:
    from edgestream_agent.app import AgentConfig, run_adaptive_agent, run_agent
    from edgestream_agent.observation import QuantitySpec
    from edgestream_agent.positions import PositionSpec

    settings = _settings(args)
    try:
        cfg = AgentConfig(
            sample=args.sample, strategy=args.strategy,
            quantity=QuantitySpec.parse(args.quantity, uncertainty=args.uncertainty_key),
            bounds=(args.bounds[0], args.bounds[1]), n_boundaries=args.boundaries,
            tolerance=args.tolerance, sigma_floor=args.sigma_floor, max_scans=args.max_scans,
            plan_name=args.plan, plan_motor=args.plan_motor, qserver=args.qserver,
            qserver_protocol=args.qserver_protocol, adjudicator=args.adjudicator,
            dry_run=args.dry_run, framework=args.framework,
            positions=PositionSpec(keys=tuple(args.position_keys), source=args.position_stream,
                                   reading=args.position_reading),
        )
    except ValueError as exc:
        raise SettingsError(f"agent: {exc}") from exc
    if cfg.qserver and not cfg.dry_run:
        from edgestream_agent.transports import require_queue_client

        try:
            require_queue_client()
        except ImportError as exc:
            raise SettingsError(f"agent --qserver: {exc}") from exc
    if cfg.framework == "bluesky-adaptive":
        try:
            import bluesky_adaptive.agents.base  # noqa: F401
        except ImportError as exc:
            raise SettingsError("agent --framework bluesky-adaptive needs the agent extra "
                                f"(pip install 'edgestream[agent]'): {exc}") from exc
        agent = run_adaptive_agent(cfg, settings, _stop_event(args.duration))
        report = {k: v.tolist() if hasattr(v, "tolist") else v
                  for k, v in agent.report().items()}
    else:
        report = run_agent(cfg, settings, _stop_event(args.duration)).report()
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_compare_agents(args: argparse.Namespace) -> int:
    from edgestream_agent.compare import run_command

    return run_command(args)


def cmd_watch(args: argparse.Namespace) -> int:
    from edgestream.apps.watch import watch

    settings = _settings(args)
    watch(settings, args.topic, _stop_event(args.duration), as_json=args.json)
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    from edgestream.doors.files.door import annotate_file, foil_scan_calibration
    from edgestream.errors import StreamError
    from edgestream.plugin.api import discover
    from edgestream.publish.table import AnnotationTable

    settings = _settings(args)
    models = discover(settings.plugins)
    shift = args.energy_shift
    if args.foil_scan:
        try:
            foil = foil_scan_calibration(args.foil_scan, [Path(p) for p in args.files],
                                         args.element, args.edge, args.reference_e0)
        except StreamError as exc:
            print(f"foil scan {args.foil_scan}: {exc.reason}: {exc.message}", file=sys.stderr)
            return 1
        shift = foil.shift_ev
        print(f"foil scan {args.foil_scan}: {foil.element} {foil.edge} edge at "
              f"{foil.measured_e0:.2f} eV -> shift {shift:+.2f} eV for every spectrum",
              file=sys.stderr)
    failed = 0
    table = AnnotationTable(as_json=args.json,
                            source_width=min(24, max(len(Path(p).name) for p in args.files)))
    for path in args.files:
        result = annotate_file(Path(path), settings, models, element=args.element,
                               edge=args.edge, energy_shift_ev=shift,
                               eels=args.eels,
                               reference=Path(args.reference) if args.reference else None,
                               reference_e0_ev=args.reference_e0,
                               composition=args.composition)
        for a in result.annotations:
            table(a, source=Path(path).name)
        for f in result.failures:
            failed += 1
            print(f"{path}: {f.error.reason}: {f.error.message}", file=sys.stderr)
    table.close()
    return EXIT_FAILED if failed else EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from edgestream.documents.wire import encode
    from edgestream.doors.files.door import file_documents
    from edgestream.doors.kafka.clients import make_producer, wait_for_kafka

    settings = _settings(args)
    topic = f"{settings.beamline}.bluesky.runengine.documents"
    wait_for_kafka(settings.kafka, _stop_event(None), settings.kafka.connect_timeout_s)
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
    from importlib.metadata import entry_points

    from edgestream.plugin.api import ENTRY_POINT_GROUP, discover

    running = discover(_settings(args).plugins)
    for m in running:
        m.load()
        print(f"{m.name} {m.version}  provider={m.provider or 'numpy'}  "
              f"elements={sorted(m.elements) if m.elements else 'any'}  "
              f"edges={sorted(m.edges) if m.edges else 'any'}  "
              f"modalities={sorted(m.modalities) if m.modalities else 'any'}")
    names = {m.name for m in running}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in names:
            print(f"{ep.name}  installed, not enabled (opt-in: list it under `plugins` in the "
                  "config, or EDGESTREAM_PLUGINS)")
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from edgestream_dev.tansu import EmbeddedTansu

    with EmbeddedTansu(port=args.port) as broker:
        print(f"Tansu broker on {broker.bootstrap_servers} "
              f"(ready in {broker.started_in_s:.2f} s); Ctrl-C stops it", flush=True)
        _stop_event(args.duration).wait()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edgestream_sim.beamline import run_beamline

    summary = run_beamline(args.bootstrap_servers, beamline=args.beamline,
                           duration=args.duration, seed=args.seed)
    print(json.dumps(summary.as_dict(), indent=2, default=str))
    return 0


def _global_flags(p: argparse.ArgumentParser, after_verb: bool) -> None:
    """Flags every verb takes, before or after it (``edgestream serve --log-level DEBUG``).
    After the verb they default to SUPPRESS, so that they do not undo the same flag given
    before it."""
    default = argparse.SUPPRESS if after_verb else None
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default,
                   help="DEBUG, INFO, WARNING, ERROR, CRITICAL (default: log_level setting, "
                   "INFO)")
    p.add_argument("--config", default=default, help="YAML settings file")


def _kafka_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kafka-yml", help="facility Kafka file in the nslsii layout (default "
                   "$BLUESKY_KAFKA_CONFIG_PATH, else /etc/bluesky/kafka.yml)")
    p.add_argument("--bootstrap-servers", help="host:port[,host:port]")
    p.add_argument("--group-id")
    p.add_argument("--beamline", help="default beamline name for output topics")
    p.add_argument("--connect-timeout", type=float, metavar="S",
                   help="give up (exit 3) when no broker answers within S seconds "
                   "(default: keep trying with backoff up to 15 s, until --duration)")


def compare_flags(p: argparse.ArgumentParser) -> None:
    """Flags of ``compare-agents`` (also ``python -m edgestream_agent.compare``)."""
    p.add_argument("--samples", type=int, default=20, help="random gradient samples (20)")
    p.add_argument("--tolerance", type=float, default=0.5, help="mm (0.5)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quantity", default="valence.value",
                   help="PLUGIN.OUTPUT steered on (fallbacks: edge_area, edge shift, e0)")
    p.add_argument("--plot", type=Path, default=Path("docs/agent-comparison.png"),
                   help="PNG to write (needs matplotlib); '-' for none")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--eval-step", type=int, default=1,
                   help="try every n-th grid size / k-means scan count (faster, coarser)")


def cmd_library(args: argparse.Namespace) -> int:
    """Featurize structures with M3GNet and append them (``edgestream_models.library``)."""
    try:
        from edgestream_models.library import main as library_main
    except ImportError as exc:  # matgl/torch live in the training extra
        print(f"edgestream library needs the training extra (pip install 'edgestream[training]'):"
              f" {exc}", file=sys.stderr)
        return 2
    if args.action == "show":
        return library_main(["show", str(args.paths[0])])
    if args.library is None:
        print("edgestream library add: --library PATH is required", file=sys.stderr)
        return 2
    return library_main(["add", *map(str, args.paths), "--library", str(args.library)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgestream",
        description="Real-time XAS/EELS analysis of Bluesky documents streamed over Kafka.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgestream {__version__}")
    _global_flags(parser, after_verb=False)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add_verb(name: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, epilog=EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        _global_flags(p, after_verb=True)
        return p

    p = add_verb("serve", help="consume documents, publish annotations (the service)")
    _kafka_flags(p)
    p.add_argument("--topics", nargs="+", help="explicit input topics (default: the pattern)")
    p.add_argument("--topic-pattern", help="regex of input topics")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--live-port", type=int, help="serve the live page on this port")
    p.add_argument("--live-host", default="127.0.0.1", help="live page address (localhost)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_serve)

    p = add_verb("route", help="re-key documents by run onto <beamline>.edgestream.runs, so "
                 "service replicas share runs the facility put under one key")
    _kafka_flags(p)
    p.add_argument("--topics", nargs="+", help="explicit input topics (default: the pattern)")
    p.add_argument("--topic-pattern", help="regex of input topics")
    p.add_argument("--partitions", type=int, help="of the runs topic when it is created "
                   "(router.partitions, default 4): the most replicas that share the work")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_route)

    p = add_verb("demo", help="embedded broker + simulated beamline + service, live output")
    p.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--metrics-port", type=int, default=9464, help="Prometheus port (0: off)")
    p.add_argument("--live-port", type=int, default=8765, help="live page port (0: off)")
    p.add_argument("--port", type=int, help="broker port (default: a free one)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-agent", action="store_true", help="no agent-steered gradient sample")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the grid / k-means / ours comparison at the end")
    p.add_argument("--plugins", help="comma-separated plugin names (default: every installed "
                   "one not opt-in), e.g. edge_features,cu_k_valence,cu_k_motif,cu_k_screening")
    p.add_argument("--json", action="store_true",
                   help="print each annotation as one JSON line instead of the table")
    p.set_defaults(func=cmd_demo)

    p = add_verb("agent", help="steer a sample stage from the annotations (agent process)")
    _kafka_flags(p)
    p.add_argument("--sample", default="Cu gradient", help="sample name the plans measure")
    p.add_argument("--strategy", default="boundary",
                   choices=["boundary", "uncertainty", "kmeans", "grid"])
    p.add_argument("--quantity", default="valence.value",
                   help="PLUGIN.OUTPUT to steer on (fallbacks: edge_area, edge shift, e0)")
    p.add_argument("--uncertainty-key", default="uncertainty",
                   help="output key of the quantity's uncertainty")
    p.add_argument("--bounds", type=float, nargs=2, default=[0.0, 60.0], metavar=("LO", "HI"),
                   help="stage range, mm")
    p.add_argument("--boundaries", type=int, default=2, help="boundaries to locate")
    p.add_argument("--tolerance", type=float, default=0.5, help="mm")
    p.add_argument("--sigma-floor", type=float, default=0.05,
                   help="smallest noise assumed, in the quantity's units")
    p.add_argument("--max-scans", type=int, default=60)
    p.add_argument("--plan", default="gradient_xas_scan", help="plan name for the queue")
    p.add_argument("--plan-motor", help="bluesky-adaptive: plan(MOTOR, x), as BMM's agent "
                   "plans take it (default: plan(x))")
    p.add_argument("--position-keys", nargs="+", default=["x"], metavar="KEY",
                   help="where a run measured: reading names, e.g. xafs_x xafs_y (the first "
                   "is the axis steered)")
    p.add_argument("--position-stream", default="start", metavar="STREAM",
                   help="start (the start document, or its sample_position) or a stream: "
                   "baseline (NSLS-II BMM), primary, ...")
    p.add_argument("--position-reading", default="first", choices=["first", "last"],
                   help="which reading of the stream: first (taken at the run's start) or last")
    p.add_argument("--qserver", help="queue server: http(s)://... (bluesky-httpserver, key "
                   "from $QSERVER_API_KEY) or tcp://host:60615 (RE Manager over 0MQ)")
    p.add_argument("--qserver-protocol", default="auto", choices=["auto", "http", "zmq"],
                   help="how to reach --qserver (auto: from the address)")
    p.add_argument("--adjudicator", action="store_true",
                   help="also publish on <beamline>.bluesky.adjudicators (bluesky-adaptive: "
                   "instead of the queue)")
    p.add_argument("--framework", default="edgestream", choices=["edgestream",
                                                                  "bluesky-adaptive"],
                   help="run as edgestream's agent or as a bluesky-adaptive agent (agent extra)")
    p.add_argument("--dry-run", action="store_true", help="only log the suggestions")
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_agent)

    p = add_verb("compare-agents",
                       help="scans to locate gradient boundaries: grid vs k-means vs ours")
    compare_flags(p)
    p.set_defaults(func=cmd_compare_agents)

    p = add_verb("watch", help="print annotations from a topic as they arrive")
    _kafka_flags(p)
    p.add_argument("--topic", default="sim.xas.annotations")
    p.add_argument("--json", action="store_true",
                   help="print each annotation as one JSON line instead of the table")
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_watch)

    p = add_verb("annotate", help="annotate XDI, column, Athena or Gatan .dm3/.dm4 files offline")
    p.add_argument("files", nargs="+")
    p.add_argument("--element", help="absorbing element when the file does not say")
    p.add_argument("--edge", help="edge when the file does not say")
    shift = p.add_mutually_exclusive_group()
    shift.add_argument("--energy-shift", type=float,
                       help="eV added to the file's energies (e.g. from the day's foil scan)")
    p.add_argument("--reference", metavar="FOIL_FILE",
                   help="the reference foil measured in the same scan, in its own file: the "
                   "energies are aligned on its edge (a file's own Iref or mu_ref column is "
                   "used without this)")
    shift.add_argument("--foil-scan", metavar="FOIL",
                       help="a foil scanned on its own in the same session (a file, or a "
                       "group label of an Athena project given): its edge sets the shift of "
                       "every spectrum")
    p.add_argument("--reference-e0", type=float, metavar="EV",
                   help="where the reference's edge belongs when it is not the element's foil "
                   "(default: the tabulated edge, e.g. Cu K 8979.0)")
    p.add_argument("--eels", action="store_true",
                   help="EELS: columns are energy loss (eV) and counts (e.g. --element Cu "
                   "--edge L2,3)")
    p.add_argument("--composition", metavar="FORMULA",
                   help="what the sample is made of (e.g. CuFe2O4 or 'Cu,Fe,O'): structure "
                   "screening ranks only candidates of these elements (default: the XDI "
                   "Sample.stoichiometry or Sample.formula)")
    p.add_argument("--json", action="store_true",
                   help="print each annotation as one JSON line instead of the table")
    p.set_defaults(func=cmd_annotate)

    p = add_verb("replay", help="publish a spectrum file to Kafka as a Bluesky run")
    _kafka_flags(p)
    p.add_argument("files", nargs="+")
    p.add_argument("--element")
    p.add_argument("--edge")
    p.set_defaults(func=cmd_replay)

    p = add_verb("library", help="add your own candidate structures to a Cu K screening "
                       "library (CIF/POSCAR; needs the training extra for matgl)")
    p.add_argument("action", choices=("add", "show"))
    p.add_argument("paths", nargs="+", type=Path,
                   help="add: CIF/POSCAR files; show: the library .npz")
    p.add_argument("--library", type=Path, help="add: library .npz to append to (created)")
    p.set_defaults(func=cmd_library)

    p = add_verb("config", help="print the resolved settings (secrets masked)")
    _kafka_flags(p)
    p.set_defaults(func=cmd_config)

    p = add_verb("plugins", help="list installed model plugins and their providers")
    p.set_defaults(func=cmd_plugins)

    p = add_verb("broker", help="run the embedded Tansu broker in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_broker)

    p = add_verb("simulate", help="run the simulated beamline against a broker")
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    p.add_argument("--beamline", default="sim")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; the exit code says which class of failure ended it (EXIT_CODES_HELP)."""
    from kafka.errors import KafkaError

    from edgestream.doors.kafka.clients import BrokerUnreachable, ConnectionChatter

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level or "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(ConnectionChatter())
    _apply_log_level(args.log_level or "INFO")
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
        log.exception("internal error")
        print(f"edgestream: internal error (a bug, please report it with the traceback "
              f"above): {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:
        log.exception("internal error")
        print(f"edgestream: internal error (a bug, please report it with the traceback "
              f"above): {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
