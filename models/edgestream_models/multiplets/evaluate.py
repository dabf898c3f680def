"""A first Cu L2,3 data set from two sources, and the existing model family on it: FEFF10's
Cu(0)/Cu(I) spectra (``ledge_data``, split by material as there) with the multiplet Cu(II)/Cu(III)
ones (``dataset``, split by crystal-field family), every row measured through the same EELS
simulation and the stream's normalization (``ledge_simulate``), the valence and fraction
forests of ``ledge_forest`` as ``ledge`` fits them. Held out: the test materials and the test
parameter families. Writes nothing into ``plugins/`` (the shipped cu_l model stays as is).

    nice -n 19 python -m edgestream_models.multiplets.evaluate [--feff-cache DIR] [--out F]

For comparison on the same held-out rows, the forests trained on FEFF10 alone (all valences,
today's data) are scored too.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgestream_models.ledge_data import (
    FINE,
    REFERENCE_SITES,
    Spectra,
    load_spectra,
    split_families,
)
from edgestream_models.ledge_forest import class_weights, fit_forest, per_tree_sklearn, r2
from edgestream_models.ledge_simulate import mixtures, simulate_many
from edgestream_models.multiplets import calibration
from edgestream_models.multiplets.dataset import feff_area_per_hole, multiplet_spectra, post_edge
from edgestream_plugins.cu_l import VALENCE_CLASSES, median_summary, tree_summary


def concat(a: Spectra, b: Spectra) -> Spectra:
    return Spectra(*(np.concatenate([getattr(a, f), getattr(b, f)])
                     for f in a.__dataclass_fields__))


def peak(mu: np.ndarray, lo: float = 925.0, hi: float = 945.0) -> float:
    """The strongest maximum of an L2,3 spectrum on ``FINE`` within [lo, hi] eV."""
    return float(FINE[np.argmax(np.where((lo < FINE) & (hi > FINE), mu, -np.inf))])


def combined(feff_cache: Path | None, copies: int, rng: np.random.Generator,
             flat: bool = False, keep_references: bool = False,
             ) -> tuple[Spectra, np.ndarray, Spectra, np.ndarray, dict[str, Any]]:
    """(combined spectra, split), (FEFF10-only spectra, split) and facts for the report.
    The multiplet rows' continuum carries the post-edge structure of FEFF10 sites of their
    valence and split (``dataset.post_edge``) unless ``flat``. ``keep_references``: FEFF10's
    CuO calibration reference stays too (training only: the end member of ``ledge``'s
    reference mixtures and the simulated microscope's CuO)."""
    feff, shift, feff_params = load_spectra(feff_cache)
    feff_part = split_families(feff)
    cuo = next(i for i, k in enumerate(feff.key) if str(k).startswith(REFERENCE_SITES["CuO"]))
    cu2o = next(i for i, k in enumerate(feff.key)
                if str(k).startswith(REFERENCE_SITES["Cu2O"]))
    area = feff_area_per_hole(feff.mu[cuo])
    continua = None if flat else {
        (side, v): np.stack([post_edge(m) for m in feff.mu[(feff_part == side)
                                                          & (feff.valence == v)]])
        for side in ("train", "test") for v in (2.0, 3.0)}
    multi, multi_part = multiplet_spectra(area, copies, rng, continua=continua)
    low = np.isin(feff.valence, (0.0, 1.0))
    if keep_references:
        low |= np.array([str(k).startswith(REFERENCE_SITES["CuO"]) for k in feff.key])
    lowf = feff.take(np.nonzero(low)[0])
    # FEFF10 without a core hole puts Cu2O's first maximum below the literature's: its Cu(I)
    # spectra move by that one difference (the metal, Cu(0), is where FEFF is calibrated)
    cu1_shift = calibration.CU2O_L3_PEAK_EV - peak(feff.mu[cu2o], 930.0, 936.0)
    cu1 = lowf.valence == 1.0
    lowf.mu[cu1] = np.stack([np.interp(FINE - cu1_shift, FINE, m) for m in lowf.mu[cu1]])
    both = concat(lowf, multi)
    part = np.concatenate([feff_part[low], multi_part])
    facts = {
        "calibration_shift_ev": round(shift, 3), "feff_parameters": feff_params,
        "feff_area_per_hole_ev": round(area, 3),
        "feff_cu1_shift_ev": round(cu1_shift, 3),
        # where FEFF10 (calibrated on the metal's 932.7 eV) puts what the literature puts at
        # 931.2 (CuO) and 933.7 eV (Cu2O); CuO is not used (Cu(II) is multiplet here)
        "feff_cuo_white_line_ev": peak(feff.mu[cuo]),
        "feff_cu2o_first_max_ev": peak(feff.mu[cu2o], 930.0, 936.0),
        "literature_cuo_ev": calibration.CUO_L3_PEAK_EV,
        "literature_cu2o_ev": calibration.CU2O_L3_PEAK_EV,
        "multiplet_white_line_ev_by_config": {
            c: [round(float(np.percentile([peak(m) for m in multi.mu[multi.material == c]],
                                          q)), 2) for q in (5, 50, 95)]
            for c in np.unique(multi.material)},
    }
    return both, part, feff, feff_part, facts


def fit(train: Spectra, copies: int, n_mix: int, n_trees: int, rng: np.random.Generator,
        seed: int = 0) -> dict[str, Any]:
    """``ledge``'s recipe on ``train``: its sites (``copies`` measurements and a clean one
    each) and ``n_mix`` mixtures -> the valence and fraction forests."""
    xv, src = simulate_many(train.mu, copies, rng, "train")
    xc, csrc = simulate_many(train.mu, 1, rng, "train clean", clean=True)
    xv, src = np.concatenate([xv, xc]), np.concatenate([src, csrc])
    yv = train.valence[src]
    mix_mu, mix_f = mixtures(train, n_mix, rng)
    xm, msrc = simulate_many(mix_mu, 1, rng, "train mixtures")
    fm = mix_f[msrc]
    fm4 = np.pad(fm, ((0, 0), (0, VALENCE_CLASSES - fm.shape[1])))
    valence_rf = fit_forest(np.concatenate([xv, xm]),
                            np.concatenate([class_weights(yv), fm4]), n_trees, seed)
    integer = np.isin(yv, (0.0, 1.0, 2.0))
    onehot = np.eye(3)[np.clip(yv[integer].astype(int), 0, 2)]
    fraction_rf = fit_forest(np.concatenate([xv[integer], xm]),
                             np.concatenate([onehot, fm]), n_trees, seed + 1)
    return {"valence": valence_rf, "fractions": fraction_rf}


def score(models: dict[str, Any], test: Spectra, rng: np.random.Generator,
          n_mix: int = 1000) -> dict[str, Any]:
    """Valence MAE/R² on 3 simulated measurements per test spectrum, by class, and the
    fraction MAE of test mixtures."""
    xt, tsrc = simulate_many(test.mu, 3, rng, "test")
    yt = test.valence[tsrc]
    pv = median_summary(per_tree_sklearn(models["valence"], xt), VALENCE_CLASSES)[0]
    out: dict[str, Any] = {
        "rows": len(yt), "mae": round(float(np.mean(np.abs(pv - yt))), 4),
        "r2": round(r2(yt, pv), 4),
        "by_class": {f"{v:g}": {"n": int(np.sum(yt == v)), "mae": round(float(
            np.mean(np.abs(pv - yt)[yt == v])), 3), "mean_read": round(float(
                np.mean(pv[yt == v])), 3)} for v in np.unique(yt)}}
    mix_mu, mix_f = mixtures(test, n_mix, rng)
    xm, msrc = simulate_many(mix_mu, 1, rng, "test mixtures")
    pf = np.clip(tree_summary(per_tree_sklearn(models["fractions"], xm), 3)[0], 0, None)
    pf /= np.clip(pf.sum(axis=1, keepdims=True), 1e-9, None)
    out["fraction_mae"] = round(float(np.mean(np.abs(pf - mix_f[msrc]))), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgestream_models.multiplets.evaluate",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--feff-cache", type=Path, default=None)
    ap.add_argument("--copies", type=int, default=4, help="simulated measurements per row")
    ap.add_argument("--draws", type=int, default=2, help="broadening draws per multiplet set")
    ap.add_argument("--mixtures", type=int, default=4000)
    ap.add_argument("--trees", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flat", action="store_true",
                    help="multiplet rows on a flat continuum (no FEFF10 post-edge structure)")
    ap.add_argument("--out", type=Path, default=None, help="write the report (JSON) here")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    both, part, feff, feff_part, facts = combined(args.feff_cache, args.draws, rng, args.flat)
    facts["continuum"] = "flat" if args.flat else "FEFF10 post-edge of the same valence and split"
    train, test = (both.take(np.nonzero(part == s)[0]) for s in ("train", "test"))
    report: dict[str, Any] = {"facts": facts, "spectra": {
        s: {f"{v:g}": int(c) for v, c in zip(*np.unique(x.valence, return_counts=True),
                                              strict=True)} for s, x in (("train", train),
                                                                         ("test", test))}}
    models = fit(train, args.copies, args.mixtures, args.trees, rng)
    report["combined"] = score(models, test, rng)
    # today's data (FEFF10, all valences) on the same held-out rows
    fonly = fit(feff.take(np.nonzero(feff_part == "train")[0]), args.copies, args.mixtures,
                args.trees, rng)
    report["feff10_only_on_the_same_test"] = score(fonly, test, rng)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
