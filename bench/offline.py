"""The measurements that need no broker, in one process the benchmark pins to one core:
normalization vs Larch, model inference per plugin, and the stage breakdown per kind.

``python -m bench.offline --out FILE [--quick]`` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.breakdown import breakdown
from bench.documents import KINDS, DataPool, Workload, make_runs
from bench.inference import inference
from bench.models import bench_models
from bench.normalization import assembled, normalization


def progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)


def offline(workload: Workload, plugins: str = "all", larch_spectra: int = 24,
            parts: tuple[str, ...] = ("normalization", "inference", "breakdown")
            ) -> dict[str, Any]:
    """Every broker-free measurement on the workload's documents."""
    t0 = time.perf_counter()
    pool = DataPool(workload)
    runs = make_runs(workload, pool)
    out: dict[str, Any] = {}
    if "normalization" in parts:
        xas = [r for r in runs if r.kind != "eels"]
        out["normalization"] = normalization(xas, larch_spectra, progress)
    models = bench_models(plugins)
    if "inference" in parts:
        spectra = assembled([r for r in runs if r.kind == "fly"][:8]
                            + [r for r in runs if r.kind == "eels"][:1])
        out["inference"] = inference(models, spectra, progress)
    if "breakdown" in parts:
        by_kind = {k: [r for r in runs if r.kind == k] for k in KINDS}
        out["breakdown"] = breakdown({k: v for k, v in by_kind.items() if v}, models, progress)
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--workload", default="{}", help="Workload fields as JSON")
    p.add_argument("--plugins", choices=("all", "installed"), default="all")
    p.add_argument("--larch-spectra", type=int, default=24)
    p.add_argument("--parts", default="normalization,inference,breakdown")
    a = p.parse_args(argv)
    workload = Workload(**json.loads(a.workload))
    result = offline(workload, a.plugins, a.larch_spectra, tuple(a.parts.split(",")))
    Path(a.out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
