"""The issue's targets, judged from the figures of one benchmark run."""

from __future__ import annotations

from typing import Any

RATIO_TARGET = 0.5  # full path / raw passthrough, same broker
SPECTRA_TARGET = 2000.0  # spectra per second on one core
P99_TARGET_MS = 50.0  # at 100 spectra/s
P99_RATE = 100.0
SPEEDUP_TARGET = 50.0  # normalization vs Larch, batched
E0_PARITY_EV = 0.5  # the backbone issue's parity
NORM_PARITY = 0.02
RSS_TARGET_MB = 600.0


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """One row per target and broker: what was measured and whether it meets the target."""
    rows: list[dict[str, str]] = []
    for b in results.get("brokers", []):
        name = f"{b['broker']['kind']} {b['broker']['version']}"
        a = b.get("all_kinds", {})
        ratio = a.get("full_vs_raw")
        rows.append({"target": f"{name}: full path ≥ 50 % of raw passthrough (all kinds)",
                     "measured": "–" if ratio is None else
                     f"{100 * ratio:.2g} % (per kind: " + ", ".join(
                         f"{k} {100 * v['full_vs_raw']:.2g} %" for k, v in b["kinds"].items()
                         if v.get("full_vs_raw")) + ")",
                     "met": _verdict(None if ratio is None else ratio >= RATIO_TARGET)})
        cpu, wall = a.get("full_spectra_per_cpu_s"), a.get("full_spectra_per_s") or 0
        rows.append({"target": f"{name}: ≥ 2,000 spectra/s on one core (all kinds)",
                     "measured": f"{cpu or 0:,.0f} per CPU-second ({wall:,.0f} per wall second"
                     " on the shared core); per kind: " + ", ".join(
                         f"{k} {v['full'].get('spectra_per_cpu_s') or 0:,.0f}"
                         for k, v in b["kinds"].items()),
                     "met": _verdict(None if cpu is None else cpu >= SPECTRA_TARGET)})
        at = [r for r in b.get("latency", []) if r.get("input_rate") == P99_RATE]
        p99 = at[0].get("p99_ms") if at else None
        kinds = at[0].get("by_kind", {}) if at else {}
        worst = max([p99, *(v["p99_ms"] for v in kinds.values())]) if p99 is not None \
            else None
        sat = " (service saturated: slower than the input)" if at and at[0].get(
            "saturated") else ""
        per = "".join(f", {k} {v['p99_ms']:.1f}" for k, v in kinds.items())
        rows.append({"target": f"{name}: p99 latency ≤ 50 ms at 100 spectra/s, every kind",
                     "measured": "not measured" if p99 is None else
                     f"p99 {p99:.1f} ms (by kind{per or ': –'}){sat}",
                     "met": _verdict(None if worst is None else worst <= P99_TARGET_MS)})
        rss = b.get("peak_rss_mb")
        rows.append({"target": f"{name}: service RSS ≤ 600 MB",
                     "measured": "–" if rss is None else f"peak {rss:.0f} MB (VmHWM)",
                     "met": _verdict(None if rss is None else rss <= RSS_TARGET_MB)})
    lengths = results.get("normalization", {}).get("lengths", {})
    for row in lengths.values():
        speed, par = row.get("speedup_batched"), row.get("parity", {})
        parity_ok = (par.get("max_abs_de0_ev", 1e9) <= E0_PARITY_EV
                     and par.get("max_abs_dnorm", 1e9) <= NORM_PARITY)
        rows.append({"target": f"normalization ≥ 50× Larch (batched), {row['kind']} "
                     f"{row['n_points']} points, parity |Δe0| ≤ 0.5 eV, |Δnorm| ≤ 0.02",
                     "measured": "Larch not installed" if speed is None else
                     f"{speed:.1f}× (parity {'held' if parity_ok else 'broken'})",
                     "met": _verdict(None if speed is None else
                                     speed >= SPEEDUP_TARGET and parity_ok)})
    inf = results.get("inference", {}).get("providers", {})
    rows.append({"target": "GPU: CUDA ≥ 10× CPU throughput on large batches",
                 "measured": "measured (see JSON)" if inf.get("cuda") else
                 "CUDA not measured: no GPU lent (no CUDA device or onnxruntime-gpu here)",
                 "met": "n/a"})
    return rows
