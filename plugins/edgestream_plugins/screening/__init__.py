"""Cu K-edge structure screening: rank candidate materials of a library for a spectrum.

Each candidate (library.npz) carries the spectrum the forward model (M3GNet site features and
the absorber's radial distribution → spectrum, forward.onnx) predicts for it and its
inverse-model embedding (site_encoder.onnx), both averaged over its Cu sites. A spectrum is
embedded by spectrum_encoder.onnx; the score of a candidate is minus its whitened distance to
the spectrum (``edgestream_plugins.cu_k.similarity.Whitening``, whitening.npz: the forward
model's validation errors and measured-like distortions; best of ±3 eV shifts) over
``ranking.distance_scale`` plus ``ranking.embedding_weight`` times the embedding similarity
over ``ranking.embedding_scale``. Each reported candidate also carries its Pearson profile
similarity and the shift that gave it.
Libraries built with ``python -m edgestream_models.library add FILES... --library PATH``
are searched too when listed in ``$EDGESTREAM_CU_K_LIBRARY`` (``os.pathsep``-separated).

Output per spectrum: ``value`` (best material id), ``candidates`` (top ``top_k``: material
id, formula, score, spectral similarity, shift_ev), ``uncertainty`` (forward-ensemble spread
of the best candidate's spectrum), ``margin`` (best minus second score), ``ood`` and
``ood_score`` (input outside the training spectra, or best score below ``ood.min_score``).

When the run says what the sample contains (start document or XDI ``composition``, a formula
or element symbols, :func:`edgestream.physics.elements_in`), only candidates made of those
elements are ranked, and ``composition`` reports the elements and how many candidates
matched; with no match, or a composition that cannot be read (``composition.error``), every
candidate is ranked.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.errors import UnknownElement
from edgestream.physics import elements_in
from edgestream.plugin.api import GPU_FIRST, SpectrumBatch
from edgestream.plugin.base import rounded_list
from edgestream_plugins.cu_k import CuKModel
from edgestream_plugins.cu_k.search import ProfileShifts, WhitenedSearch
from edgestream_plugins.cu_k.similarity import Whitening, profile

log = logging.getLogger(__name__)

LIBRARY_ENV = "EDGESTREAM_CU_K_LIBRARY"
KEYS = ("material_id", "formula", "spectrum", "spread", "embedding")


def read_library(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in KEYS}


class ElementFilter:
    """Which candidates are made only of a sample's elements (one bit per element)."""

    def __init__(self, formulas: np.ndarray) -> None:
        self.symbols: dict[str, int] = {}
        rows = []
        for f in formulas:
            try:
                rows.append([self._bit(e) for e in elements_in(str(f))])
            except UnknownElement:  # never matches: its elements are not known
                rows.append([self._bit("?")])
        self.contains = np.zeros((len(rows), len(self.symbols)), dtype=bool)
        for i, bits in enumerate(rows):
            self.contains[i, bits] = True
        self.allowed = lru_cache(maxsize=256)(self._allowed)

    def _bit(self, symbol: str) -> int:
        return self.symbols.setdefault(symbol, len(self.symbols))

    def _allowed(self, elements: frozenset[str]) -> np.ndarray:
        """``[n_candidates]`` bool: the candidate's elements are all in ``elements``."""
        sample = np.zeros(self.contains.shape[1], dtype=bool)
        sample[[self.symbols[e] for e in elements if e in self.symbols]] = True
        return ~np.any(self.contains & ~sample, axis=1)

    def for_sample(self, composition: Any) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        """The mask for a run's ``composition`` (None: rank every candidate) and the report
        for the output (None when the run gives no composition)."""
        if composition is None or composition == "":
            return None, None
        if not isinstance(composition, str | list | tuple):
            return None, {"error": f"composition {composition!r}: give a formula or a list "
                                   "of element symbols"}
        # every row of a run carries the same composition: parse and log it once, not per row
        key = composition if isinstance(composition, str) else tuple(map(str, composition))
        mask, report = self._for_composition(key)
        return mask, {k: list(v) if isinstance(v, list) else v for k, v in report.items()}

    @lru_cache(maxsize=256)  # noqa: B019 (one filter per plugin, kept for its lifetime)
    def _for_composition(self, composition: str | tuple[str, ...]) -> tuple[
            np.ndarray | None, dict[str, Any]]:
        try:
            elements = elements_in(composition)
        except UnknownElement as exc:
            log.warning("screening: %s; every candidate is ranked", exc.message)
            return None, {"error": exc.message}
        mask = self.allowed(elements)
        matched = int(mask.sum())
        return (mask if matched else None), {"elements": sorted(elements), "matching": matched}


class CuKScreening(CuKModel):
    folder = Path(__file__).parent
    reads_composition = True  # ranks only candidates of the run's elements when it names them

    def load(self, providers: tuple[str, ...] = GPU_FIRST) -> None:
        super().load(providers)
        parts = [read_library(self.checked("library"))]
        extra = os.environ.get(LIBRARY_ENV, "")
        parts += [read_library(Path(p)) for p in extra.split(os.pathsep) if p]
        self.library = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
        spectra = self.library["spectrum"].astype(np.float32)
        self.whitening = Whitening.load(self.checked("whitening"))
        self.profiles = profile(spectra, self.grid)
        self.embeddings = self.library["embedding"].astype(np.float32)
        self.element_filter = ElementFilter(self.library["formula"])
        # everything that does not depend on the data, made once: the exact search, the
        # batched profile comparison, the embeddings as one matrix, the ids as strings
        self.search = WhitenedSearch(self.whitening, spectra, self.grid)
        self.whitened = self.search.candidates  # Whitening.candidates of the library
        self.profile_shifts = ProfileShifts(self.profiles, self.grid)
        # the embedding term of the total, weight / (members * scale) * query . embedding, as
        # one product with the query's members side by side
        rank = self.manifest["ranking"]
        weight = float(rank["embedding_weight"]) / float(rank["embedding_scale"])
        self.embedding_matrix = np.ascontiguousarray(
            self.embeddings.reshape(len(self.embeddings), -1).T
            * np.float32(weight / self.embeddings.shape[1]))
        self.ids = [str(v) for v in self.library["material_id"]]
        self.formulas = [str(v) for v in self.library["formula"]]

    def similarity_of(self, x: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pearson profile similarity of queries ``x [n, len(grid)]`` with their candidates
        ``top [n, m]`` (library rows), best over shifts, and that shift (eV): ``[n, m]`` each."""
        return self.profile_shifts.best(x, top)

    def bonus(self, batch: SpectrumBatch, idx: np.ndarray, query: np.ndarray
              ) -> tuple[np.ndarray, list[dict[str, Any] | None]]:
        """``[n, N]``: each usable row's embedding term of the total (``-inf`` for candidates
        its composition excludes), and each row's composition report."""
        bonus = np.asarray(query, dtype=np.float32).reshape(len(query), -1) @ \
            self.embedding_matrix
        reports: list[dict[str, Any] | None] = [None] * len(idx)
        if not batch.metadata:
            return bonus, reports
        rows_of: dict[Any, list[int]] = {}
        for row, i in enumerate(idx.tolist()):  # rows of a run share one composition
            composition = batch.metadata[i].get("composition")
            key = (type(composition).__name__, repr(composition))
            rows_of.setdefault(key, []).append(row)
        for rows in rows_of.values():
            composition = batch.metadata[idx[rows[0]]].get("composition")
            mask, report = self.element_filter.for_sample(composition)
            if mask is not None:
                bonus[np.ix_(rows, np.nonzero(~mask)[0])] = -np.inf
            for row in rows:  # each annotation owns its report (no dict shared by rows)
                reports[row] = None if report is None else {
                    k: list(v) if isinstance(v, list) else v for k, v in report.items()}
        return bonus, reports

    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]:
        x, idx, score, flag = self.inputs(batch)
        out = [self.unusable() for _ in range(len(batch))]
        if not len(idx):
            return out
        k = int(self.manifest["top_k"])
        query = self.run("model", x)  # [n, members, dim]
        bonus, reports = self.bonus(batch, idx, query)
        scale = float(self.manifest["ranking"]["distance_scale"])
        top, total = self.search.top(x, bonus, scale, k + 1)  # [n, k + 1], best first
        sims, shifts = self.similarity_of(x, top)
        keep = np.isfinite(total)
        n_kept = keep.sum(axis=1).tolist()
        ood = (flag[idx] | (total[:, 0] < self.manifest["ood"]["min_score"])).tolist()
        margin = total[:, 0] - (total[:, 1] if total.shape[1] > 1 else np.nan)
        columns = zip(idx.tolist(), top.tolist(), n_kept, rounded_list(total),
                      rounded_list(sims), rounded_list(shifts, 2),
                      rounded_list(self.library["spread"][top[:, 0]], 4),
                      rounded_list(margin), ood, rounded_list(score[idx], 3), reports,
                      strict=True)
        ids, formulas = self.ids, self.formulas
        for i, ranked, kept, tot, sim, shift, spread, gap, is_ood, ood_score, report in columns:
            out[i] = {
                "value": ids[ranked[0]],
                "candidates": [
                    {"material_id": ids[c], "formula": formulas[c], "score": t,
                     "similarity": si, "shift_ev": sh}
                    for c, t, si, sh in zip(ranked[:min(k, kept)], tot, sim, shift,
                                            strict=False)],
                "uncertainty": spread,
                "margin": gap if kept > 1 else None,
                "ood": is_ood,
                "ood_score": ood_score,
            }
            if report is not None:
                out[i]["composition"] = report
        return out
