"""The benchmark's outputs: machine description, Markdown tables, targets, and the plot."""

from __future__ import annotations

import json
import os
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.targets import targets

SIZES = ("1", "32", "256")
KIND_LABEL = {"step": "step scans", "fly": "fly/QEXAFS sweeps", "eels": "EELS SI rows"}


def save(out: str | Path, stem: str, results: dict[str, Any], table: str) -> None:
    """``<out>/<stem>.json`` (the results) and ``<out>/<stem>.md`` (``table``), printed too."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
    (folder / f"{stem}.md").write_text(table)
    print(table)


def machine(core: int | None) -> dict[str, Any]:
    """CPU, cores, load, and the versions the figures depend on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    versions = {}
    for pkg in ("numpy", "onnxruntime", "kafka-python", "crc32c", "msgpack", "msgpack-numpy",
                "event-model", "xraylarch", "matplotlib", "edgestream"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    pinned = core is not None and shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_start": os.getloadavg(),
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions,
            "pinning": f"taskset -c {core}" if pinned else "none (taskset missing or one core)"}


def _f(x: Any, digits: int = 0) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and digits == 0 and abs(x) < 10:
        return f"{x:.2g}" if abs(x) < 1 else f"{x:.1f}"
    return f"{x:,.{digits}f}"


def throughput_table(results: dict[str, Any]) -> list[str]:
    lines = ["| broker | workload | spectra | raw msgs/s | raw spectra/s | full spectra/s | "
             "full / raw | raw spectra/CPU-s | full spectra/CPU-s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for b in results.get("brokers", []):
        name = f"{b['broker']['kind']} {b['broker']['version']}"
        for kind, k in b.get("kinds", {}).items():
            full = k["full"]
            lines.append(f"| {name} | {KIND_LABEL[kind]} ({_f(k['spectra_per_message'], 2)}"
                         f" spectra/msg) | {k['spectra']} | {_f(k['raw_msgs_per_s'])} | "
                         f"{_f(k['raw_spectra_per_s'])} | {_f(full.get('spectra_per_s'))} | "
                         f"{_pct(k.get('full_vs_raw'))} | {_f(k['raw_spectra_per_cpu_s'])} | "
                         f"{_f(full.get('spectra_per_cpu_s'))} |")
        a = b.get("all_kinds", {})
        lines.append(f"| {name} | **all kinds, in sequence** | {a.get('spectra')} | | "
                     f"{_f(a.get('raw_spectra_per_s'))} | **{_f(a.get('full_spectra_per_s'))}** | "
                     f"**{_pct(a.get('full_vs_raw'))}** | {_f(a.get('raw_spectra_per_cpu_s'))} | "
                     f"**{_f(a.get('full_spectra_per_cpu_s'))}** |")
    return lines


def latency_table(results: dict[str, Any]) -> list[str]:
    lines = ["| broker | input rate (spectra/s) | achieved | output rate | p50 ms | p99 ms | "
             "max ms | p50 / p99 by kind (ms) | received by a consumer: p50 / p99 ms | "
             "service peak RSS |", "|---|---|---|---|---|---|---|---|---|---|"]
    for b in results.get("brokers", []):
        name = f"{b['broker']['kind']} {b['broker']['version']}"
        for r in b.get("latency", []):
            if "input_rate" not in r:
                lines.append(f"| {name} | {r.get('error')} | | | | | | | | |")
                continue
            kinds = ", ".join(f"{k} {_f(v['p50_ms'])} / {_f(v['p99_ms'])}"
                              for k, v in r.get("by_kind", {}).items())
            sat = (f" (saturated: {r['annotated']}/{r['spectra']} annotated in time)"
                   if not r.get("complete") else " (saturated: output < 90 % of input)"
                   if r.get("saturated") else "")
            lines.append(f"| {name} | {r['input_rate']:g}{sat} | "
                         f"{_f(r['publisher']['achieved_rate'])}"
                         f" | {_f(r.get('output_rate'))} | {_f(r.get('p50_ms'), 1)} | "
                         f"{_f(r.get('p99_ms'), 1)} | {_f(r.get('max_ms'), 1)} | {kinds} | "
                         f"{_f(r.get('received_p50_ms'), 1)} / {_f(r.get('received_p99_ms'), 1)}"
                         f" | {_f(b.get('peak_rss_mb'))} MB |")
    return lines


def normalization_table(norm: dict[str, Any]) -> list[str]:
    lines = [f"Larch {norm.get('larch_version') or 'not installed'} `pre_edge` (defaults, one "
             "call per spectrum) vs edgestream `pre_edge` (batched); CPU ms per spectrum.", "",
             "| spectra | ours ×1 | ours ×32 | ours ×256 | + features, resample (×256) | Larch | "
             "speed-up ×256 | max \\|Δe0\\| eV | max \\|Δnorm\\| |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in norm.get("lengths", {}).values():
        ours = row["ours"]
        par = row.get("parity", {})
        lines.append(
            f"| {KIND_LABEL[row['kind']]}, {row['n_points']} points | "
            + " | ".join(f"{ours[b]['ms_per_spectrum_cpu']:.2f}" for b in ours)
            + f" | {row['normalize_spectra_ms_per_spectrum_cpu']:.2f} | "
            f"{_f(row.get('larch_ms_per_spectrum_cpu'), 1)} | {_f(row.get('speedup_batched'), 1)}×"
            f" | {_e(par.get('max_abs_de0_ev'))} | {_e(par.get('max_abs_dnorm'))} |")
    return lines


def inference_table(inf: dict[str, Any]) -> list[str]:
    lines = [f"onnxruntime {inf['providers']['onnxruntime']}, providers "
             f"{', '.join(inf['providers']['available'])}. "
             + inf.get("cuda_note", "CUDA measured (see JSON)."), "",
             "| plugin | what | ms/batch ×1 | ×32 | ×256 | spectra/CPU-s ×256 |",
             "|---|---|---|---|---|---|"]
    for name, p in inf.get("plugins", {}).items():
        for key, o in p.get("onnx", {}).items():
            cpu = o["cpu"]
            lines.append(f"| {name} | ONNX `{o['file']}` ({key}), CPU | "
                         + " | ".join(f"{cpu[b]['ms_per_batch_cpu']:.3f}" for b in SIZES)
                         + f" | {_f(cpu['256']['spectra_per_cpu_s'])} |")
        pr = p.get("predict", {})
        if "256" in pr:
            lines.append(f"| {name} | `predict()` ({pr['spectra']}) | "
                         + " | ".join(f"{pr[b]['ms_per_batch_cpu']:.2f}" for b in SIZES)
                         + f" | {_f(pr['256']['spectra_per_cpu_s'])} |")
    return lines


def breakdown_table(bd: dict[str, Any]) -> list[str]:
    stages = list(dict.fromkeys(s for k in bd.values() for s in k["ms_per_spectrum"]))
    lines = ["| kind | spectra/CPU-s | " + " | ".join(stages) + " |",
             "|---|---|" + "---|" * len(stages)]
    for kind, k in bd.items():
        cells = [f"{k['ms_per_spectrum'][s]:.2f}" if s in k["ms_per_spectrum"] else "–"
                 for s in stages]
        lines.append(f"| {KIND_LABEL[kind]} | {_f(k['spectra_per_cpu_s'])} | "
                     + " | ".join(cells) + " |")
    return lines


def profile_lines(prof: dict[str, Any], n: int = 15) -> list[str]:
    busy = max(1e-9, prof.get("busy_s", 0.0))
    lines = [f"{prof.get('annotations')} annotations, {prof.get('wall_s')} s under cProfile on "
             f"{prof.get('broker')}: {prof.get('busy_s')} s busy, {prof.get('waiting_s')} s "
             "waiting (locks, sockets: group join, fetch, acks). Cumulative time per step:", "",
             "| step | cumulative s (waits inside included) | vs busy time |", "|---|---|---|"]
    for label, s in prof.get("steps_cumulative_s", {}).items():
        depth = (len(label) - len(label.lstrip())) // 2
        lines.append(f"| {'· ' * depth}{label.strip()} | {s:.3f} | {100 * s / busy:.1f} % |")
    lines += ["", "Top functions by own time (waits left out):", "",
              "| function | calls | own s | cumulative s | share of busy |",
              "|---|---|---|---|---|"]
    for e in prof.get("by_tottime", [])[:n]:
        lines.append(f"| `{e['function']}` | {e['calls']} | {e['tottime_s']:.3f} | "
                     f"{e['cumtime_s']:.3f} | {100 * e['share']:.1f} % |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    used = sorted({p for b in results.get("brokers", []) for k in b.get("kinds", {}).values()
                   for p in k["full"].get("plugins", [])})
    if used and used != sorted(results.get("plugins", [])):
        results.setdefault("notes", []).append(f"the services loaded {', '.join(used)}")
    out = [f"Run {results['started']} ({results['mode']}, {results['elapsed_s']:.0f} s) on "
           f"{m['cpu']}, {m['cores']} cores, load average "
           f"{'/'.join(f'{x:.1f}' for x in m['load_average_start'])} at the start and "
           f"{'/'.join(f'{x:.1f}' for x in m.get('load_average_end', ()))} at the end; "
           f"Python {m['python']}, numpy {m['versions']['numpy']}, onnxruntime "
           f"{m['versions']['onnxruntime']}, kafka-python {m['versions']['kafka-python']} "
           f"(crc32c {m['versions']['crc32c']}); service and raw consumer pinned: "
           f"{m['pinning']}. Plugins: {', '.join(results.get('plugins', []))}.", ""]
    for note in results.get("notes", []):
        out += [f"- {note}"]
    st = results.get("settings", {})
    changed = ("" if st.get("publish_derived", True) else "; publish_derived: false") + (
        f"; kafka.client {st['kafka_client']}" if st.get("kafka_client") else "")
    sections = [("Throughput (full path vs raw passthrough, same topic, same run; spectra / "
                 "time from partition assignment to the last message or annotation"
                 + (f"; service settings changed{changed}" if changed else "") + ")",
                 throughput_table, results),
                ("Latency (event time → the annotation's timing.published_at), paced input, "
                 "service warm",
                 latency_table, results)]
    if "normalization" in results:
        sections.append(("Normalization alone", normalization_table, results["normalization"]))
    if "inference" in results:
        sections.append(("Model inference alone", inference_table, results["inference"]))
    if "breakdown" in results:
        sections.append(("Where the time goes (no broker; ms per spectrum, wall, one core)",
                         breakdown_table, results["breakdown"]))
    if results.get("profile", {}).get("by_tottime"):
        sections.append(("Profile of the full path (cProfile, top own time)", profile_lines,
                         results["profile"]))
    for title, fn, data in sections:
        out += ["", f"#### {title}", "", *fn(data)]
    out += ["", "#### Targets", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {_cell(t['target'])} | {_cell(t['measured'])} | {t['met']} |"
            for t in targets(results)]
    return "\n".join(out) + "\n"


def plot(results: dict[str, Any], path: Path) -> str | None:
    """Throughput and latency against input rate, per broker; None or why it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no plot (pip install '.[bench]')"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, b in enumerate(results.get("brokers", [])):
        color = f"C{i}"
        name = f"{b['broker']['kind']} {b['broker']['version']}"
        pts = [r for r in b.get("latency", []) if "input_rate" in r]
        rates = [r["input_rate"] for r in pts]
        ax1.plot(rates, [r.get("output_rate") or 0 for r in pts], "o-", color=color,
                 label=f"{name}: output at paced input")
        full = b.get("all_kinds", {}).get("full_spectra_per_s")
        if full:
            ax1.axhline(full, color=color, ls="--", lw=1, label=f"{name}: full path, unpaced")
        ax2.plot(rates, [r.get("p50_ms") for r in pts], "o-", color=color, label=f"{name} p50")
        ax2.plot(rates, [r.get("p99_ms") for r in pts], "s--", color=color, label=f"{name} p99")
    ax1.plot(ax1.get_xlim(), ax1.get_xlim(), ":", color="grey", lw=1, label="output = input")
    ax2.axhline(50, color="red", lw=0.8, label="target p99 (100 spectra/s)")
    for ax, ylabel in ((ax1, "annotations / s"), (ax2, "latency (ms)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input rate (spectra / s)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    m = results["machine"]
    fig.suptitle(f"edgestream {results['started']} — {m['cores']} cores, load "
                 f"{m['load_average_start'][0]:.1f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %" if x >= 0.001 else f"{100 * x:.2g} %"


def _e(x: float | None) -> str:
    return "–" if x is None else f"{x:.1e}" if x else "0"
