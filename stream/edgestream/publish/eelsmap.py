"""Valence maps of EELS spectrum images, assembled from the stream's per-pixel annotations.

A spectrum-image run publishes an annotation per pixel (or a compact block per row, read
here pixel by pixel): event ``seq_num`` is the row,
``index_in_event`` the pixel along it. :func:`valence_map` puts a plugin's value, uncertainty
and out-of-distribution flag of every pixel of one run into arrays; :func:`save_png` draws
them (valence and uncertainty side by side, OOD pixels hatched).

The plugin is by default whichever L2,3 valence plugin (``L_VALENCE_PLUGINS``: Cu, Mn, Fe,
Co, Ni; :func:`is_l_valence`) annotated the run; its colour scale is that plugin's value
range (:func:`value_range`: Cu 0..3, Mn 2..4). The live page (``apps.web.state``) reads the
same family.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.api import ENTRY_POINT_GROUP
from edgestream.publish.annotation import records

# The L2,3 valence plugins, one per element (edgestream_plugins.cu_l and .l_edge): an EELS
# map shows whichever of them annotated its run. Any "<element>_l_valence" counts.
L_VALENCE_PLUGINS = ("cu_l_valence", "mn_l_valence", "fe_l_valence", "co_l_valence",
                     "ni_l_valence")
# Their ``value`` ranges (formal oxidation states, their manifests' ``outputs.value.range``),
# for when the plugin is not installed where the map is drawn (a recorded run)
L_VALENCE_RANGES: dict[str, tuple[float, float]] = {
    "cu_l_valence": (0.0, 3.0), "mn_l_valence": (2.0, 4.0), "fe_l_valence": (2.0, 3.0),
    "co_l_valence": (2.0, 3.0), "ni_l_valence": (2.0, 3.0)}
PLUGIN = L_VALENCE_PLUGINS[0]  # the first of the family (the Cu L2,3 plugin)


def is_l_valence(plugin: str) -> bool:
    """Whether ``plugin`` is an L2,3 valence plugin (``<element>_l_valence``)."""
    return plugin in L_VALENCE_PLUGINS or plugin.endswith("_l_valence")


@functools.cache
def value_range(plugin: str) -> tuple[float, float] | None:
    """The range of ``plugin``'s ``value`` output: its installed manifest's, else
    ``L_VALENCE_RANGES``; None when neither says (the caller scales to the data)."""
    try:
        (ep,) = entry_points(group=ENTRY_POINT_GROUP, name=plugin)
        rng = ep.load().manifest.outputs["value"].range
        if rng is not None and all(math.isfinite(x) for x in rng):
            return float(rng[0]), float(rng[1])
    except Exception:  # not installed, or its class does not load: the table below
        pass
    return L_VALENCE_RANGES.get(plugin)


@dataclass(frozen=True)
class ValenceMap:
    """One spectrum-image run: ``value``/``uncertainty`` ``[rows, pixels]`` (NaN: no
    annotation or no value), ``ood`` (bool), the first row's seq_num, the run's sample and
    its element (as annotated)."""

    run_uid: str
    sample: str | None
    plugin: str
    first_row: int
    value: np.ndarray
    uncertainty: np.ndarray
    ood: np.ndarray
    element: str | None = None

    @property
    def pixels(self) -> int:
        """Pixels that have a value."""
        return int(np.isfinite(self.value).sum())

    @property
    def vrange(self) -> tuple[float, float]:
        """The colour range: the plugin's value range, else the values' own (0..2 if none)."""
        known = value_range(self.plugin)
        if known is not None:
            return known
        finite = self.value[np.isfinite(self.value)]
        if not finite.size or finite.min() == finite.max():
            return (0.0, 2.0)
        return float(finite.min()), float(finite.max())


def _prediction(a: dict[str, Any], plugin: str | None) -> tuple[str, dict[str, Any]] | None:
    """``(plugin, outputs)`` of ``plugin``, or (None) of the first L2,3 valence plugin."""
    for p in a.get("predictions") or ():
        name = str(p.get("plugin", ""))
        if name == plugin or (plugin is None and is_l_valence(name)):
            return name, p.get("outputs") or {}
    return None


def _number(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else np.nan


def valence_map(annotations: Iterable[dict[str, Any]], run_uid: str | None = None,
                plugin: str | None = None, output: str = "value") -> ValenceMap | None:
    """The map of ``run_uid`` (default: the last spectrum image, i.e. run with more than one
    pixel per event, with that plugin's predictions; else the last such EELS run).

    ``plugin``: None reads whichever L2,3 valence plugin (:func:`is_l_valence`) annotated
    each spectrum, so a Cu map reads ``cu_l_valence`` and a Mn map ``mn_l_valence``.
    Annotations of other runs, of other modalities and without the plugin are skipped; a
    pixel annotated twice (a replay) keeps the last value. None when nothing matches.
    """
    cells: dict[str, dict[tuple[int, int], tuple[float, float, bool]]] = {}
    about: dict[str, tuple[str | None, str, str | None]] = {}  # run: sample, plugin, element
    for a in (r for m in annotations for r in records(m)):  # compact blocks: per pixel
        if a.get("modality") != "eels":
            continue
        found = _prediction(a, plugin)
        if found is None:
            continue
        name, out = found
        ids = a["ids"]
        run = ids["run_uid"]
        cells.setdefault(run, {})[(int(ids["seq_range"][1]), int(ids["index_in_event"]))] = (
            _number(out.get(output)), _number(out.get("uncertainty")), bool(out.get("ood")))
        about[run] = (a.get("sample"), name, a.get("element"))
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
    sample, name, element = about[run]
    return ValenceMap(run, sample, name, first, value, sigma, ood, element)


def save_png(vmap: ValenceMap, path: Path | str, vrange: tuple[float, float] | None = None
             ) -> Path:
    """Valence (fixed colour range ``vrange``, default the plugin's value range: Cu 0..3,
    Mn 2..4) and its uncertainty side by side, the element in the title;
    out-of-distribution pixels hatched. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    extent = (-0.5, vmap.value.shape[1] - 0.5, vmap.first_row + vmap.value.shape[0] - 0.5,
              vmap.first_row - 0.5)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    lo, hi = vrange or vmap.vrange
    element = vmap.element or "absorber"
    im = ax[0].imshow(vmap.value, cmap="viridis", vmin=lo, vmax=hi,
                      extent=extent, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax[0], label=f"{element} valence")
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
    fig.suptitle(f"{element} valence ({vmap.plugin}): {vmap.sample or 'sample'} run "
                 f"{vmap.run_uid[:8]} ({vmap.pixels} pixels, {int(vmap.ood.sum())} out of "
                 "distribution)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
