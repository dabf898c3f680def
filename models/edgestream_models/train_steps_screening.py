"""The screening step of ``python -m edgestream_models.train_all``: forward and inverse models,
the candidate library, the whitened ranking chosen on validation queries, its metrics on the
test materials, and the plugin's files and card."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from tqdm.auto import tqdm

from edgestream.physics import elements_in
from edgestream_models.augment import AugmentConfig, augment, clean
from edgestream_models.export import export_onnx, write_manifest
from edgestream_models.library import load_library, save_library
from edgestream_models.train import CACHE, PLUGINS, CuKData, material_mean, predict
from edgestream_models.train_forward import (
    FORWARD_HIDDEN,
    QUERY,
    library_profiles,
    queries,
    spearman_rows,
    spectral_scores,
    train_forward,
)
from edgestream_models.train_screening import (
    INVERSE_DIM,
    INVERSE_HIDDEN,
    embedding_similarity,
    library_embeddings,
    rank_metrics,
    train_inverse,
)
from edgestream_models.train_steps import (
    MODALITY_NOTE,
    OUTPUTS_COMMON,
    counts,
    finish_card,
    load_plugin,
    save_ood,
)
from edgestream_plugins.cu_k import GRID, OodReference, meets_targets
from edgestream_plugins.cu_k.similarity import Whitening, window
from edgestream_plugins.screening import ElementFilter

SCREENING_VERSION = "1.4.0"  # 1.4: the whitened-distance ranking


def _subset_500(names: np.ndarray, test_names: np.ndarray, seed: int) -> np.ndarray:
    """Library indices of the test materials plus random others, 500 in all (or more)."""
    rng = np.random.default_rng(seed)
    is_test = np.isin(names, test_names)
    others = rng.permutation(np.nonzero(~is_test)[0])[:max(0, 500 - is_test.sum())]
    return np.sort(np.concatenate([np.nonzero(is_test)[0], others]))


def _screen_metrics(scores: dict[str, np.ndarray], truth: np.ndarray, names: np.ndarray,
                    subset: np.ndarray | None = None, allowed: np.ndarray | None = None
                    ) -> dict:
    """Top-k of the true material among ``subset`` (default: all) for each score matrix
    ``[n_queries, n_candidates]`` of ``scores`` (key: the metric's suffix); ``allowed``
    (bool, same shape) masks out the candidates a query may not be matched with."""
    lib = np.arange(len(names)) if subset is None else subset
    where = {m: i for i, m in enumerate(names[lib])}
    idx = np.array([where[m] for m in truth])
    out = {}
    for key, score in scores.items():
        score = score[:, lib]
        if allowed is not None:
            score = np.where(allowed[:, lib], score, -np.inf)
        out |= {f"test_{k}{key}": v for k, v in rank_metrics(score, idx).items()}
    return out


# The whitened ranking's choices, tried on validation queries of both kinds: how much the
# measured-like distortions weigh against the forward model's errors, and the embedding's weight
WHITENING_BETAS = (0.3, 1.0, 3.0)
EMBEDDING_WEIGHTS = (0.25, 0.5, 1.0, 2.0)
PREVIOUS_SPECTRAL_WEIGHT = 8.0  # models <= 1.3.0 ranked by embedding + 8 x Pearson similarity


def ranking_covariances(data: CuKData, spectra: np.ndarray, names: np.ndarray, seed: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On the window points, over the validation materials (which the forward model never
    trained on): the covariance of FEFF minus predicted spectra and its mean, and the
    covariance of the training augmentation's distortions without their shift (the shift is
    searched): ``(cov_forward, cov_distortion, bias)``."""
    va = data.rows("val")
    val_names, work = material_mean(data.work[va], data.material[va], data.weight[va])
    truth = clean(work)
    inside = window(GRID)
    residual = (truth - spectra[np.searchsorted(names, val_names)])[:, inside]
    no_shift = dataclasses.replace(AugmentConfig(), shift_sigma=0.0, shift_wide=0.0)
    rng = np.random.default_rng(seed + 5)
    distortion = np.concatenate([augment(work, rng, no_shift) - truth
                                 for _ in range(10)])[:, inside]
    return np.cov(residual.T), np.cov(distortion.T), residual.mean(axis=0)


def _choose_ranking(query_sets: dict, spectra: np.ndarray, names: np.ndarray,
                    covariances: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict:
    """The whitening and embedding weight with the best validation top-1 + top-5, summed over
    both query kinds, and every query set's whitened scores under it."""
    cov_fwd, cov_aug, bias = covariances
    val = ("val", "val_measured_like")
    emb_scale = float(np.median(np.concatenate([query_sets[k][3].std(1) for k in val])))
    best: dict = {"value": -1.0, "tried": {}}
    for beta in tqdm(WHITENING_BETAS, desc="whitened ranking", leave=False):
        whitening = Whitening.fit(cov_fwd + beta * cov_aug, bias)
        candidates = whitening.candidates(spectra, GRID)
        dist = {k: whitening.scores(q[1], candidates, GRID) for k, q in query_sets.items()}
        dist_scale = float(np.median(np.concatenate([dist[k].std(1) for k in val])))
        for weight in EMBEDDING_WEIGHTS:
            value = 0.0
            for k in val:
                truth, _, _, emb = query_sets[k]
                score = dist[k] / dist_scale + weight * emb / emb_scale
                value += sum(rank_metrics(score, np.searchsorted(names, truth), (1, 5)).values())
            best["tried"][f"beta {beta:g}, embedding weight {weight:g}"] = value
            if value > best["value"]:
                best |= {"value": value, "beta": beta, "embedding_weight": weight,
                         "whitening": whitening, "distance_scale": dist_scale,
                         "embedding_scale": emb_scale, "distances": dist}
    return best


def _known_elements(lib: dict[str, np.ndarray], truth: np.ndarray) -> np.ndarray:
    """``[n_queries, n_candidates]``: the candidates made only of the true material's elements
    (what the screening plugin ranks when the run gives the sample's composition)."""
    filt = ElementFilter(lib["formula"])
    formula = dict(zip(lib["material_id"], lib["formula"], strict=True))
    return np.stack([filt.allowed(elements_in(str(formula[m]))) for m in truth])


def run_screening(data: CuKData, ref: OodReference, args: argparse.Namespace,
                  base: dict) -> dict:
    """Train the forward and inverse models, build the library, choose the ranking, export and
    publish the screening plugin (plugins/screening); its card."""
    folder = PLUGINS / "screening"
    res = train_forward(data, members=args.members, epochs=args.forward_epochs,
                        seed=args.seed)
    inv = train_inverse(data, members=args.members, epochs=args.inverse_epochs,
                        seed=args.seed)
    probe = data.structure_x[data.rows("val")][:512]
    n_in = probe.shape[1]
    diffs = {"forward": export_onnx(res.model, n_in, folder / "forward.onnx", probe,
                                    half_weights=True),
             "site_encoder": export_onnx(inv.site_encoder, n_in,
                                         folder / "site_encoder.onnx", probe),
             "spectrum_encoder": export_onnx(inv.spectrum_encoder, len(GRID),
                                             folder / "spectrum_encoder.onnx",
                                             clean(data.work[data.rows("val")][:512]))}
    names, spectra = material_mean(res.predicted, data.material, data.weight)
    _, spread = material_mean(res.spread[:, None] ** 2, data.material, data.weight)
    first = {m: i for i, m in reversed(list(enumerate(data.material)))}
    lib = {"material_id": names, "formula": np.array([data.formula[first[m]] for m in names]),
           "source": np.array([data.source[first[m]] for m in names]),
           "split": np.array([data.split[first[m]] for m in names]), "spectrum": spectra,
           "spread": np.sqrt(spread[:, 0]),
           "embedding": library_embeddings(inv, data, names)}
    save_library(folder / "library.npz", lib)
    lib = load_library(folder / "library.npz")  # what the plugin will see (float16)
    spectra = lib["spectrum"].astype(np.float32)
    profiles = library_profiles(spectra)
    lib_emb = lib["embedding"].astype(np.float32)
    query_sets = {}
    for split in ("val", "test"):
        for kind, cond in (("", QUERY), ("_measured_like", AugmentConfig())):
            truth, x = queries(data, split, seed=args.seed + 11, conditions=cond)
            query_sets[split + kind] = (truth, x, spectral_scores(x, profiles),
                                        embedding_similarity(predict(inv.spectrum_encoder, x),
                                                             lib_emb))
    ranking = _choose_ranking(query_sets, spectra, names,
                              ranking_covariances(data, spectra, names, args.seed))
    ranking["whitening"].save(folder / "whitening.npz")

    def scores(key: str) -> dict[str, np.ndarray]:
        _, _, spec, emb = query_sets[key]
        dist = ranking["distances"][key]
        return {"": dist / ranking["distance_scale"]
                + ranking["embedding_weight"] * emb / ranking["embedding_scale"],
                "_whitened": dist, "_spectral": spec, "_embedding": emb,
                "_previous_ranking": emb + PREVIOUS_SPECTRAL_WEIGHT * spec}

    truth = query_sets["test"][0]
    assert np.array_equal(truth, query_sets["test_measured_like"][0])
    sub = _subset_500(names, np.unique(truth), args.seed)
    known = _known_elements(lib, truth)  # both test query kinds share their truth order
    idx_t = np.searchsorted(names, truth)
    metrics = dict(res.metrics)
    metrics |= _screen_metrics(scores("test"), truth, names)
    for prefix, key in (("test500_", "test"), ("test500_measured_like_", "test_measured_like")):
        metrics |= {k.replace("test_", prefix): v
                    for k, v in _screen_metrics(scores(key), truth, names, sub).items()}
        metrics |= {k.replace("test_", prefix + "known_elements_"): v
                    for k, v in _screen_metrics(scores(key), truth, names, sub,
                                                known).items()}
    metrics["test500_known_elements_candidates_median"] = float(np.median(known[:, sub].sum(1)))
    feff = library_profiles(material_mean(clean(data.work), data.material, data.weight)[1])
    metrics |= {f"test_{k}_oracle_feff_library": v for k, v in rank_metrics(
        spectral_scores(query_sets["test"][1], feff), idx_t).items()}
    # the flag's threshold from validation, not test
    min_score = float(np.quantile(scores("val")[""].max(axis=1), 0.005))
    metrics |= {"candidates": len(names), "candidates_subset": len(sub),
                "test_queries": len(truth), "test_materials": len(np.unique(truth)),
                "ranking": {k: ranking[k] for k in ("beta", "embedding_weight",
                                                     "distance_scale", "embedding_scale")},
                "val_top1_plus_top5_by_ranking": ranking["tried"],
                "query_conditions": "site-averaged (multiplicity-weighted) FEFF spectrum of "
                                    "each test material, shifted uniformly within ±2 eV, "
                                    "white noise 1e-3..1e-2 (log-uniform), 3 draws each",
                "measured_like_conditions": "the same spectra under the training augmentation "
                                            "(edgestream_models.augment.AugmentConfig "
                                            "defaults: broadening, shifts, limited range, "
                                            "normalization errors, noise)",
                "known_elements_conditions": "the same queries, ranked only among the "
                                             "candidates made of the true material's elements "
                                             "(the run's composition given, as the plugin "
                                             "does); a separate figure, not the target's",
                "ranking_chosen_on": "validation top-1 + top-5, summed over both query "
                                     "conditions",
                "previous_ranking": "embedding + 8 x Pearson profile similarity (models "
                                    "<= 1.3.0)"}
    save_ood(folder, ref)
    write_manifest(folder, {
        "name": "cu_k_screening", "version": SCREENING_VERSION, "top_k": 5,
        "description": f"Candidate structures for {MODALITY_NOTE}: whitened distance to "
                       "forward-model library spectra (best of +-3 eV shifts) plus "
                       "inverse-model embedding similarity",
        "members": args.members, "opt_in": not meets_targets("cu_k_screening", metrics),
        "outputs": {"value": "best candidate's material id",
                    "candidates": "top_k candidates: material_id, formula, score (the "
                                  "ranking), similarity (Pearson profile, -1..1) and the "
                                  "shift_ev that gave it",
                    "uncertainty": "forward-ensemble spread of the best candidate's spectrum",
                    "margin": "best minus second-best score", **OUTPUTS_COMMON},
        "ranking": {k: ranking[k] for k in ("beta", "embedding_weight", "distance_scale",
                                             "embedding_scale")},
        "ood": {"min_score": min_score},
    }, {"model": "spectrum_encoder.onnx", "forward": "forward.onnx",
        "site_encoder": "site_encoder.onnx", "library": "library.npz",
        "whitening": "whitening.npz", "ood": "ood.npz"})
    for key, model in (("forward", res.model), ("site_encoder", inv.site_encoder),
                       ("spectrum_encoder", inv.spectrum_encoder)):
        torch.save(model.state_dict(), CACHE / "models" / f"cu_k_{key}.pt")
    te = data.rows("test")
    inv_layers = " -> ".join(map(str, (*INVERSE_HIDDEN, INVERSE_DIM)))
    card = {"family": "screening", "name": "cu_k_screening", "version": SCREENING_VERSION,
            **base,
            "metrics": metrics, "library": {"candidates": len(names),
                                            "by_split": counts(lib["split"]),
                                            "by_source": counts(lib["source"])},
            "models": {"forward": f"MLP {n_in} -> {' -> '.join(map(str, FORWARD_HIDDEN))} -> "
                                  f"{len(GRID)} (BatchNorm, SiLU, Dropout 0.1) on raw M3GNet "
                                  "gc_3 site features and the absorber's radial distribution "
                                  "(edgestream_models.site_geometry; standardized in the net)",
                       "inverse": f"spectrum encoder {len(GRID)} -> {inv_layers} and site "
                                  f"encoder {n_in} -> {inv_layers}, CLIP-style InfoNCE on "
                                  "training materials"},
            "onnx_parity_max_abs_diff": diffs, "ood": {"min_score": min_score}}
    pick = te[np.argsort(spearman_rows(res.predicted[te], res.target[te], data.valid[te]))]
    examples = [(res.target[i], res.predicted[i], f"{data.material[i]} {data.formula[i]}")
                for i in pick[np.linspace(0, len(pick) - 1, 5).astype(int)]]
    panels = {"grid": GRID, "examples": examples, "candidates": len(names),
              "topk": {f"{len(names)} candidates": [metrics[f"test_top{k}"] for k in (1, 5, 10)],
                       "500 candidates": [metrics[f"test500_top{k}"] for k in (1, 5, 10)],
                       "500, elements known": [metrics[f"test500_known_elements_top{k}"]
                                               for k in (1, 5, 10)],
                       "FEFF spectra as library (bound)": [
                           metrics[f"test_top{k}_oracle_feff_library"] for k in (1, 5, 10)]}}
    return finish_card(folder, load_plugin("edgestream_plugins.screening:CuKScreening"), card,
                   panels, "screening")

