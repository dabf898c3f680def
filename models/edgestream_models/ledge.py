"""Cu L2,3 valence and mixed-valence fractions: FEFF10 L3 spectra → EELS-like training data →
random forests → ONNX with every tree's output → ``plugins/cu_l`` (model, OOD, card, manifest).

    python -m edgestream_models.ledge --fixture                         # the simulator's spectra

    python -m edgestream_models.generate_feff10 --edge L3 calibration   # FEFF10 runs, cached
    python -m edgestream_models.generate_feff10 --edge L3 omnixas --sites 720
    python -m edgestream_models.generate_feff10 --edge L3 generate
    python -m edgestream_models.ledge                                   # this: ~4 min
    python -m edgestream_models.ledge --feff-only                       # v1.3.0's data

Since 1.4.0 Cu(II)/Cu(III) come from edrixs multiplet spectra (``multiplets``: the archive
``data/multiplets_cu_l23.tar.xz``, split by crystal-field family), FEFF10 gives Cu(0)/Cu(I)
and the CuO calibration reference (``training_spectra``). The model already in the plugin
folder is scored on the same held-out rows and replaced only if the new one is better.

Data: every finished FEFF10 L3 entry of the cache (OmniXAS oxides, the non-oxide
prototypes with their strained/displaced variants, the calibration references). FEFF
computes L3 alone; the L2,3 spectrum is ``L3(E) + L2_WEIGHT * L3(E - SPIN_ORBIT_EV)``
(statistical 2:1 branching, Cu 2p splitting 19.9 eV), on an energy scale shifted once for
all so that FEFF's Cu fcc onset sits at the tabulated 932.7 eV (``calibration_shift``).

Split by material: OmniXAS materials by the OmniXAS split (materials outside it by a hash,
15 % test), prototypes as a whole (every variant with its prototype; every fourth prototype
of each valence class is a test prototype), so no structure family straddles the split. Cu
metal (``cu_fcc``) is never a test prototype: it is the Cu(0) standard every user measures,
and like the Cu2O/CuO calibration references it belongs in training.

Each training row is an EELS measurement simulated from a spectrum (``simulate_eels``):
energy-scale error, spectrometer broadening, plural scattering, a power-law background,
thickness and Poisson noise on a random loss axis; then exactly the stream's path
(``find_edge_onset``, ``normalize_eels``) and ``edgestream_plugins.cu_l.represent``.
Mixtures are linear combinations of Cu(0), Cu(I) and Cu(II) spectra of one split with
Dirichlet fractions, made on the absolute energy scale before the simulation.

Modules: ``ledge_data`` (FEFF10 entries → L2,3 spectra, split, data set, fixture),
``ledge_simulate`` (mixtures, EELS measurements), ``ledge_forest`` (forests, per-tree ONNX),
``ledge_card`` (figure, manifest); this one trains, measures and writes the plugin folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.ood import OodReference
from edgestream_models.ledge_card import plot_card, write_cu_l_manifest
from edgestream_models.ledge_data import (
    FINE,
    PUBLISHED_GRID,
    REFERENCE_SITES,
    REPO,
    Spectra,
    load_spectra,
    save_dataset,
    split_families,
    write_fixture,
)
from edgestream_models.ledge_forest import (
    MIN_SAMPLES_LEAF,
    class_weights,
    fit_forest,
    per_tree_onnx,
    per_tree_sklearn,
    r2,
    throughput,
)
from edgestream_models.ledge_simulate import (
    mixtures,
    reference_rows,
    simulate_eels,
    simulate_many,
    simulate_xas,
)
from edgestream_plugins.cu_l import (
    FRACTION_CLASSES,
    GRID,
    VALENCE_CLASSES,
    median_summary,
    tree_summary,
)

PLUGIN = REPO / "plugins" / "edgestream_plugins" / "cu_l"
CANDIDATE = REPO / "models" / "edgestream_models" / "multiplets" / "candidate_card.json"


def training_spectra(cache: Path | None, draws: int, rng: np.random.Generator,
                     feff_only: bool = False,
                     ) -> tuple[Spectra, np.ndarray, float, dict[str, Any], dict[str, Any]]:
    """(spectra, split, calibration shift, FEFF parameters, facts of the multiplet rows).

    Combined (the default): FEFF10 Cu(0)/Cu(I) split by material, the FEFF10 CuO calibration
    reference (training), and ``draws`` spectra of every multiplet Cu(II)/Cu(III) set split by
    crystal-field family (``multiplets.evaluate.combined``). ``feff_only``: FEFF10 alone, all
    valences (v1.3.0's data)."""
    if feff_only:
        spectra, shift, feff_params = load_spectra(cache)
        return spectra, split_families(spectra), shift, feff_params, {}
    from edgestream_models.multiplets.evaluate import combined

    spectra, part, _, _, facts = combined(cache, draws, rng, keep_references=True)
    return spectra, part, facts.pop("calibration_shift_ev"), facts.pop("feff_parameters"), facts


def previous_scores(folder: Path, xt: np.ndarray, yt: np.ndarray, xtm: np.ndarray,
                    ftm: np.ndarray, xtx: np.ndarray, ytx: np.ndarray,
                    ) -> dict[str, Any] | None:
    """The model now in ``folder`` (its ONNX files) on the same held-out rows (EELS sites,
    EELS mixtures, soft-XAS sites), or None."""
    import onnxruntime as ort

    if not (folder / "card.json").exists() or not (folder / "valence.onnx").exists():
        return None

    def run(name: str, x: np.ndarray) -> np.ndarray:
        s = ort.InferenceSession(str(folder / f"{name}.onnx"),
                                 providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x.astype(np.float32)})[0]

    pv = median_summary(run("valence", xt), VALENCE_CLASSES)[0]
    pvx = median_summary(run("valence", xtx), VALENCE_CLASSES)[0]
    pf = np.clip(tree_summary(run("fractions", xtm), 3)[0], 0, None)
    pf /= np.clip(pf.sum(axis=1, keepdims=True), 1e-9, None)
    return {"version": json.loads((folder / "card.json").read_text())["version"],
            "test_mae": round(float(np.mean(np.abs(pv - yt))), 4),
            "test_r2": round(r2(yt, pv), 4),
            "test_soft_xas_mae": round(float(np.mean(np.abs(pvx - ytx))), 4),
            "test_fraction_mae": round(float(np.mean(np.abs(pf - ftm))), 4)}


def build_and_train(out: Path = PLUGIN, copies: int = 5, n_mix: int = 6000, n_trees: int = 48,
                    seed: int = 0, cache: Path | None = None,
                    n_reference_mix: int = 3000, draws: int = 4,
                    feff_only: bool = False, xas_copies: int = 2) -> dict[str, Any]:
    """Everything from the FEFF10 cache and the multiplet archive to the plugin folder;
    returns the card.

    ``n_mix`` mixtures of random training sites and ``n_reference_mix`` of the Cu, Cu2O and
    CuO references (the published recipe's mixtures: a partly oxidized Cu sample) are
    trained on; the test has both kinds, the first of test sites only. The model now in
    ``out`` is scored on the same held-out rows; the new one replaces it only if it reads
    both the valence and the fractions better there (else its card goes to ``CANDIDATE`` and
    the folder stays as it is).
    """
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    spectra, part, shift, feff_params, facts = training_spectra(cache, draws, rng, feff_only)
    train, test = spectra.take(np.nonzero(part == "train")[0]), spectra.take(
        np.nonzero(part == "test")[0])
    dataset = save_dataset(spectra, part, shift, feff_params)
    print(f"{len(spectra)} L2,3 spectra ({len(train)} train, {len(test)} test), "
          f"calibration shift {shift:+.2f} eV")

    # pure sites: valence; mixtures: fractions (and valence, which lies between)
    xv, src = simulate_many(train.mu, copies, rng, "train sites")
    # plus one clean measurement per site (a long, well-focused acquisition); a small gain,
    # measured without mixtures: clean test rows MAE 0.286 vs 0.300 (test_clean_mae in the card)
    xc, csrc = simulate_many(train.mu, 1, rng, "train sites, clean", clean=True)
    # and soft-XAS measurements (TEY/FY with yield saturation), read through the XAS path
    xx, xsrc = simulate_many(train.mu, xas_copies, rng, "train sites, soft XAS", xas=True)
    xv, src = np.concatenate([xv, xc, xx]), np.concatenate([src, csrc, xsrc])
    yv = train.valence[src]
    mix_mu, mix_f = mixtures(train, n_mix, rng)
    refs = train.take(reference_rows(train))
    if n_reference_mix:
        ref_mu, ref_f = mixtures(refs, n_reference_mix, rng)
        mix_mu, mix_f = np.concatenate([mix_mu, ref_mu]), np.concatenate([mix_f, ref_f])
    xm, msrc = simulate_many(mix_mu, 1, rng, "train mixtures")
    fm = mix_f[msrc]
    integer = np.isin(train.valence[src], (0.0, 1.0, 2.0))
    onehot = np.eye(3)[np.clip(yv[integer].astype(int), 0, 2)]
    # valence: a forest over class weights (pure sites one-hot, mixtures their fractions),
    # each tree read as the continuous median. Measured against regressing the valence on the
    # same rows (48 trees): test MAE 0.374 vs 0.437, mixtures' mean valence 0.322 vs 0.299.
    fm4 = np.pad(fm, ((0, 0), (0, VALENCE_CLASSES - fm.shape[1])))
    valence_rf = fit_forest(np.concatenate([xv, xm]),
                            np.concatenate([class_weights(yv), fm4]), n_trees, seed)
    fraction_rf = fit_forest(np.concatenate([xv[integer], xm]),
                             np.concatenate([onehot, fm]), n_trees, seed + 1)

    # held out: test sites (3 simulated measurements each) and test mixtures
    xt, tsrc = simulate_many(test.mu, 3, rng, "test sites")
    yt = test.valence[tsrc]
    pv, sv = median_summary(per_tree_sklearn(valence_rf, xt), VALENCE_CLASSES)
    xtc, tcsrc = simulate_many(test.mu, 1, rng, "test sites, clean", clean=True)
    pvc = median_summary(per_tree_sklearn(valence_rf, xtc), VALENCE_CLASSES)[0]
    ytc = test.valence[tcsrc]
    xtx, txsrc = simulate_many(test.mu, 2, rng, "test sites, soft XAS", xas=True)
    pvx = median_summary(per_tree_sklearn(valence_rf, xtx), VALENCE_CLASSES)[0]
    ytx = test.valence[txsrc]
    tmix_mu, tmix_f = mixtures(test, 1500, rng)
    xtm, tmsrc = simulate_many(tmix_mu, 1, rng, "test mixtures")
    ftm = tmix_f[tmsrc]

    def read_mixtures(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fraction forest's fractions (normalized) and the valence forest's reading."""
        f = np.clip(tree_summary(per_tree_sklearn(fraction_rf, x), 3)[0], 0, None)
        f /= np.clip(f.sum(axis=1, keepdims=True), 1e-9, None)
        return f, median_summary(per_tree_sklearn(valence_rf, x), VALENCE_CLASSES)[0]

    pf, pmv = read_mixtures(xtm)
    # held-out mixtures of the references: new fractions, new measurements
    tref_mu, tref_f = mixtures(refs, 1500, rng)
    xtr, trsrc = simulate_many(tref_mu, 1, rng, "test reference mixtures")
    ftr = tref_f[trsrc]
    pfr, pmvr = read_mixtures(xtr)

    # the published recipe on the same split, for reference: RF on cumulative sums on the
    # absolute 925-970 eV grid, noise-free, no energy-scale error
    def published(s: Spectra) -> np.ndarray:
        y = np.stack([np.interp(PUBLISHED_GRID, FINE, row) for row in s.mu])
        return np.cumsum(y, axis=1) / y[:, -1:].clip(1e-6)
    base = fit_forest(published(train), train.valence, n_trees, seed, min_samples_leaf=5)
    base_pred = base.predict(published(test))

    previous = previous_scores(out, xt, yt, xtm, ftm, xtx, ytx)
    new_fmae = float(np.mean(np.abs(pf - ftm)))
    new_xas = float(np.mean(np.abs(pvx - ytx)))
    # the plugin serves EELS and soft XAS: valence MAE over both kinds of held-out rows
    # (each weighted alike) must be lower, and the fractions no worse than 0.005
    both_new = (float(np.mean(np.abs(pv - yt))) + new_xas) / 2
    better = previous is None or (
        both_new < (previous["test_mae"] + previous["test_soft_xas_mae"]) / 2
        and new_fmae < previous["test_fraction_mae"] + 0.005)
    out = out if better else Path(tempfile.mkdtemp(prefix="cu_l_candidate_"))

    # OOD reference: signal halves of the training inputs vs held-out validation rows
    half = GRID.size
    ood = OodReference.fit(xv[:, :half], xt[:, :half])
    spread_limit = float(np.quantile(sv, 0.995))

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, forest in (("valence", valence_rf), ("fractions", fraction_rf)):
        (out / f"{name}.onnx").write_bytes(per_tree_onnx(forest, xv.shape[1]))
        probe = xt[:: max(1, len(xt) // 64)][:64]
        np.savez(out / f"{name}.parity.npz", x=probe, expected=per_tree_sklearn(forest, probe))
        files[name] = f"{name}.onnx"
    ood.save(out / "ood.npz")
    files["ood"] = "ood.npz"

    pure_int = np.isin(yt, (0.0, 1.0, 2.0, 3.0))
    by_class = {f"Cu({'0' if v == 0 else 'I' * int(v)})": {
        "n": int(np.sum(yt == v)), "mae": round(float(np.mean(np.abs(pv - yt)[yt == v])), 3)}
        for v in (0.0, 1.0, 2.0, 3.0) if np.any(yt == v)}
    # OmniXAS oxides and non-oxide prototypes apart: their FEFF10 physics limits differ
    tgroup = test.group[tsrc]
    tsource = np.where(tgroup == "multiplet", "multiplet", "feff10")
    by_source = {g: {"n": int(np.sum(tsource == g)),
                     "mae": round(float(np.mean(np.abs(pv - yt)[tsource == g])), 3),
                     "r2": round(r2(yt[tsource == g], pv[tsource == g]), 3)}
                 for g in np.unique(tsource)}
    by_group = {g: {"n": int(np.sum(tgroup == g)),
                    "mae": round(float(np.mean(np.abs(pv - yt)[tgroup == g])), 3),
                    "r2": round(r2(yt[tgroup == g], pv[tgroup == g]), 3)}
                for g in np.unique(tgroup)}
    # 1.0: full core hole (FSR); 1.1: no core hole, confident labels, 15 Cu(0) prototypes;
    # 1.2: the valence forest over Cu(0)..Cu(III) weights, each tree read as the median;
    # 1.3: + mixtures of the Cu/Cu2O/CuO references, trained on the archived L3 runs
    # 1.4: Cu(II)/Cu(III) from edrixs multiplet (and charge-transfer) spectra, FEFF10 below
    # 1.5: + soft-XAS measurements (TEY/FY saturation) through the XAS path in training
    card = {
        "name": "cu_l_valence", "version": "1.3.0" if feff_only else "1.5.0",
        "task": "Cu valence and Cu(0)/Cu(I)/Cu(II) fractions from Cu L2,3 EELS or soft-XAS "
                "spectra",
        "model": f"random forests ({n_trees} trees each, min_samples_leaf "
                 f"{MIN_SAMPLES_LEAF}, max_features "
                 "0.3) on the onset-aligned step-normalized spectrum and its cumulative sum; "
                 "valence: weights of Cu(0)..Cu(III) per tree, read as their continuous "
                 "median; uncertainty = std over trees (every tree's output is in the ONNX "
                 "model)",
        "anchor": "random forest on Cu L2,3 XAS/EELS (925-970 eV, cumulative sums): RMSE "
                  "0.21, R^2 0.89 on test",
        "data": {
            "source": "FEFF10 (feff10-rs) Cu L3, SCF over 3.5 Å, no core hole; L2,3 = L3 + "
                      "0.5 L3(E - 19.9 eV)" + ("" if feff_only else
                      "; Cu(0)/Cu(I) (and the CuO reference) only. Cu(II)/Cu(III): edrixs "
                      "multiplet L2,3 (d9, d8, charge transfer d9+d10L, d8+d9L+d10L2; Oh, "
                      "D4h, square planar, Td; Slater 0.6-0.9), FEFF10 post-edge structure "
                      "on their continuum (models/edgestream_models/multiplets/DATASET.md)"),
            "multiplet_facts": facts,
            "feff_parameters": feff_params,
            "calibration_shift_ev": round(shift, 3),
            "spectra": len(spectra), "train_sites": len(train), "test_sites": len(test),
            "groups": {g: int(np.sum(spectra.group == g)) for g in np.unique(spectra.group)},
            "valence_counts": {f"{v:g}": int(c) for v, c in zip(
                *np.unique(spectra.valence.round(2), return_counts=True), strict=True)},
            "split": "by material (OmniXAS split; prototypes with all their variants); "
                     "multiplet sets by crystal-field family (20 % held out by a hash)",
            "dataset": str(dataset),
            "augmentation": simulate_eels.__doc__.split("\n\n")[1].strip(),
            "augmentation_soft_xas": simulate_xas.__doc__.split("\n\n")[1].strip(),
            "train_rows_soft_xas": len(xx),
            "train_rows": int(len(xv) + len(xm)), "train_mixtures": len(xm),
            "train_reference_mixtures": n_reference_mix,
            "reference_sites": {c: str(k) for c, k in zip(REFERENCE_SITES, refs.key,
                                                          strict=True)},
            "test_rows": len(xt), "test_mixtures": len(xtm),
            "test_reference_mixtures": len(xtr),
        },
        "test_mae": round(float(np.mean(np.abs(pv - yt))), 4),
        "test_rmse": round(float(np.sqrt(np.mean((pv - yt) ** 2))), 4),
        "test_r2": round(r2(yt, pv), 4),
        "test_clean_mae": round(float(np.mean(np.abs(pvc - ytc))), 4),
        "test_clean_r2": round(r2(ytc, pvc), 4),
        "test_soft_xas_mae": round(float(np.mean(np.abs(pvx - ytx))), 4),
        "test_soft_xas_r2": round(r2(ytx, pvx), 4),
        "test_mae_integer_valences": round(float(np.mean(np.abs(pv - yt)[pure_int])), 4),
        "test_by_class": by_class,
        "test_by_group": by_group,
        "test_by_source": by_source,
        # the test's rows are ~70 % multiplet (4 draws per set): both sources weighted alike
        "test_mae_sources_balanced": round(float(np.mean([v["mae"] for v in
                                                          by_source.values()])), 4),
        "previous_on_this_test": previous,
        "exported": better,
        "test_mean_uncertainty": round(float(sv.mean()), 4),
        "test_fraction_mae": round(float(np.mean(np.abs(pf - ftm))), 4),
        # what guessing a third each reads on the same mixtures: the floor's reference
        "test_fraction_mae_guessing_thirds": round(float(np.mean(np.abs(1 / 3 - ftm))), 4),
        "test_fraction_mae_by_class": {c: round(float(np.mean(np.abs(pf - ftm)[:, k])), 4)
                                       for k, c in enumerate(FRACTION_CLASSES)},
        "test_mixture_valence_mae": round(float(np.mean(np.abs(pmv - ftm @ np.arange(
            3.0)))), 4),
        "test_reference_fraction_mae": round(float(np.mean(np.abs(pfr - ftr))), 4),
        "test_reference_mixture_valence_mae": round(float(np.mean(np.abs(
            pmvr - ftr @ np.arange(3.0)))), 4),
        "baseline_published_recipe": {
            "what": "RF on cumulative sums, absolute 925-970 eV grid, noise-free FEFF spectra",
            "test_mae": round(float(np.mean(np.abs(base_pred - test.valence))), 4),
            "test_r2": round(r2(test.valence, base_pred), 4)},
        "ood": {"max_spread": spread_limit, "quantile": ood.quantile},
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    card["targets"] = {"test_mae": 0.15, "test_r2": 0.9, "test_fraction_mae": 0.1}
    card["opt_in"] = not (card["test_mae"] <= 0.15 and card["test_r2"] >= 0.9
                          and card["test_fraction_mae"] <= 0.1)
    card["throughput"] = throughput(out, xt)
    if not better:
        CANDIDATE.write_text(json.dumps(card, indent=1) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        return card
    write_cu_l_manifest(out, files, card)
    (out / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    plot_card(out / "card.png", card, yt, pv, sv, (ftm, pf), (ftr, pfr), spectra)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgestream_models.ledge",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--fixture", action="store_true",
                    help="only rewrite the simulated microscope's spectra "
                         "(stream/edgestream_sim/data)")
    ap.add_argument("--out", type=Path, default=PLUGIN)
    ap.add_argument("--copies", type=int, default=5, help="simulated measurements per site")
    ap.add_argument("--mixtures", type=int, default=6000)
    # 4 draws rather than 2 (2026-12-07, same seed and families): multiplet test MAE 0.14 vs
    # 0.21, FEFF10 0.235 vs 0.24; ONNX 5.0 / 4.0 MB
    ap.add_argument("--draws", type=int, default=4, help="broadening draws per multiplet set")
    ap.add_argument("--feff-only", action="store_true",
                    help="FEFF10 spectra alone, all valences (v1.3.0's data)")
    ap.add_argument("--reference-mixtures", type=int, default=3000,
                    help="training mixtures of the Cu, Cu2O and CuO references")
    ap.add_argument("--trees", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.fixture:
        print(json.dumps(write_fixture(cache=args.cache), indent=1))
        return 0
    card = build_and_train(args.out, args.copies, args.mixtures, args.trees, args.seed,
                           args.cache, args.reference_mixtures, args.draws, args.feff_only)
    print(json.dumps({k: v for k, v in card.items() if k.startswith(("test", "baseline",
                                                                      "throughput",
                                                                      "previous", "exported"))},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
