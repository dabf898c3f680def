"""The Cu L2,3 plugin's card figure and its manifest (through the plugin API's one writer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.manifest import OOD_OUTPUTS, Manifest, write_manifest
from edgestream_models.ledge_data import FINE, Spectra
from edgestream_plugins.cu_l import FRACTION_CLASSES, GRID

VALENCE_UNIT = "formal oxidation state"
# What CuLValence.predict returns per spectrum: types, units, ranges (checked in the tests)
OUTPUTS: dict[str, dict[str, Any]] = {
    "value": {"type": "float", "unit": VALENCE_UNIT, "range": [0.0, 3.0],
              "description": "formal valence of the absorbing Cu: continuous median of the "
                             "forest's mean Cu(0)..Cu(III) weights, clipped to the range"},
    # each tree's continuous median over four unit-wide classes lies in -0.5..3.5
    "uncertainty": {"type": "float", "unit": VALENCE_UNIT, "range": [0.0, 2.0],
                    "description": "spread (std) of the trees' own medians"},
    "fractions": {"type": "map", "items": "float", "keys": list(FRACTION_CLASSES),
                  "range": [0.0, 1.0],
                  "description": "fractions of Cu(0), Cu(I), Cu(II) (fraction forest, mean "
                                 "over trees, normalized to sum 1)"},
    "fraction_uncertainty": {"type": "map", "items": "float", "keys": list(FRACTION_CLASSES),
                             "range": [0.0, 0.5],
                             "description": "spread (std) of each fraction over trees"},
    "mixture_valence": {"type": "float", "unit": VALENCE_UNIT, "range": [0.0, 2.0],
                        "description": "valence of the fractions: Cu(I) + 2 Cu(II)"},
    **OOD_OUTPUTS,
}
OOD_DESCRIPTION = ("; also true when the trees' spread exceeds ood.max_spread or the spectrum "
                   "covers less than 80 % of the grid")


def l23_manifest_fields(element: str, card: dict[str, Any],
                        reference: str = "eV relative to the L3 onset (the pipeline's e0)",
                        ) -> dict[str, Any]:
    """What every L2,3 plugin's plugin.toml says alike (Cu's and the ``l_edge`` family's):
    element, edges, modalities, opt-in from the card, the input grid (its zero: ``reference``)
    and the OOD spread limit."""
    return {
        "elements": [element],
        # EELS metadata names the edge several ways; the onset is the L3 edge in each
        "edges": ["L3", "L2,3", "L23", "L2"],
        "modalities": ["eels", "xas_transmission", "xas_fluorescence", "xas_mu"],
        "opt_in": bool(card.get("opt_in", False)),
        "grid": {"start": float(GRID[0]), "stop": float(GRID[-1]),
                 "step": float(GRID[1] - GRID[0]), "unit": "eV", "reference": reference,
                 "input": "step-normalized signal on the grid, then its cumulative sum x "
                          "step / span"},
        "ood": {"max_spread": float(card["ood"]["max_spread"])},
    }


def write_cu_l_manifest(folder: Path, files: dict[str, str], card: dict[str, Any]) -> Manifest:
    """``folder/plugin.toml`` of the Cu L2,3 plugin from its ``card`` (name, version, opt_in,
    OOD spread limit) and ``files`` (key → file name in ``folder``)."""
    outputs = dict(OUTPUTS)
    outputs["ood"] = outputs["ood"] | {
        "description": outputs["ood"]["description"] + OOD_DESCRIPTION}
    data = {
        "name": card["name"], "version": card["version"],
        "description": "Cu valence and Cu(0)/Cu(I)/Cu(II) fractions from Cu L2,3 EELS or soft "
                       "XAS: random forests, spread over trees",
        **l23_manifest_fields("Cu", card),
        "outputs": outputs,
    }
    return write_manifest(folder, data, files, writer="`python -m edgestream_models.ledge`")


def plot_card(path: Path, card: dict[str, Any], yt: np.ndarray, pv: np.ndarray,
              sv: np.ndarray, test_mix: tuple[np.ndarray, np.ndarray],
              reference_mix: tuple[np.ndarray, np.ndarray], spectra: Spectra) -> None:
    """Parity of the test sites, true vs predicted fractions of both kinds of mixtures, and
    training spectra by valence; ``*_mix`` are (true, predicted) fractions ``[n, 3]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(21, 5))
    jitter = np.random.default_rng(0).normal(0, 0.04, len(yt))
    ax[0].errorbar(yt + jitter, pv, yerr=sv, fmt=".", alpha=0.3, ms=3)
    ax[0].plot([0, 3], [0, 3], "k--", lw=1)
    ax[0].set(xlabel="formal valence (label)", ylabel="predicted valence",
              title=f"test sites: MAE {card['test_mae']:.3f}, R² {card['test_r2']:.2f}")
    titles = (f"mixtures of test sites: fraction MAE {card['test_fraction_mae']:.3f}",
              "held-out mixtures of Cu, Cu2O, CuO: fraction MAE "
              f"{card['test_reference_fraction_mae']:.3f}")
    for a, (truth, pred), title in zip(ax[1:3], (test_mix, reference_mix), titles, strict=True):
        for k, c in enumerate(FRACTION_CLASSES):
            a.plot(truth[:, k], pred[:, k], ".", alpha=0.3, ms=3, label=c)
        a.plot([0, 1], [0, 1], "k--", lw=1)
        a.set(xlabel="true fraction", ylabel="predicted fraction", title=title)
        a.legend()
    for v, color in ((0.0, "C0"), (1.0, "C1"), (2.0, "C2"), (3.0, "C3")):
        rows = np.nonzero(np.isclose(spectra.valence, v))[0][:25]
        for j, r in enumerate(rows):
            ax[3].plot(FINE, spectra.mu[r], color=color, alpha=0.3, lw=0.8,
                       label=f"Cu valence {v:g}" if j == 0 else None)
    ax[3].set(xlim=(925, 975), xlabel="energy (eV, calibrated)", ylabel="L2,3 (FEFF10)",
              title="training spectra by valence")
    ax[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
