"""cProfile of the full path: the real AnnotationService, in this process, on a broker.

``python -m bench.profile --config FILE --expect N --out TXT [--prof FILE]``: runs the service
(settings from FILE, models from ``bench.models.bench_models``) under cProfile until N
annotations were published, then writes TXT (top functions by own time and by cumulative
time), the raw profile when asked, and prints the top entries as one JSON line. cProfile
slows Python-heavy code more than numpy-heavy code: read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import threading
import time
from pathlib import Path
from typing import Any

from bench.models import bench_models
from edgestream.config.settings import load_settings
from edgestream.doors.kafka.service import AnnotationService
from edgestream.metrics import Metrics
from edgestream.pipeline import Pipeline

TOP = 25
# Where the service waits rather than works (broker round trips, acks, idle polls).
WAITS = ("acquire' of '_thread.lock", "select.epoll", "poll' of 'select", "time.sleep")
# The full path's steps, as (label, file suffix, function), for the cumulative summary.
STEPS = (
    ("consumer.poll (fetch + wait)", "kafka/consumer/group.py", "poll"),
    ("process (decode, route, assemble, annotate)", "doors/kafka/service.py", "process"),
    ("  decode (msgpack)", "edgestream/documents/wire.py", "decode"),
    ("  route + assemble", "edgestream/pipeline.py", "ingest"),
    ("  Pipeline.annotate", "edgestream/pipeline.py", "annotate"),
    ("    normalize_spectra", "edgestream/normalize.py", "normalize_spectra"),
    ("    plugins (_predict)", "edgestream/pipeline.py", "_predict"),
    ("    compact blocks (spectrum-image rows)", "publish/annotation.py", "build_block"),
    ("    JSON annotation dicts", "publish/annotation.py", "build"),
    ("  publish (encode, derived docs, send)", "publish/policy.py", "publish"),
    ("    compact block bytes", "publish/compact.py", "pack"),
    ("    annotation JSON", "publish/annotation.py", "to_json"),
    ("    per-spectrum records of blocks", "publish/compact.py", "records"),
    ("    derived documents", "publish/derived.py", "on_annotations"),
    ("  producer flush (acks=all)", "doors/kafka/delivery.py", "_flush"),
    ("commit", "doors/kafka/delivery.py", "commit"),
)


def _name(file: str, line: int, name: str) -> str:
    repo = str(Path(__file__).resolve().parents[1]) + "/"
    site = file.find("site-packages/")
    file = file[site + len("site-packages/"):] if site >= 0 else file.replace(repo, "")
    return f"{file}:{line}({name})"


def top_entries(stats: pstats.Stats, key: str, n: int = TOP) -> list[dict[str, Any]]:
    """The n functions with the most ``tottime`` or ``cumtime`` (waits left out), with their
    share of the busy time (the run minus the waits)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    waits = {k for k in raw if any(w in k[2] for w in WAITS)}
    busy = max(1e-9, sum(v[2] for k, v in raw.items() if k not in waits))
    index = 2 if key == "tottime" else 3
    rows = sorted(((k, v) for k, v in raw.items() if k not in waits),
                  key=lambda kv: kv[1][index], reverse=True)[:n]
    return [{"function": _name(*k), "calls": v[1], "tottime_s": round(v[2], 4),
             "cumtime_s": round(v[3], 4), "share": round(v[index] / busy, 4)} for k, v in rows]


def steps(stats: pstats.Stats) -> dict[str, Any]:
    """Cumulative seconds of the path's steps, the waits, and the total busy time."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    waits = sum(v[2] for k, v in raw.items() if any(w in k[2] for w in WAITS))
    total = sum(v[2] for v in raw.values())
    out = {label: round(sum(v[3] for (f, _, n), v in raw.items()
                            if f.endswith(suffix) and n == func), 4)
           for label, suffix, func in STEPS}
    return {"total_s": round(total, 3), "waiting_s": round(waits, 3),
            "busy_s": round(total - waits, 3), "steps_cumulative_s": out}


def profile_service(config: str, expect: int, out: Path, prof: Path | None = None,
                    plugins: str = "all", timeout_s: float = 300.0) -> dict[str, Any]:
    settings = load_settings(config, facility_file=Path(os.devnull))
    stop = threading.Event()
    count = 0

    def on_annotation(_: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        if count >= expect:
            stop.set()

    service = AnnotationService(settings, Pipeline(settings, bench_models(plugins), Metrics()),
                                on_annotation)
    timer = threading.Timer(timeout_s, stop.set)
    timer.daemon = True
    timer.start()
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.runcall(service.run, stop)
    wall = time.perf_counter() - t0
    timer.cancel()
    if prof is not None:
        profiler.dump_stats(str(prof))
    stats = pstats.Stats(profiler)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    out.write_text(text.getvalue())
    return {"annotations": count, "wall_s": round(wall, 2), "complete": count >= expect,
            **steps(stats), "by_tottime": top_entries(stats, "tottime"),
            "by_cumtime": top_entries(stats, "cumtime")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--out", required=True, help="text report")
    p.add_argument("--prof", help="raw cProfile output (for snakeviz, pstats)")
    p.add_argument("--plugins", choices=("all", "installed"), default="all")
    p.add_argument("--timeout", type=float, default=300.0)
    a = p.parse_args(argv)
    print(json.dumps(profile_service(a.config, a.expect, Path(a.out),
                                      Path(a.prof) if a.prof else None, a.plugins, a.timeout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
