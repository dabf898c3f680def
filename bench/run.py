"""``python -m bench.run`` (``make bench``): the whole benchmark, one command.

On each broker (embedded Tansu; Apache Kafka single node unless java is missing), with
realistic Bluesky documents: raw passthrough vs the full service path, latency at paced input
rates, the service's peak RSS; then without a broker: normalization vs Larch, model inference
per plugin and a stage breakdown; a cProfile of the full path on the first broker. Prints a
Markdown table and writes bench/results/latest.json, latest.md and latest.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.brokers import BROKER_KINDS, apache_unavailable, start_broker
from bench.documents import DataPool, Workload
from bench.kafka_path import KafkaOptions, measure_broker
from bench.models import bench_models
from bench.procs import REPO, pinned, write_service_config
from bench.report import machine, markdown, plot

PARTS = ("kafka", "throughput", "normalization", "inference", "breakdown", "profile")
T0 = time.perf_counter()


def progress(message: str) -> None:
    load = os.getloadavg()[0]
    print(f"[{time.perf_counter() - T0:6.1f} s | load {load:4.1f}] {message}", file=sys.stderr,
          flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smaller workload (~5 min)")
    p.add_argument("--brokers", default=",".join(BROKER_KINDS), help="tansu,apache")
    p.add_argument("--rates", default="100,1000", help="paced input rates, spectra/s")
    p.add_argument("--rate-seconds", type=float, default=None, help="seconds per paced rate")
    p.add_argument("--plugins", choices=("all", "installed"), default="all",
                   help="all: installed plugins plus unregistered ones in plugins/")
    p.add_argument("--core", type=int, default=0, help="core to pin the service to; -1: none")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip: {PARTS}")
    p.add_argument("--workload", default="{}", help='Workload fields as JSON, e.g. {"fly_runs": 4}')
    p.add_argument("--larch-spectra", type=int, default=24, help="spectra per Larch timing")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--timeout", type=float, default=240.0, help="per measurement, seconds")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    p.add_argument("--no-derived", action="store_true",
                   help="run the service with kafka.publish_derived: false")
    p.add_argument("--service-client", default="{}",
                   help='extra kafka.client settings of the service as JSON, e.g. '
                        '\'{"fetch_max_wait_ms": 10}\'')
    p.add_argument("--service-kafka", default="{}",
                   help='other kafka settings of the service as JSON, e.g. '
                        '\'{"overlap_publish": false, "max_batch_latency_ms": 0}\'')
    p.add_argument("--profile-seconds", type=float, default=45.0,
                   help="cap on the profiled run (it stops there if not done)")
    return p.parse_args(argv)


def offline(args: argparse.Namespace, workload: Workload, skip: set[str], workdir: Path
            ) -> dict[str, Any]:
    parts = [p for p in ("normalization", "inference", "breakdown") if p not in skip]
    if not parts:
        return {}
    progress(f"without a broker: {', '.join(parts)} (pinned process)")
    out = workdir / "offline.json"
    cmd = pinned([sys.executable, "-m", "bench.offline", "--out", str(out), "--workload",
                  json.dumps(dataclasses.asdict(workload)), "--plugins", args.plugins,
                  "--larch-spectra", str(args.larch_spectra), "--parts", ",".join(parts)],
                 None if args.core < 0 else args.core)
    done = subprocess.run(cmd, cwd=REPO)
    return json.loads(out.read_text()) if done.returncode == 0 and out.is_file() else {
        "offline_error": f"bench.offline exited with {done.returncode}"}


def profile(args: argparse.Namespace, bootstrap: str, measured: dict[str, Any], outdir: Path,
            workdir: Path, broker: str) -> dict[str, Any]:
    expect = sum(k["spectra"] for k in measured["kinds"].values())
    progress(f"{broker}: cProfile of the full path ({expect} spectra, all kinds)")
    config = write_service_config(workdir / "profile.yml", bootstrap, measured["input_topics"],
                                  f"profile-{os.getpid()}-{time.time_ns()}", not args.no_derived,
                                  json.loads(args.service_client))
    text = outdir / f"profile-{broker}.txt"
    cmd = pinned([sys.executable, "-m", "bench.profile", "--config", str(config), "--expect",
                  str(expect), "--out", str(text), "--prof", str(workdir / "profile.prof"),
                  "--plugins", args.plugins, "--timeout", str(args.profile_seconds)],
                 None if args.core < 0 else args.core)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"text": text.name,
                                                               "broker": broker}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    skip = {s for s in args.skip.split(",") if s}
    base = Workload.quick() if args.quick else Workload()
    workload = dataclasses.replace(base, **json.loads(args.workload))
    rate_s = args.rate_seconds or (5.0 if args.quick else 8.0)
    opts = KafkaOptions(workload, tuple(float(r) for r in args.rates.split(",") if r), rate_s,
                        args.plugins, None if args.core < 0 else args.core, args.timeout,
                        not args.no_derived, json.loads(args.service_client),
                        json.loads(args.service_kafka), "throughput" not in skip)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="edgestream-bench-"))
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M"), "mode": "quick" if args.quick else "full",
        "machine": machine(opts.core), "workload": workload.as_dict(), "brokers": [],
        "plugins": [m.name for m in bench_models(args.plugins)], "notes": [],
        "settings": {"rates": opts.rates, "rate_seconds": rate_s, "plugin_set": args.plugins,
                     "service": "edgestream defaults (at-least-once, acks=all, "
                                "max_poll_records 500), fresh group",
                     "publish_derived": not args.no_derived,
                     "kafka_client": json.loads(args.service_client),
                     "kafka": json.loads(args.service_kafka)}}
    progress(f"workload {workload.spectra()} spectra; plugins {results['plugins']}; "
             f"work folder {workdir}")
    try:
        if "kafka" not in skip:
            pool = DataPool(workload)
            for i, kind in enumerate(k for k in args.brokers.split(",") if k):
                why = apache_unavailable() if kind == "apache" else None
                if why:
                    results["notes"].append(why)
                    progress(why)
                    continue
                progress(f"starting {kind}")
                broker = start_broker(kind, workdir / kind)
                try:
                    measured = measure_broker(broker, pool, opts, workdir, progress)
                    results["brokers"].append(measured)
                    if i == 0 and "profile" not in skip:
                        results["profile"] = profile(args, broker.bootstrap_servers, measured,
                                                     outdir, workdir, kind)
                finally:
                    broker.stop()
        results |= offline(args, workload, skip, workdir)
    finally:
        results["machine"]["load_average_end"] = os.getloadavg()
        results["elapsed_s"] = time.perf_counter() - T0
        (outdir / "latest.json").write_text(json.dumps(results, indent=1, default=str))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    why = plot(results, outdir / "latest.png")
    if why:
        results["notes"].append(why)
    table = markdown(results)
    (outdir / "latest.md").write_text(table)
    print(table)
    progress(f"done: {outdir / 'latest.json'}, latest.md, latest.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
