"""The service's verbs: serve, route, watch, config, plugins."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from edgestream.apps.cli.common import (
    input_topic_flags,
    json_flag,
    kafka_flags,
    log,
    settings_from_args,
    stop_event,
)


def cmd_serve(args: argparse.Namespace) -> int:
    from edgestream.doors.kafka.clients import wait_for_kafka

    settings = settings_from_args(args)
    log.info("settings: %s", json.dumps(settings.masked()))
    stop = stop_event(args.duration)
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

    settings = settings_from_args(args)
    if args.partitions is not None:
        settings.router.partitions = args.partitions
    stop = stop_event(args.duration)
    wait_for_kafka(settings.kafka, stop, settings.kafka.connect_timeout_s)
    Router(settings).run(stop)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from edgestream.apps.watch import watch

    settings = settings_from_args(args)
    watch(settings, args.topic, stop_event(args.duration), as_json=args.json)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(settings_from_args(args).masked(), indent=2))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from importlib.metadata import entry_points

    from edgestream.plugin.api import ENTRY_POINT_GROUP, discover

    running = discover(settings_from_args(args).plugins)
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


def add_service_verbs(add_verb: Callable[..., argparse.ArgumentParser]) -> None:
    """serve and route (the service's processes), then watch."""
    p = add_verb("serve", help="consume documents, publish annotations (the service)")
    kafka_flags(p)
    input_topic_flags(p)
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--live-port", type=int, help="serve the live page on this port")
    p.add_argument("--live-host", default="127.0.0.1", help="live page address (localhost)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_serve)

    p = add_verb("route", help="re-key documents by run onto <beamline>.edgestream.runs, so "
                 "service replicas share runs the facility put under one key")
    kafka_flags(p)
    input_topic_flags(p)
    p.add_argument("--partitions", type=int, help="of the runs topic when it is created "
                   "(router.partitions, default 4): the most replicas that share the work")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_route)

    p = add_verb("watch", help="print annotations from a topic as they arrive")
    kafka_flags(p)
    p.add_argument("--topic", default="sim.xas.annotations")
    json_flag(p)
    p.add_argument("--duration", type=float)
    p.set_defaults(func=cmd_watch)


def add_info_verbs(add_verb: Callable[..., argparse.ArgumentParser]) -> None:
    """config and plugins: what the service would run with."""
    p = add_verb("config", help="print the resolved settings (secrets masked)")
    kafka_flags(p)
    p.set_defaults(func=cmd_config)

    p = add_verb("plugins", help="list installed model plugins and their providers")
    p.set_defaults(func=cmd_plugins)
