"""The agent's verbs of ``edgestream`` (entry points ``edgestream.commands`` in
stream/pyproject.toml): agent, compare-agents. Light to import: each ``run`` imports the
agent (and compare-agents the simulated beamline, the ``beamline`` extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgestream.apps.cli import Command
from edgestream.apps.cli.common import kafka_flags, settings_from_args, stop_event
from edgestream.config.settings import SettingsError


def _agent_flags(p: argparse.ArgumentParser) -> None:
    kafka_flags(p)
    p.add_argument("--sample", default="Cu gradient", help="sample name the plans measure")
    p.add_argument("--strategy", default="boundary",
                   choices=["boundary", "uncertainty", "kmeans", "grid"])
    p.add_argument("--quantity", default="valence.value",
                   help="PLUGIN.OUTPUT to steer on (fallbacks: edge_area, edge shift, e0)")
    p.add_argument("--uncertainty-key", default="uncertainty",
                   help="output key of the quantity's uncertainty")
    p.add_argument("--element", default="Cu", help="absorbing element of the edge (Cu)")
    p.add_argument("--edge", default="K", help="edge the plans measure (K)")
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


def _agent(args: argparse.Namespace) -> int:
    from edgestream.apps.quantity import QuantitySpec
    from edgestream_agent.app import AgentConfig, run_adaptive_agent, run_agent
    from edgestream_agent.positions import PositionSpec

    settings = settings_from_args(args)
    try:
        cfg = AgentConfig(
            sample=args.sample, strategy=args.strategy,
            quantity=QuantitySpec.parse(args.quantity, uncertainty=args.uncertainty_key),
            element=args.element, edge=args.edge,
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
                                f"(pip install 'edgestream-lab[agent]'): {exc}") from exc
        agent = run_adaptive_agent(cfg, settings, stop_event(args.duration))
        report = {k: v.tolist() if hasattr(v, "tolist") else v
                  for k, v in agent.report().items()}
    else:
        report = run_agent(cfg, settings, stop_event(args.duration)).report()
    print(json.dumps(report, indent=2, default=str))
    return 0


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


def _compare(args: argparse.Namespace) -> int:
    from edgestream_agent.compare import run_command

    return run_command(args)


AGENT = Command("steer a sample stage from the annotations (agent process)", _agent_flags,
                _agent)
COMPARE = Command("scans to locate gradient boundaries: grid vs k-means vs ours",
                  compare_flags, _compare, ("bluesky", "ophyd"),
                  "pip install 'edgestream-lab[beamline]'")
