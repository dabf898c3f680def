"""Raw spectra → normalized spectra, batched by modality and length for vectorized physics;
normalized spectra → the SpectrumBatch a plugin is given (one builder, the pipeline's)."""

from __future__ import annotations

import ctypes
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgestream.config.settings import GridSettings
from edgestream.documents.spectrum import RawSpectrum
from edgestream.errors import StreamError, UnknownElement, internal_error
from edgestream.physics import (
    edge_energy,
    edge_features,
    find_edge_onset,
    identify_edge,
    normalize_eels,
    pre_edge,
    resample,
)
from edgestream.plugin.api import SpectrumBatch

# glibc's mallopt parameters and the values set: a batch's temporaries (MBs each) come back
# from the heap instead of fresh pages from the kernel (see keep_freed_memory)
_MALLOPT = {"M_TRIM_THRESHOLD": (-1, 64 << 20), "M_TOP_PAD": (-2, 32 << 20),
            "M_MMAP_THRESHOLD": (-3, 32 << 20)}


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (up to 64 MB), as the normalization needs.

    By default glibc hands freed blocks of a few MB back to the kernel at once, so each
    batch's arrays are fresh pages, zeroed by a page fault each (~600 per 2.4 MB array):
    measured here, ``(d - c) / c`` on a [256, 1199] array took 2.5 ms with the defaults and
    0.25 ms with these settings, and pre_edge on 256 fly sweeps 1.7x less CPU. Not done where
    the MALLOC_* environment variables already choose, nor off glibc (no ``mallopt``).
    Process-wide, so it is the service's choice, not a library import's: the Kafka service
    (``apps.serve.build_service``) and the benchmarks call it; a RunEngine process using the
    callback door keeps its own allocator settings. Returns whether they were applied."""
    if any(f"MALLOC_{name[2:]}_" in os.environ for name in _MALLOPT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all([mallopt(param, value) == 1 for param, value in _MALLOPT.values()])



@dataclass(frozen=True)
class Normalized:
    """One normalized spectrum: its own axis, and the annotation grid (eV relative to e0)."""

    e0: float
    edge_step: float
    energy: np.ndarray
    norm: np.ndarray
    on_grid: np.ndarray
    features: dict[str, float]
    method: str
    parameters: dict[str, Any]
    fallback: str | None = None  # a documented fallback the normalization took, else None


def annotation_grid(grid: GridSettings | None = None) -> np.ndarray:
    """The grid (eV relative to e0) that spectra are resampled on for the annotations and
    the models: ``start`` to ``stop`` (included) by ``step`` (default: the settings')."""
    g = grid or GridSettings()
    return np.arange(g.start, g.stop + g.step / 2, g.step)


def spectrum_batch(
    element: str, edge: str, modality: str, grid: np.ndarray, norm: np.ndarray,
    e0: np.ndarray, edge_step: np.ndarray | None = None,
    energy: Sequence[np.ndarray] | None = None, measured: Sequence[np.ndarray] | None = None,
    metadata: Sequence[dict[str, Any]] | None = None,
) -> SpectrumBatch:
    """The one builder of a SpectrumBatch (the pipeline's and the tests'): ``norm``
    ``[n, len(grid)]`` on ``grid`` relative to each ``e0``. Left out, the edge steps are 1
    and each spectrum's own axis is the grid about its e0 with ``norm`` on it, so that every
    field has one entry per spectrum as a model may expect."""
    norm = np.atleast_2d(np.asarray(norm, dtype=float))
    e0 = np.atleast_1d(np.asarray(e0, dtype=float))
    if norm.shape != (e0.size, grid.size):
        raise ValueError(f"norm is {norm.shape}: expected ({e0.size}, {grid.size}), one row "
                         "per e0 on the grid")
    return SpectrumBatch(
        element=element, edge=edge, modality=modality, grid=grid, norm=norm, e0=e0,
        edge_step=np.ones(e0.size) if edge_step is None else np.asarray(edge_step, float),
        energy=[x + grid for x in e0] if energy is None else list(energy),
        measured=list(norm) if measured is None else list(measured),
        metadata=None if metadata is None else list(metadata),
    )


def batch_of(spectra: Sequence[RawSpectrum], results: Sequence[Normalized],
             grid: np.ndarray) -> SpectrumBatch:
    """The batch of spectra of one element, edge and modality and their normalizations."""
    kinds = {(s.element or "", s.edge or "", s.modality) for s in spectra}
    if len(kinds) != 1 or len(results) != len(spectra):
        raise ValueError(f"a batch holds spectra of one element, edge and modality, each "
                         f"with its normalization: {sorted(kinds)}, {len(results)} results "
                         f"for {len(spectra)} spectra")
    ((element, edge, modality),) = kinds
    return spectrum_batch(
        element, edge, modality, grid, np.stack([r.on_grid for r in results]),
        np.array([r.e0 for r in results]), np.array([r.edge_step for r in results]),
        energy=[r.energy for r in results], measured=[r.norm for r in results],
        metadata=[s.metadata for s in spectra])


def normalized_batch(spectra: Sequence[RawSpectrum], grid: np.ndarray | None = None
                     ) -> SpectrumBatch:
    """Normalize spectra (of one element, edge and modality) and batch them as the pipeline
    does; the first spectrum that cannot be normalized is raised."""
    grid = annotation_grid() if grid is None else grid
    results = normalize_spectra(list(spectra), grid)
    for r in results:
        if isinstance(r, StreamError):
            raise r
    return batch_of(spectra, results, grid)  # type: ignore[arg-type]


def normalize_spectra(
    spectra: list[RawSpectrum], grid: np.ndarray
) -> list[Normalized | StreamError]:
    """Normalize each spectrum; a failure is returned in its place, never raised."""
    out: list[Normalized | StreamError | None] = [None] * len(spectra)
    groups: dict[tuple[bool, int], list[int]] = defaultdict(list)
    for i, s in enumerate(spectra):
        groups[(s.modality == "eels", s.energy.size)].append(i)
    for (is_eels, _), idx in groups.items():
        batch = [spectra[i] for i in idx]
        work = _eels if is_eels else _xas
        try:
            results = work(batch, grid)
        except Exception:
            # One bad spectrum must not sink its batch: redo them one by one.
            results = []
            for s in batch:
                try:
                    results += work([s], grid)
                except StreamError as exc:
                    results.append(exc)
                except Exception as exc:  # a physics bug costs one spectrum, not the service
                    results.append(internal_error(exc))
        for i, r in zip(idx, results, strict=True):
            out[i] = r
    return out  # type: ignore[return-value]


def _xas(batch: list[RawSpectrum], grid: np.ndarray) -> list[Normalized]:
    energy = np.stack([s.energy for s in batch])
    mu = np.stack([s.signal for s in batch])
    r = pre_edge(energy, mu)
    fallbacks = _xas_fallbacks(energy, mu, r)
    expected = _expected_edges(batch)
    early = _early_edges(energy, mu, r.e0, expected)
    if not np.all(np.isnan(early)):
        # Larch took an edge in the first 5 % of points for a glitch and looked elsewhere:
        # where the spectrum starts just below its edge, that edge is the one wanted
        taken = ~np.isnan(early)
        r = pre_edge(energy, mu, e0=np.where(taken, early, r.e0))
        fallbacks = [("early_edge" if t else f)
                     for f, t in zip(_xas_fallbacks(energy, mu, r), taken.tolist(), strict=True)]
    feats = _as_dict(edge_features(energy, r.norm, r.e0))
    on_grid = resample(energy, r.flat, r.e0[:, None] + grid[None, :])
    # one conversion per array, not one per value: this loop is per spectrum
    cols = {k: np.asarray(v, dtype=float).tolist() for k, v in feats.items()}
    pars = {k: np.asarray(getattr(r, k), dtype=float).tolist()
            for k in ("pre1", "pre2", "norm1", "norm2", "nnorm")}
    e0s, steps = r.e0.tolist(), r.edge_step.tolist()
    return [Normalized(
        e0=e0s[i], edge_step=steps[i], energy=energy[i], norm=r.norm[i], on_grid=on_grid[i],
        features={k: v[i] for k, v in cols.items()}, method="pre_edge",
        parameters={k: v[i] for k, v in pars.items()}, fallback=fallbacks[i],
    ) for i in range(len(batch))]


# a spectrum whose pre-edge sits at 0 and post-edge at 1 within this is already normalized
NORMALIZED_TOLERANCE = 0.05
# eV: less measured pre-edge than this below e0 cannot separate the pre-edge line from the
# foot of the edge (core-hole broadening alone is 1-5 eV wide at 3d K edges)
MIN_PRE_EDGE_EV = 15.0
# eV: a scan stopping this close above e0 has no post-edge to set the step by: its edge step
# is Larch's post-edge line over the last few points, unreliable and said so
MIN_POST_EDGE_EV = 15.0


def _expected_edges(batch: Sequence[RawSpectrum]) -> np.ndarray:
    """The tabulated edge (eV) of each spectrum whose element and edge are known, else NaN."""
    known: dict[tuple[str, str], float] = {}
    out = np.full(len(batch), np.nan)
    for i, s in enumerate(batch):
        if not (s.element and s.edge):
            continue
        key = (s.element, s.edge)
        if key not in known:
            try:
                known[key] = edge_energy(s.element, main_edge(s.edge))
            except UnknownElement:
                known[key] = np.nan
        out[i] = known[key]
    return out


EARLY_FRACTION = 0.05  # Larch's find_e0 takes a maximum in the first 5 % of points for a glitch


def _early_edges(energy: np.ndarray, mu: np.ndarray, e0: np.ndarray,
                 expected: np.ndarray) -> np.ndarray:
    """The edge of each spectrum that starts just below it, where Larch's e0 went elsewhere.

    The steepest rise of μ (3-point mean) lies in the first 5 % of points and more than
    5 eV from Larch's e0; it is taken instead when it is within 20 eV of the element's
    tabulated edge (``expected``, NaN if unknown) while Larch's is not, or, the element
    unknown, when it is at least twice as steep as μ at Larch's e0 and near some tabulated
    edge (a glitch is neither). Returns the new e0 (a measured energy) per spectrum, NaN
    to keep Larch's. ``energy`` and ``mu`` ``[n, m]``, one row per spectrum."""
    n_rows, n = mu.shape
    out = np.full(n_rows, np.nan)
    if n < 8:
        return out
    # np.convolve(mu, ones(3) / 3, "same") and np.gradient(smooth, energy), row-wise, with
    # numpy's own arithmetic
    third = 1.0 / 3.0
    smooth = np.empty_like(mu)
    smooth[:, 1:-1] = mu[:, :-2] * third + mu[:, 1:-1] * third + mu[:, 2:] * third
    smooth[:, 0] = mu[:, 0] * third + mu[:, 1] * third
    smooth[:, -1] = mu[:, -2] * third + mu[:, -1] * third
    dx = energy[:, 1:] - energy[:, :-1]
    dx1, dx2 = dx[:, :-1], dx[:, 1:]
    slope = np.empty_like(mu)
    slope[:, 1:-1] = (-dx2 / (dx1 * (dx1 + dx2)) * smooth[:, :-2]
                      + (dx2 - dx1) / (dx1 * dx2) * smooth[:, 1:-1]
                      + dx1 / (dx2 * (dx1 + dx2)) * smooth[:, 2:])
    slope[:, :2] = slope[:, -2:] = -np.inf
    i = np.argmax(slope, axis=1)
    rows = np.arange(n_rows)
    candidate = energy[rows, i]
    early = (i < EARLY_FRACTION * n) & (np.abs(candidate - e0) > 5.0) & (i >= 1) & (i <= n - 2)
    for b in np.flatnonzero(early):  # rare: a handful of spectra at most
        if not np.isnan(expected[b]):
            if abs(candidate[b] - expected[b]) < 20.0 <= abs(e0[b] - expected[b]):
                out[b] = candidate[b]
            continue
        at_e0 = slope[b, int(np.argmin(np.abs(energy[b] - e0[b])))]
        try:
            identify_edge(float(candidate[b]))
        except UnknownElement:
            continue
        if slope[b, i[b]] >= 2.0 * max(at_e0, 0.0):
            out[b] = candidate[b]
    return out


def _xas_fallbacks(energy: np.ndarray, mu: np.ndarray, r: Any) -> list[str | None]:
    """What each spectrum lacked, and so how far its normalization can be trusted:
    ``no_pre_edge`` (under 3 points below e0: Larch's rules take the mean of the first
    points for the pre-edge line), ``short_pre_edge`` (under 15 eV below e0, or a pre-edge
    range so short that Larch fits a constant, npre=0), ``short_post_edge`` (the scan stops
    under 15 eV above e0), ``already_normalized`` (μ already 0
    before the edge and 1 after it, a literature spectrum: left as it was, within 5 %)."""
    below = np.count_nonzero(energy < r.e0[:, None], axis=1)
    chosen = np.select(
        [below < 3,
         (np.asarray(r.npre) == 0) | (r.e0 - energy[:, 0] < MIN_PRE_EDGE_EV),
         energy[:, -1] - r.e0 < MIN_POST_EDGE_EV,
         (np.abs(r.pre_edge[:, 0]) < NORMALIZED_TOLERANCE)
         & (np.abs(r.edge_step - 1.0) < NORMALIZED_TOLERANCE)],
        ["no_pre_edge", "short_pre_edge", "short_post_edge", "already_normalized"], "")
    return [c or None for c in chosen.tolist()]


def _eels(batch: list[RawSpectrum], grid: np.ndarray) -> list[Normalized]:
    energy = np.stack([s.energy for s in batch])
    counts = np.stack([s.signal for s in batch])
    first = batch[0]
    expected = None
    if first.element and all(s.element == first.element for s in batch):
        try:
            expected = edge_energy(first.element, main_edge(first.edge))
        except UnknownElement:
            expected = None
    if np.all(energy == energy[:1]):
        # a spectrum-image row: one axis for every pixel, broadcast rather than repeated
        energy = energy[0]
    onset = np.asarray(find_edge_onset(energy, counts, expected=expected), dtype=float)
    r = normalize_eels(energy, counts, onset)
    on_grid = resample(energy, r.norm, onset[:, None] + grid[None, :])
    feats = _as_dict(edge_features(energy, r.norm, onset))
    axes = np.broadcast_to(energy, counts.shape)
    # one conversion per array, not one per value: this loop is per pixel
    cols = {k: np.asarray(v, dtype=float).tolist() for k, v in feats.items()}
    steps = np.asarray(r.step, dtype=float).tolist()
    amp, expo = np.asarray(r.A, dtype=float).tolist(), np.asarray(r.r, dtype=float).tolist()
    pre, post = np.asarray(r.pre_window, float).tolist(), np.asarray(r.post_window, float).tolist()
    fallbacks = [str(f) or None for f in np.asarray(r.fallback).tolist()]
    return [Normalized(
        e0=e0, edge_step=steps[i], energy=axes[i], norm=r.norm[i], on_grid=on_grid[i],
        features={k: v[i] for k, v in cols.items()}, method="power_law",
        parameters={"A": amp[i], "r": expo[i], "pre_window": pre[i], "post_window": post[i]},
        fallback=fallbacks[i],
    ) for i, e0 in enumerate(onset.tolist())]


def main_edge(edge: str | None) -> str:
    """EELS metadata often says "L2,3": the onset is the L3 edge."""
    if not edge:
        return "L3"
    return "L3" if edge.replace(" ", "").upper() in ("L2,3", "L23") else edge


def _as_dict(feats: Any) -> dict[str, Any]:
    if isinstance(feats, dict):
        return feats
    return {k: getattr(feats, k) for k in ("white_line_energy", "white_line_height",
                                           "pre_edge_centroid")}
