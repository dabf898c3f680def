"""Valence maps of EELS spectrum images, assembled from the stream's per-pixel annotations.

A spectrum-image run publishes an annotation per pixel (or a compact block per row, read
here pixel by pixel): event ``seq_num`` is the row,
``index_in_event`` the pixel along it. :func:`valence_map` puts a plugin's value, uncertainty
and out-of-distribution flag of every pixel of one run into arrays; :func:`save_png` draws
them (valence and uncertainty side by side, OOD pixels hatched).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.publish.annotation import records

PLUGIN = "cu_l_valence"


@dataclass(frozen=True)
class ValenceMap:
    """One spectrum-image run: ``value``/``uncertainty`` ``[rows, pixels]`` (NaN: no
    annotation or no value), ``ood`` (bool), the first row's seq_num and the run's sample."""

    run_uid: str
    sample: str | None
    plugin: str
    first_row: int
    value: np.ndarray
    uncertainty: np.ndarray
    ood: np.ndarray

    @property
    def pixels(self) -> int:
        """Pixels that have a value."""
        return int(np.isfinite(self.value).sum())


def _prediction(a: dict[str, Any], plugin: str) -> dict[str, Any] | None:
    for p in a.get("predictions") or ():
        if p.get("plugin") == plugin:
            return p.get("outputs") or {}
    return None


def _number(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else np.nan


def valence_map(annotations: Iterable[dict[str, Any]], run_uid: str | None = None,
                plugin: str = PLUGIN, output: str = "value") -> ValenceMap | None:
    """The map of ``run_uid`` (default: the last spectrum image, i.e. run with more than one
    pixel per event, with that plugin's predictions; else the last such EELS run).

    Annotations of other runs, of other modalities and without the plugin are skipped; a
    pixel annotated twice (a replay) keeps the last value. None when nothing matches.
    """
    cells: dict[str, dict[tuple[int, int], tuple[float, float, bool]]] = {}
    samples: dict[str, str | None] = {}
    for a in (r for m in annotations for r in records(m)):  # compact blocks: per pixel
        if a.get("modality") != "eels":
            continue
        out = _prediction(a, plugin)
        if out is None:
            continue
        ids = a["ids"]
        run = ids["run_uid"]
        cells.setdefault(run, {})[(int(ids["seq_range"][1]), int(ids["index_in_event"]))] = (
            _number(out.get(output)), _number(out.get("uncertainty")), bool(out.get("ood")))
        samples[run] = a.get("sample")
    if not cells:
        return None
    images = [r for r, c in cells.items() if any(p > 0 for _, p in c)]
    run = run_uid if run_uid is not None else (images or list(cells))[-1]
    if run not in cells:
        return None
    run_cells = cells[run]
    rows = [r for r, _ in run_cells]
    first, n_rows = min(rows), max(rows) - min(rows) + 1
    n_px = max(p for _, p in run_cells) + 1
    value = np.full((n_rows, n_px), np.nan)
    sigma = np.full((n_rows, n_px), np.nan)
    ood = np.zeros((n_rows, n_px), dtype=bool)
    for (r, p), (v, s, o) in run_cells.items():
        value[r - first, p], sigma[r - first, p], ood[r - first, p] = v, s, o
    return ValenceMap(run, samples.get(run), plugin, first, value, sigma, ood)


def save_png(vmap: ValenceMap, path: Path | str, vrange: tuple[float, float] = (0.0, 2.0)
             ) -> Path:
    """Valence (fixed colour range ``vrange``, Cu(0)…Cu(II)) and its uncertainty side by
    side; out-of-distribution pixels hatched. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    extent = (-0.5, vmap.value.shape[1] - 0.5, vmap.first_row + vmap.value.shape[0] - 0.5,
              vmap.first_row - 0.5)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    im = ax[0].imshow(vmap.value, cmap="viridis", vmin=vrange[0], vmax=vrange[1],
                      extent=extent, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax[0], label="Cu valence")
    im2 = ax[1].imshow(vmap.uncertainty, cmap="magma", extent=extent, aspect="auto",
                       interpolation="nearest")
    fig.colorbar(im2, ax=ax[1], label="uncertainty (std over trees)")
    if vmap.ood.any():
        masked = np.where(vmap.ood, 1.0, np.nan)
        for a in ax:
            a.contourf(np.arange(vmap.value.shape[1]),
                       vmap.first_row + np.arange(vmap.value.shape[0]), masked,
                       levels=[0.5, 1.5], hatches=["//"], colors="none")
    for a, title in zip(ax, ("valence", "uncertainty"), strict=True):
        a.set(xlabel="pixel along the row", ylabel="row (event)", title=title)
    fig.suptitle(f"{vmap.plugin}: {vmap.sample or 'sample'} run {vmap.run_uid[:8]} "
                 f"({vmap.pixels} pixels, {int(vmap.ood.sum())} out of distribution)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
