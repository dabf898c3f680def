"""The figure of ``edgestream compare-agents`` (docs/agent-comparison.png), and the monotone
fit of its success curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edgestream_agent.compare import Comparison

__all__ = ["monotone", "plot"]


def monotone(values: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1), (m2, w2) = blocks.pop(-2), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    return [m for m, w in blocks for _ in range(int(w))]


def plot(c: Comparison, path: Path) -> Path:
    """Success rate against scans for each method, and ours on one sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.8))
    for curve, label, color in ((c.grid_curve, "uniform grid", "tab:gray"),
                                (c.kmeans_curve, "k-means (bmm-agents)", "tab:orange")):
        n = sorted(curve)
        ax1.plot(n, [100 * curve[k] for k in n], color=color, alpha=0.35, lw=1)
        ax1.plot(n, [100 * v for v in monotone([curve[k] for k in n])], color=color,
                 label=f"{label} (monotone fit)")
    ax1.errorbar([np.mean(c.ours_scans)], [100 * c.precision],
                 xerr=[[np.mean(c.ours_scans) - min(c.ours_scans)],
                       [max(c.ours_scans) - np.mean(c.ours_scans)]],
                 fmt="o", color="tab:blue", capsize=4, label="ours (own stop rule)")
    ax1.set_xlabel("scans per sample")
    ax1.set_ylabel(f"samples located within ±{c.tolerance:g} mm (%)")
    ax1.set_ylim(-3, 103)
    ax1.legend(loc="lower right")
    ax1.set_title(f"{c.n_samples} random gradient samples")
    ex = c.example
    xs = np.linspace(0, ex["sample"].length, 600)
    ax2b = ax2.twinx()
    ax2b.plot(xs, ex["sample"].valence(xs), color="0.7", lw=2, label="true valence")
    ax2b.set_ylabel("true mean valence")
    ax2.scatter(ex["x"], ex["y"], color="tab:blue", zorder=3, s=22)
    for k, (x, y) in enumerate(zip(ex["x"], ex["y"], strict=True)):  # scan order
        ax2.annotate(str(k + 1), (x, y), xytext=(3, 4), textcoords="offset points",
                     fontsize=7, color="0.25")
    for b in ex["sample"].boundaries:
        ax2.axvline(b, color="k", ls=":", lw=1)
    for b in ex["found"]:
        ax2.axvline(b, color="tab:blue", lw=1)
    ax2.set_xlabel("x (mm)")
    ax2.set_ylabel(c.response.source)
    ax2.set_title(f"ours on sample 1: {len(ex['x'])} scans, numbered in order "
                  "(dotted: true, solid: found)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
