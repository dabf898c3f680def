"""``python -m edgestream_dev.apache fetch|start|stop|status|properties`` (what
``ops/kafka/apache-kafka.sh`` runs)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edgestream_dev.apache.cluster import ApacheKafka
from edgestream_dev.apache.config import default_base_port, free_base_port, server_properties
from edgestream_dev.apache.jars import KAFKA_VERSION, VERSION_ENV, KafkaSetupError, fetch
from edgestream_dev.procs import BrokerStartError


def main(argv: list[str] | None = None) -> int:
    """``python -m edgestream_dev.apache fetch|start|stop|status|properties``."""
    parser = argparse.ArgumentParser(
        prog="apache-kafka.sh", description="Apache Kafka (KRaft) from Maven Central jars."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_fetch = sub.add_parser("fetch", help="copy the jars into the cache (no-op when there)")
    p_start = sub.add_parser("start", help="format + start in the background, wait until ready")
    p_stop = sub.add_parser("stop", help="SIGTERM by saved PID, SIGKILL after --timeout")
    p_status = sub.add_parser("status", help="exit 0 when every node runs and listens")
    p_props = sub.add_parser("properties", help="print a node's server.properties")
    for p in (p_fetch, p_start, p_props):
        p.add_argument("--version", default=os.environ.get(VERSION_ENV, KAFKA_VERSION))
    for p in (p_start, p_stop, p_status):
        p.add_argument("--workdir", "-d", required=True, help="data/log/pid folder")
    for p in (p_start, p_props):
        p.add_argument("--nodes", "-n", type=int, choices=(1, 3), default=1)
        p.add_argument(
            "--base-port",
            "-p",
            type=int,
            default=None,
            help="client port of node 1 (node n: +100*(n-1); controller: +1); "
            "default 9092 (one node) / 9192 (three); 0 picks free ports",
        )
    p_start.add_argument("--timeout", type=float, default=120.0, help="readiness timeout (s)")
    p_stop.add_argument("--timeout", type=float, default=30.0, help="SIGKILL after (s)")
    p_props.add_argument("--node", type=int, default=1)
    p_fetch.add_argument("--verbose", "-v", action="store_true", help="show Maven output")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "fetch":
            lib, seconds = fetch(args.version, quiet=not args.verbose)
            took = "already cached" if seconds is None else f"fetched in {seconds:.1f} s"
            print(f"Apache Kafka {args.version} jars: {lib} ({took})")
            return 0
        if args.cmd == "properties":
            base = args.base_port or default_base_port(args.nodes)
            props = server_properties(args.node, args.nodes, base, Path(f"node-{args.node}/data"))
            print("\n".join(f"{k}={v}" for k, v in props.items()))
            return 0
        if args.cmd == "start":
            base = args.base_port
            if base == 0:
                base = free_base_port(args.nodes)
            kafka = ApacheKafka(
                version=args.version,
                workdir=args.workdir,
                nodes=args.nodes,
                base_port=base,
                detach=True,
            )
            kafka.fetch(quiet=False)
            kafka.start(timeout=args.timeout)
            print(f"bootstrap_servers={kafka.bootstrap_servers}")
            print(
                f"Apache Kafka {kafka.version}: {kafka.nodes} node(s) ready in "
                f"{kafka.started_in_s:.1f} s; pids "
                f"{[kafka.pid(n) for n in kafka.node_ids]}; logs {kafka.workdir}/node-*/kafka.log",
                file=sys.stderr,
            )
            return 0
        kafka = ApacheKafka.from_workdir(args.workdir, stop_timeout=getattr(args, "timeout", 30))
        if args.cmd == "stop":
            kafka.stop()
            print(f"stopped {kafka.workdir}", file=sys.stderr)
            return 0
        status = kafka.status()
        ok = True
        for node_id, st in status.items():
            ok &= st["pid"] is not None and bool(st["listening"])
            print(
                f"node {node_id}: pid={st['pid']} port={st['client_port']} "
                f"listening={st['listening']} log={st['log']}"
            )
        print(f"bootstrap_servers={kafka.bootstrap_servers}")
        return 0 if ok else 1
    except (KafkaSetupError, BrokerStartError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

