"""Measurements through a broker: raw passthrough vs the full service path, latency, RSS.

Per broker, per kind of run (step, fly, EELS rows), one topic filled before anything reads it:

1. raw passthrough (``bench.raw``, a fresh group, pinned to one core);
2. the full path: a fresh service process (``bench.service``, a fresh group, same core) reads
   the topic and publishes one annotation per spectrum; its rate is the spectra over the time
   from its partition assignment (its log) to the arrival of its last annotation (read with
   a 10 ms fetch wait), so start-up and the group join are excluded, as they are for the raw
   consumer; the CPU seconds it used in that window come from /proc (sampled every ~0.1 s);
3. raw passthrough again; the ratio uses the mean of both raw runs.

Then one more service, warmed up, gets a mixed stream at fixed input rates from a paced
publisher that stamps each event's ``time`` when it sends it; latency is ``published_at``
minus the spectrum's last event time. When the input outruns the service, the wait for the
backlog is capped; a rate is marked saturated when not all its spectra were annotated within
that wait or the output rate stayed under 90 % of the input (latencies then grow with the
queue, and measure the backlog more than the path).
Peak RSS is VmHWM of each service process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaProducer

from bench.brokers import Broker, fill, make_topics
from bench.documents import KINDS, DataPool, Run, Workload, encoded, make_runs, restamp
from bench.procs import REPO, AnnotationReader, Seen, Service, pinned
from edgestream.documents.wire import encode
from edgestream_sim.publisher import DEFAULT_PRODUCER_CONFIG

Progress = Callable[[str], None]


@dataclass(frozen=True)
class KafkaOptions:
    workload: Workload
    rates: tuple[float, ...] = (100.0, 1000.0)
    rate_seconds: float = 10.0
    plugins: str = "all"
    core: int | None = 0
    timeout_s: float = 240.0
    publish_derived: bool = True
    client: dict[str, Any] = field(default_factory=dict)  # extra kafka.client settings
    kafka: dict[str, Any] = field(default_factory=dict)  # other kafka settings of the service
    throughput: bool = True  # False: latency only


def topic_names(tag: str, name: str) -> dict[str, str]:
    """Input and output topics of one beamline prefix (the service derives the outputs)."""
    bl = f"bench{tag}{name}"
    return {"input": f"{bl}.bluesky.runengine.documents", "annotations": f"{bl}.xas.annotations",
            "derived": f"{bl}.xas.derived.documents", "deadletter": f"{bl}.xas.deadletter"}


def run_raw(broker: Broker, topic: str, expect: int, opts: KafkaOptions) -> dict[str, Any]:
    cmd = pinned([sys.executable, "-m", "bench.raw", "--bootstrap", broker.bootstrap_servers,
                  "--topic", topic, "--group", f"raw-{uuid.uuid4().hex[:8]}",
                  "--expect", str(expect), "--timeout", str(opts.timeout_s)], opts.core)
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         timeout=opts.timeout_s + 30)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def full_rate(seen: list[Seen], reader: AnnotationReader, assigned: float | None
              ) -> dict[str, Any]:
    """Spectra / (arrival of the last annotation at the reader - assignment) and the CPU
    seconds used in that window. The end is the arrival, not ``published_at``: the service
    stamps that before it builds the batch's derived documents and sends, so the last batch's
    publishing would fall outside the window. Secondary: annotations after the first batch /
    (last - first ``published_at``)."""
    if not seen or assigned is None:
        return {"annotations": len(seen), "note": "no assignment time or no annotation"}
    pubs = np.array(sorted(s.published_at for s in seen))
    t1 = max(s.received for s in seen)
    c0, c1 = reader.cpu_at(assigned), reader.cpu_at(t1)
    cpu = None if c0 is None or c1 is None else c1 - c0
    out: dict[str, Any] = {
        "annotations": int(pubs.size), "batches": len(set(pubs.tolist())),
        "window_s": round(t1 - assigned, 4), "spectra_per_s": pubs.size / (t1 - assigned),
        "cpu_s": None if cpu is None else round(cpu, 3),
        "spectra_per_cpu_s": pubs.size / cpu if cpu else None}
    if pubs[-1] > pubs[0]:
        out["first_to_last_published_spectra_per_s"] = (np.count_nonzero(pubs > pubs[0])
                                                        / (pubs[-1] - pubs[0]))
    return out


def throughput(broker: Broker, kind: str, runs: list[Run], tag: str, opts: KafkaOptions,
               workdir: Path, progress: Progress) -> tuple[dict[str, Any], dict[str, float]]:
    """Raw, full, raw on one kind's topic; returns the figures and the service's memory."""
    topics = topic_names(tag, kind)
    make_topics(broker.bootstrap_servers, topics.values())
    spectra = sum(r.spectra for r in runs)
    messages = list(encoded(runs))
    progress(f"{broker.kind}/{kind}: filling {len(messages)} messages ({spectra} spectra)")
    filled = fill(broker.bootstrap_servers, topics["input"], messages)
    n_msgs = filled["messages"]
    progress(f"{broker.kind}/{kind}: raw passthrough")
    raw = [run_raw(broker, topics["input"], n_msgs, opts)]
    progress(f"{broker.kind}/{kind}: full service path")
    try:
        service, reader, retries = start_service(broker, f"svc-{broker.kind}-{kind}", topics,
                                                 opts, workdir, progress)
    except NoPartitions as exc:
        return {"spectra": spectra, "messages": n_msgs, "raw_runs": raw, "error": str(exc),
                "full": {}, "raw_msgs_per_s": None, "raw_spectra_per_s": None,
                "raw_spectra_per_cpu_s": None, "spectra_per_message": 0.0}, {}
    t_start = time.time()
    complete = reader.wait_for(spectra, opts.timeout_s, service.alive)
    t_done = time.time()
    seen = reader.since(0)
    service.stop()
    reader.close()
    found = service.assignment()
    full = full_rate(seen, reader, found[0] if found else None) | {
        "complete": complete, "expected": spectra, "dead_letters": _reasons(reader.dead_letters),
        "until_all_s": round(t_done - t_start, 2), "empty_assignment_retries": retries,
        "plugins": service.plugins()}
    if not complete:
        full["log_tail"] = service.log_tail()
    progress(f"{broker.kind}/{kind}: raw passthrough again")
    raw.append(run_raw(broker, topics["input"], n_msgs, opts))
    per_msg = spectra / max(1, n_msgs)
    raw_rates = [r["msgs_per_s"] for r in raw if r.get("msgs_per_s")]
    raw_cpu = [r["msgs_per_cpu_s"] for r in raw if r.get("msgs_per_cpu_s")]
    out = {"messages": n_msgs, "bytes": filled["bytes"], "spectra": spectra,
           "spectra_per_message": round(per_msg, 4), "fill": filled, "raw_runs": raw,
           "raw_msgs_per_s": _mean(raw_rates),
           "raw_spectra_per_s": _times(_mean(raw_rates), per_msg),
           "raw_spectra_per_cpu_s": _times(_mean(raw_cpu), per_msg), "full": full}
    if full.get("spectra_per_s") and out["raw_spectra_per_s"]:
        out["full_vs_raw"] = full["spectra_per_s"] / out["raw_spectra_per_s"]
    if full.get("spectra_per_cpu_s") and out["raw_spectra_per_cpu_s"]:
        out["full_vs_raw_cpu"] = full["spectra_per_cpu_s"] / out["raw_spectra_per_cpu_s"]
    return out, service.memory


class NoPartitions(RuntimeError):
    """Every service started got an empty assignment (the kafka-python race below)."""


def start_service(broker: Broker, name: str, topics: dict[str, str], opts: KafkaOptions,
                  workdir: Path, progress: Progress, tries: int = 6
                  ) -> tuple[Service, AnnotationReader, int]:
    """A service process and a reader of its outputs. kafka-python 3.0.12 sometimes assigns
    nothing to a member that joined before it had the topic's metadata, and that member
    then idles for good; such a service is replaced (the count is reported)."""
    for attempt in range(tries):
        service = Service(workdir, f"{name}-{attempt}" if attempt else name,
                          broker.bootstrap_servers, [topics["input"]], opts.plugins, opts.core,
                          opts.publish_derived, opts.client, kafka=opts.kafka)
        reader = AnnotationReader(broker.bootstrap_servers, topics["annotations"], service.pid,
                                  topics["deadletter"])
        found = service.wait_assigned(60.0)
        if found is None or not found[1]:
            return service, reader, attempt
        progress(f"{name}: empty partition assignment (kafka-python race); new service")
        reader.close()
        service.stop()
    raise NoPartitions(f"{name}: {tries} services in a row got no partitions")


def paced_publish(bootstrap: str, topic: str, runs: list[Run], rate: float) -> dict[str, Any]:
    """Send documents so spectra go out at ``rate`` per second; events stamped at send time."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=16 * 1024 * 1024,
                             **DEFAULT_PRODUCER_CONFIG)
    sent = 0.0
    late = 0
    t0 = time.perf_counter()
    try:
        for run in runs:
            key = run.uid.encode()
            for (name, doc), weight in zip(run.docs, run.weights(), strict=True):
                delay = t0 + sent / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.05:
                    late += 1
                producer.send(topic, key=key, value=encode(name, restamp(name, doc, time.time())))
                sent += weight
        producer.flush()
    finally:
        producer.close(timeout=10)
    dt = time.perf_counter() - t0
    return {"spectra": round(sent), "seconds": round(dt, 3), "achieved_rate": sent / dt,
            "late_sends": late}


def latency_stats(seen: list[Seen]) -> dict[str, Any]:
    """Event time → ``timing.published_at`` (the issue's definition), and event time → the
    annotation's arrival at a consumer (which also counts the batch's sends after the stamp)."""
    lat = np.array([s.published_at - s.event_time for s in seen]) * 1e3
    got = np.array([s.received - s.event_time for s in seen]) * 1e3
    if lat.size == 0:
        return {"n": 0}
    return {"n": int(lat.size), "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
            "mean_ms": float(lat.mean()), "received_p50_ms": float(np.percentile(got, 50)),
            "received_p99_ms": float(np.percentile(got, 99))}


def latency(broker: Broker, pool: DataPool, tag: str, opts: KafkaOptions, workdir: Path,
            progress: Progress) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A warmed-up service fed a mixed stream at each input rate in turn."""
    topics = topic_names(tag, "lat")
    make_topics(broker.bootstrap_servers, topics.values())
    try:
        service, reader, retries = start_service(broker, f"svc-{broker.kind}-latency", topics,
                                                 opts, workdir, progress)
    except NoPartitions as exc:
        return [{"error": str(exc)}], {}
    results: list[dict[str, Any]] = []
    try:
        warm = make_runs(opts.workload.warmup(), pool)
        progress(f"{broker.kind}/latency: warming the service up")
        paced_publish(broker.bootstrap_servers, topics["input"], warm, 200.0)
        expected = sum(r.spectra for r in warm)
        if not reader.wait_for(expected, opts.timeout_s, service.alive):
            return [{"error": "service did not warm up", "log_tail": service.log_tail()}], {}
        for rate in sorted(opts.rates):
            runs = make_runs(opts.workload.scaled(rate * opts.rate_seconds), pool)
            n = sum(r.spectra for r in runs)
            progress(f"{broker.kind}/latency: {rate:g} spectra/s ({n} spectra)")
            start = len(reader.since(0))
            sent = paced_publish(broker.bootstrap_servers, topics["input"], runs, rate)
            wait = min(opts.timeout_s, max(20.0, 2 * opts.rate_seconds))
            done = reader.wait_for(expected + n, wait, service.alive)
            expected += n
            seen = reader.since(start)
            out_rate = (len(seen) / (max(s.received for s in seen)
                                     - min(s.event_time for s in seen))
                        if len(seen) > 1 else None)
            by_kind = {k: latency_stats([s for s in seen if _kind(s) == k]) for k in KINDS}
            if not done and rate != max(opts.rates):  # drain first: the backlog would delay
                progress(f"{broker.kind}/latency: saturated at {rate:g}/s; draining the backlog")
                reader.wait_for(expected, opts.timeout_s, service.alive)
            behind = out_rate is not None and out_rate < 0.9 * sent["achieved_rate"]
            results.append({"input_rate": rate, "publisher": sent, "complete": done,
                            "saturated": not done or behind, "annotated": len(seen),
                            "spectra": n,
                            "dead_letters": _reasons(reader.dead_letters),
                            "output_rate": out_rate, **latency_stats(seen),
                            "empty_assignment_retries": retries, "plugins": service.plugins(),
                            "by_kind": {k: v for k, v in by_kind.items() if v["n"]}})
    finally:
        service.stop()
        reader.close()
    return results, service.memory


def _reasons(dead: list[dict[str, Any]]) -> dict[str, int]:
    """Dead letters by reason (none expected: every benchmark spectrum is valid)."""
    out: dict[str, int] = {}
    for d in dead:
        reason = str(d.get("reason", "unknown"))
        out[reason] = out.get(reason, 0) + 1
    return out


def _kind(s: Seen) -> str:
    return "eels" if s.modality == "eels" else ("step" if s.step else "fly")


def measure_broker(broker: Broker, pool: DataPool, opts: KafkaOptions, workdir: Path,
                   progress: Progress) -> dict[str, Any]:
    """Every Kafka measurement on one broker."""
    tag = uuid.uuid4().hex[:6]
    # created now, minutes before its service starts: a just-created topic makes the
    # kafka-python empty-assignment race (see start_service) more likely
    make_topics(broker.bootstrap_servers, topic_names(tag, "lat").values())
    kinds: dict[str, Any] = {}
    memory: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        w = opts.workload.only(kind)
        if not w.spectra()[kind] or not opts.throughput:
            continue
        kinds[kind], memory[kind] = throughput(broker, kind, make_runs(w, pool), tag, opts,
                                               workdir, progress)
    rates, memory["latency"] = latency(broker, pool, tag, opts, workdir, progress)
    return {"broker": broker.summary(), "kinds": kinds, "all_kinds": combine(kinds),
            "input_topics": [topic_names(tag, k)["input"] for k in kinds],
            "latency": rates, "service_memory_mb": memory,
            "peak_rss_mb": max((m.get("VmHWM", 0.0) for m in memory.values()), default=None)}


def combine(kinds: dict[str, Any]) -> dict[str, Any]:
    """The workload's kinds one after another: total spectra / total time, raw and full."""
    out: dict[str, Any] = {"spectra": sum(k["spectra"] for k in kinds.values())}
    for key, rate in (("raw_spectra_per_s", lambda k: k["raw_spectra_per_s"]),
                      ("full_spectra_per_s", lambda k: k["full"].get("spectra_per_s")),
                      ("raw_spectra_per_cpu_s", lambda k: k["raw_spectra_per_cpu_s"]),
                      ("full_spectra_per_cpu_s", lambda k: k["full"].get("spectra_per_cpu_s"))):
        rates = [(k["spectra"], rate(k)) for k in kinds.values()]
        if rates and all(r for _, r in rates):
            out[key] = out["spectra"] / sum(n / r for n, r in rates)
    if out.get("full_spectra_per_s") and out.get("raw_spectra_per_s"):
        out["full_vs_raw"] = out["full_spectra_per_s"] / out["raw_spectra_per_s"]
    if out.get("full_spectra_per_cpu_s") and out.get("raw_spectra_per_cpu_s"):
        out["full_vs_raw_cpu"] = out["full_spectra_per_cpu_s"] / out["raw_spectra_per_cpu_s"]
    return out


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _times(a: float | None, b: float) -> float | None:
    return None if a is None else a * b
