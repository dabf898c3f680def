"""``python -m bench.replicas``: throughput with 1, 2 and 4 service replicas in one group.

Per broker, with a fresh beamline prefix for each configuration:

- ``keyed × n``: the documents keyed by run on a 4-partition documents topic (a producer that
  keys by run, e.g. the simulator's) that n replicas in one group read: the scale-out figure;
- ``direct × n``: the facility's session publisher puts every document under one key, so its
  documents topic (one partition here, as nslsii's) feeds one replica however many run;
- ``router × n``: ``edgestream route`` re-keys such a session-keyed stream by run onto a
  4-partition runs topic that n replicas in one group read.

Per-core efficiency is the speed-up over one replica of the same path divided by the cores
the n replicas can use (min(n, partitions, cores)); the CPU efficiency is the spectra per
replica CPU-second against one replica's (what running several costs, whatever the load).

The processes start first (router, then replicas; each replica's partition assignment is
awaited) and are warmed up (280 spectra in 24 small runs, so every replica has run its
models), then the workload is published as fast as the broker takes it, under one key.
Throughput is the spectra over the time from the first send to the arrival of the last
annotation at a reader; CPU seconds of each process over that window come from /proc.
Replicas are pinned round-robin to cores 0 and 1, the router to core 1 (``taskset``); on a
2-core machine 4 replicas share 2 cores, so what can scale is bounded by the cores.
Writes ``bench/results/replicas.json`` and ``replicas.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import yaml

from bench.brokers import BROKER_KINDS, Broker, apache_unavailable, fill, make_topics, start_broker
from bench.documents import DataPool, Workload, encoded, make_runs
from bench.kafka_path import topic_names
from bench.procs import REPO, AnnotationReader, Service, cpu_seconds, pinned
from bench.report import machine, save
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream_dev.procs import LoggedProcess, wait_until

# Many small runs, so that the runs hash over 4 partitions in shares that are not too
# lopsided: 64 runs, 2,552 spectra (EELS rows of 32 pixels, fly sweeps, step scans).
WORKLOAD = Workload(step_runs=24, fly_runs=24, fly_sweeps=20, eels_runs=16, eels_rows=4)
CONFIGS = (("keyed", 1), ("keyed", 2), ("keyed", 4), ("direct", 1), ("direct", 2),
           ("router", 1), ("router", 2), ("router", 4))
PARTITIONS = 4
T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s | load {os.getloadavg()[0]:4.1f}] {message}",
          file=sys.stderr, flush=True)


class Router(LoggedProcess):
    """``edgestream route`` pinned to a core; log and settings in ``workdir``."""

    def __init__(self, workdir: Path, name: str, bootstrap: str, docs_topic: str,
                 core: int | None) -> None:
        config = workdir / f"{name}.yml"
        config.write_text(yaml.safe_dump({
            "beamline": "bench", "log_level": "INFO",
            "kafka": {"bootstrap_servers": bootstrap, "topics": [docs_topic],
                      "group_id": f"{name}-{uuid.uuid4().hex[:6]}", **FAST_GROUP_SETTINGS},
            "router": {"partitions": PARTITIONS}}))
        super().__init__(pinned([sys.executable, "-m", "edgestream.apps.cli", "route",
                                 "--config", str(config), "--kafka-yml", os.devnull], core),
                         workdir / f"{name}.log", REPO)
        self.start()

    def counts(self) -> str:
        lines = [ln for ln in self.read_log().splitlines() if "router: routed" in ln]
        return lines[-1].split("router: ", 1)[1] if lines else ""


def last_assignment(log: Path) -> list[str] | None:
    """Partitions of the last "partitions assigned" line of a log (None: none yet)."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines()
             if "partitions assigned" in ln]
    if not lines:
        return None
    return re.findall(r"\[(\d+)\]'", lines[-1])


def settled(replicas: list[Service], partitions: int) -> bool:
    """Every replica logged an assignment and, by their last ones, together they hold each of
    ``partitions`` exactly once: the group's last rebalance is done, none is still to come (a
    replica still showing an earlier generation's partitions makes one appear twice)."""
    held = [last_assignment(s.log) for s in replicas]
    if any(h is None for h in held):
        return False
    flat = [p for h in held for p in h or []]
    busy = sum(bool(h) for h in held)
    return len(flat) == len(set(flat)) == partitions and busy == min(len(replicas), partitions)


def measure(broker: Broker, mode: str, n: int, messages: list[tuple[bytes, bytes]],
            spectra: int, warm: tuple[list[tuple[bytes, bytes]], int], workdir: Path,
            plugins: str, timeout_s: float) -> dict[str, Any]:
    """One configuration: processes up and warmed up, the workload in (under one key, or by
    run for ``keyed``), the last annotation."""
    tag = f"{mode}{n}x{uuid.uuid4().hex[:5]}"
    topics = topic_names(tag, "rep")
    make_topics(broker.bootstrap_servers, [t for k, t in topics.items() if k != "input"])
    create_topics(broker.bootstrap_servers, [topics["input"]],
                  partitions=PARTITIONS if mode == "keyed" else 1, replication=1)
    if mode != "keyed":
        messages, warm = one_key(messages), (one_key(warm[0]), warm[1])
    runs_topic = topics["input"].replace(".bluesky.runengine.documents", ".edgestream.runs")
    router = None
    replicas: list[Service] = []
    reader = None
    try:
        if mode == "router":
            router = Router(workdir, f"router-{tag}", broker.bootstrap_servers, topics["input"], 1)
            if not wait_until(lambda: router.logged("routing "), 90, "router start",
                              strict=False):
                return {"error": "router did not start", "log": router.log_tail(40)}
        source = runs_topic if mode == "router" else topics["input"]
        group = f"svc-{tag}"
        replicas = [Service(workdir, f"svc-{tag}-{i}", broker.bootstrap_servers, [source], plugins,
                            i % 2, client={}, group=group) for i in range(n)]
        # the group settled (a late join would rebalance mid-measurement)
        partitions = 1 if mode == "direct" else PARTITIONS
        if not wait_until(lambda: settled(replicas, partitions), 120, "settled group",
                          strict=False):
            return {"error": "replicas not assigned",
                    "logs": [s.log_tail(5) for s in replicas]}
        reader = AnnotationReader(broker.bootstrap_servers, topics["annotations"], None,
                                  topics["deadletter"])
        # Warm-up: small runs of every kind, spread over the partitions, so that every
        # replica has loaded and run its models once before the clock starts
        fill(broker.bootstrap_servers, topics["input"], warm[0])
        if not reader.wait_for(warm[1], timeout_s, lambda: all(s.alive() for s in replicas)):
            return {"error": "no warm-up", "logs": [s.log_tail(5) for s in replicas]}
        time.sleep(1.0)
        before = len(reader.since(0))
        pids = [s.pid for s in replicas] + ([router.proc.pid] if router else [])
        cpu0 = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
        t0 = time.time()
        filled = fill(broker.bootstrap_servers, topics["input"], messages)
        done = reader.wait_for(warm[1] + spectra, timeout_s,
                               lambda: all(s.alive() for s in replicas))
        seen = reader.since(before)
        cpu1 = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
        t_last = max((s.received for s in seen), default=time.time())
        assigned = [last_assignment(s.log) or [] for s in replicas]
        window = t_last - t0
        unique = len({s.annotation_id for s in seen})
        cpu_total = sum(cpu1[p] - cpu0[p] for p in pids[:n])
        out = {"mode": mode, "replicas": n, "complete": done, "spectra": spectra,
               "spectra_per_replica_cpu_s": unique / cpu_total if cpu_total > 0 else None,
               "load_average": [round(x, 1) for x in os.getloadavg()],
               "annotations": unique, "dead_letters": len(reader.dead_letters),
               "window_s": round(window, 3), "spectra_per_s": unique / window,
               "fill": filled, "partitions_per_replica": [len(a) for a in assigned],
               "replica_cpu_s": [round(cpu1[p] - cpu0[p], 2) for p in pids[:n]],
               "cores": [i % 2 for i in range(n)]}
        if router is not None:
            rcpu = cpu1[router.proc.pid] - cpu0[router.proc.pid]
            out |= {"router_cpu_s": round(rcpu, 2), "router_core": 1,
                    "router_msgs_per_cpu_s": len(messages) / rcpu if rcpu > 0 else None}
        return out
    finally:
        if reader is not None:
            reader.close()
        for s in replicas:
            s.stop()
        if router is not None:
            router.stop()
            time.sleep(0.2)
            if router is not None and (counts := router.counts()):
                progress(f"router: {counts}")


def one_key(runs_messages: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Every message under one session key, as nslsii's session publisher sends them."""
    key = uuid.uuid4().hex.encode()
    return [(key, value) for _, value in runs_messages]


def efficiency(runs: list[dict[str, Any]], cores: int) -> None:
    """Per run, against one replica of the same path: speed-up, per-core efficiency (speed-up
    over the cores the replicas can use) and CPU efficiency (spectra per replica CPU-s)."""
    one = {r["mode"]: r for r in runs if r.get("replicas") == 1 and "error" not in r}
    for r in runs:
        base = one.get(r.get("mode", ""))
        if base is None or "error" in r:
            continue
        usable = min(r["replicas"], cores, 1 if r["mode"] == "direct" else PARTITIONS)
        r["speedup"] = r["spectra_per_s"] / base["spectra_per_s"]
        r["usable_cores"] = usable
        r["per_core_efficiency"] = r["speedup"] / usable
        if r.get("spectra_per_replica_cpu_s") and base.get("spectra_per_replica_cpu_s"):
            r["cpu_efficiency"] = (r["spectra_per_replica_cpu_s"]
                                   / base["spectra_per_replica_cpu_s"])


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Run {results['started']} on {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"load {results['load_start']} at the start; replicas pinned round-robin to cores "
             "0 and 1, the router to core 1. Workload: "
             f"{results['workload']['spectra']} spectra in {results['runs']} runs "
             f"({results['messages']} messages), keyed by run on a {PARTITIONS}-partition topic "
             f"(keyed), or under one key on a 1-partition topic (direct; router: runs topic of "
             f"{PARTITIONS} partitions); plugins {results['plugins']}.", "",
             "| broker | path | replicas | spectra/s | speed-up | per-core efficiency "
             "(usable cores) | spectra per replica CPU-s | CPU efficiency | partitions "
             "per replica | CPU-s per replica | router CPU-s (msgs/CPU-s) | load after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b in results["brokers"]:
        for r in b["runs"]:
            if "error" in r:
                lines.append(f"| {b['broker']} | {r.get('mode', '?')} | {r.get('replicas', '?')}"
                             f" | error: {r['error']} | | | | | | | | |")
                continue
            router = (f"{r['router_cpu_s']} ({r['router_msgs_per_cpu_s']:,.0f})"
                      if r.get("router_cpu_s") else "–")
            done = "" if r["complete"] else " (incomplete)"
            lines.append(f"| {b['broker']} | {r['mode']} | {r['replicas']} | "
                         f"{r['spectra_per_s']:,.0f}{done} | {_x(r.get('speedup'))} | "
                         f"{_pct(r.get('per_core_efficiency'))} ({r.get('usable_cores', '?')})"
                         f" | {r['spectra_per_replica_cpu_s'] or 0:,.0f} | "
                         f"{_pct(r.get('cpu_efficiency'))} | "
                         f"{r['partitions_per_replica']} | {r['replica_cpu_s']} | {router} | "
                         f"{r['load_average'][0]} |")
    cores = m.get("cores") or 1
    if max(results["load_start"][0], *(r.get("load_average", [0])[0] for b in results["brokers"]
                                        for r in b["runs"])) > cores:
        lines += ["", f"The load average passed the {cores} cores: the processes here shared "
                  "them with other jobs, so spectra/s measures that contention as much as the "
                  "service; the CPU seconds per replica (how the work was split) and the "
                  "router's messages per CPU-s are the figures that carry over."]
    return "\n".join(lines) + "\n"


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f} %"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.replicas",
                                description=__doc__.splitlines()[0])
    p.add_argument("--brokers", default=",".join(BROKER_KINDS))
    p.add_argument("--plugins", choices=("all", "installed"), default="all")
    p.add_argument("--timeout", type=float, default=240.0)
    p.add_argument("--workload", default="{}", help="Workload fields as JSON")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--configs", default=",".join(f"{m}{n}" for m, n in CONFIGS),
                   help="which to run, e.g. keyed1,keyed2,keyed4")
    a = p.parse_args(argv)
    configs = [(m, n) for m, n in CONFIGS if f"{m}{n}" in a.configs.split(",")]
    from bench.models import bench_models

    workload = replace(WORKLOAD, **json.loads(a.workload))
    pool = DataPool(workload)
    runs = make_runs(workload, pool)
    messages = list(encoded(runs))  # keyed by run
    spectra = sum(r.spectra for r in runs)
    warm_runs = make_runs(replace(workload, step_runs=8, fly_runs=8, fly_sweeps=2,
                                  eels_runs=8, eels_rows=1), pool)
    warm = (list(encoded(warm_runs)), sum(r.spectra for r in warm_runs))
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(None),
        "load_start": [round(x, 1) for x in os.getloadavg()],
        "workload": asdict(workload) | {"spectra": spectra}, "runs": len(runs),
        "messages": len(messages), "plugins": [m.name for m in bench_models(a.plugins)],
        "brokers": [], "notes": []}
    workdir = Path(tempfile.mkdtemp(prefix="edgestream-replicas-"))
    progress(f"{spectra} spectra in {len(runs)} runs, {len(messages)} messages; {workdir}")
    try:
        for kind in [k for k in a.brokers.split(",") if k]:
            why = apache_unavailable() if kind == "apache" else None
            if why:
                results["notes"].append(why)
                continue
            broker = start_broker(kind, workdir / kind)
            out = {"broker": f"{kind} {broker.version}", "runs": []}
            try:
                for mode, n in configs:
                    progress(f"{kind}: {mode} x{n}")
                    r = measure(broker, mode, n, messages, spectra, warm, workdir,
                                a.plugins, a.timeout)
                    progress(f"{kind}: {mode} x{n}: "
                             f"{r.get('spectra_per_s', 0):,.0f} spectra/s {r.get('error', '')}")
                    out["runs"].append(r)
            finally:
                broker.stop()
            efficiency(out["runs"], os.cpu_count() or 1)
            results["brokers"].append(out)
    finally:
        results["load_end"] = [round(x, 1) for x in os.getloadavg()]
        shutil.rmtree(workdir, ignore_errors=True)
    save(a.out, "replicas", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
