"""``python -m bench.latency_ab``: paced latency with two sets of service settings, alternating.

On a shared machine the load moves between runs more than a setting moves latency, so the
two settings are compared within one run, on the same broker, in turns (A, B, A, B, ...):
each turn is ``bench.kafka_path.latency`` (a fresh service, warmed up, then a mixed stream
at each paced rate). Default: A = publishing as before issue 33 (each batch acknowledged
and committed before the next poll, one poll per batch), B = overlapped acknowledgement
(``kafka.overlap_publish``, opt-in) and batches sized by time (the default 5 ms). Writes
``latency_ab.json`` and ``latency_ab.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.brokers import BROKER_KINDS, apache_unavailable, start_broker
from bench.documents import KINDS, DataPool, Workload
from bench.kafka_path import KafkaOptions, latency
from bench.procs import REPO
from bench.report import machine, save
from bench.run import progress

BEFORE = {"overlap_publish": False, "max_batch_latency_ms": 0}
OVERLAPPED = {"overlap_publish": True}


def summary(turns: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Per rate and kind, the median over the turns of each turn's p50 and p99."""
    out: dict[str, Any] = {}
    for r in {x["input_rate"] for t in turns for x in t if "input_rate" in x}:
        rows = [x for t in turns for x in t if x.get("input_rate") == r]
        per: dict[str, Any] = {"turns": len(rows),
                               "saturated": sum(bool(x.get("saturated")) for x in rows)}
        for kind in ("all", *KINDS):
            stats = [x if kind == "all" else x.get("by_kind", {}).get(kind) for x in rows]
            stats = [s for s in stats if s and s.get("n")]
            if stats:
                per[kind] = {q: float(np.median([s[f"{q}_ms"] for s in stats]))
                             for q in ("p50", "p99")}
        out[f"{r:g}"] = per
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Run {results['started']} on {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"load {results['load_start']} at the start and {results.get('load_end')} at the "
             f"end; {results['turns']} turns of each setting, alternating; each cell is the "
             "median over the turns of that turn's p50 / p99 (ms, event time → "
             "published_at). A: " + json.dumps(results["a"]) + "; B: "
             + json.dumps(results["b"]) + ".", "",
             "| broker | rate (spectra/s) | setting | all p50 / p99 | step | fly | eels |"
             " saturated turns |", "|---|---|---|---|---|---|---|---|"]
    for b in results["brokers"]:
        for label in ("a", "b"):
            for rate, per in sorted(b[label].items(), key=lambda kv: float(kv[0])):
                cells = [f"{per[k]['p50']:,.0f} / {per[k]['p99']:,.0f}" if k in per else "–"
                         for k in ("all", *KINDS)]
                lines.append(f"| {b['broker']} | {rate} | {label.upper()} | "
                             + " | ".join(cells) + f" | {per['saturated']} of {per['turns']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency_ab",
                                description=__doc__.splitlines()[0])
    p.add_argument("--brokers", default=",".join(BROKER_KINDS))
    p.add_argument("--rates", default="100,1000")
    p.add_argument("--rate-seconds", type=float, default=6.0)
    p.add_argument("--turns", type=int, default=2)
    p.add_argument("--a", default=json.dumps(BEFORE), help="kafka settings A, JSON")
    p.add_argument("--b", default=json.dumps(OVERLAPPED), help="kafka settings B, JSON")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    a = p.parse_args(argv)
    workload = Workload.quick()
    pool = DataPool(workload)
    settings = {"a": json.loads(a.a), "b": json.loads(a.b)}
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(0),
        "load_start": [round(x, 1) for x in os.getloadavg()], "turns": a.turns,
        **settings, "brokers": [], "notes": []}
    workdir = Path(tempfile.mkdtemp(prefix="edgestream-latency-ab-"))
    try:
        for kind in [k for k in a.brokers.split(",") if k]:
            why = apache_unavailable() if kind == "apache" else None
            if why:
                results["notes"].append(why)
                continue
            broker = start_broker(kind, workdir / kind)
            turns: dict[str, list[list[dict[str, Any]]]] = {"a": [], "b": []}
            try:
                for i in range(a.turns):
                    for label in ("a", "b"):
                        opts = KafkaOptions(workload, tuple(float(r) for r in a.rates.split(",")),
                                            a.rate_seconds, kafka=settings[label])
                        progress(f"{kind}: turn {i + 1}, setting {label.upper()}")
                        rates, _ = latency(broker, pool, uuid.uuid4().hex[:6], opts, workdir,
                                           progress)
                        turns[label].append(rates)
            finally:
                broker.stop()
            results["brokers"].append({"broker": f"{kind} {broker.version}", "runs": turns,
                                       "a": summary(turns["a"]), "b": summary(turns["b"])})
    finally:
        results["load_end"] = [round(x, 1) for x in os.getloadavg()]
        shutil.rmtree(workdir, ignore_errors=True)
    save(a.out, "latency_ab", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
