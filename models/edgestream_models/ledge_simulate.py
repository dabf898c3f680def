"""The Cu L2,3 training's EELS measurements: mixtures of calibrated L2,3 spectra and their
simulated acquisition (energy-scale error, broadening, plural scattering, power-law background,
Poisson noise) through the stream's own normalization (``find_edge_onset``,
``normalize_eels``) and ``edgestream_plugins.cu_l.represent``.

Not the simulated microscope (``edgestream_sim.spectra.EelsSimulator``): that one makes whole
runs of a few compounds for the demo and the tests; this one draws the spread of conditions
a model must tolerate, in batches, for training.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgestream.errors import StreamError
from edgestream.physics import edge_energy, find_edge_onset, normalize_eels
from edgestream_models.ledge_data import FINE, FINE_STEP, REFERENCE_SITES, Spectra
from edgestream_plugins.cu_l import GRID, represent

# where a model's grid starts: (axis, step-normalized rows, the pipeline's onsets) -> eV
Anchor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def mixtures(spectra: Spectra, n: int, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """``n`` Cu(0)/Cu(I)/Cu(II) mixtures of ``spectra``: (mu ``[n, len(FINE)]``, fractions
    ``[n, 3]``). A third are binary (one fraction zero); end members drawn per mixture."""
    pools = [np.nonzero(np.isclose(spectra.valence, v))[0] for v in (0.0, 1.0, 2.0)]
    if any(len(p) == 0 for p in pools):
        raise SystemExit("mixtures need Cu(0), Cu(I) and Cu(II) spectra in every split")
    frac = rng.dirichlet(np.ones(3), size=n)
    binary = rng.random(n) < 1 / 3
    drop = rng.integers(0, 3, n)
    frac[binary, drop[binary]] = 0.0
    frac /= frac.sum(axis=1, keepdims=True)
    members = np.stack([rng.choice(p, n) for p in pools], axis=1)
    mu = np.einsum("nk,nkm->nm", frac, spectra.mu[members])
    return mu, frac


def reference_rows(spectra: Spectra) -> np.ndarray:
    """Indices of the Cu, Cu2O and CuO reference sites (``REFERENCE_SITES``) in ``spectra``,
    in that order (the end members of a partly oxidized Cu sample)."""
    rows = [next((i for i, k in enumerate(spectra.key) if str(k).startswith(prefix)), None)
            for prefix in REFERENCE_SITES.values()]
    if None in rows:
        raise SystemExit(f"reference sites missing from the L3 data: {REFERENCE_SITES}")
    return np.array(rows)


def _gaussian_rows(y: np.ndarray, sigma_ev: np.ndarray) -> np.ndarray:
    """Gaussian broadening of rows on a ``FINE_STEP`` grid by ``sigma_ev`` each (FFT, edges
    padded)."""
    pad = 400
    yp = np.pad(y, ((0, 0), (pad, pad)), mode="edge")
    freq = np.fft.rfftfreq(yp.shape[1], d=FINE_STEP)
    kernel = np.exp(-2.0 * (np.pi * freq[None, :] * sigma_ev[:, None]) ** 2)
    return np.fft.irfft(np.fft.rfft(yp, axis=1) * kernel, n=yp.shape[1], axis=1)[:, pad:-pad]


def simulate_eels(mu: np.ndarray, rng: np.random.Generator, clean: bool = False,
                  element: str = "Cu", fine: np.ndarray = FINE,
                  anchor: Anchor | None = None) -> tuple[
        np.ndarray, np.ndarray]:
    """EELS measurements of ``element``'s L2,3 spectra ``mu`` (on ``fine``, a ``FINE_STEP``
    grid; Cu's ``FINE`` by default) through the stream's own normalization: model inputs
    ``[n, 2 * len(GRID)]`` (about the pipeline's onset, or ``anchor(axis, norm, onset)``) and
    a mask of rows that normalized.

    Per batch, one loss axis (offset 33-73 eV below the L3 edge, 0.05/0.1/0.2 eV per channel,
    up to 52-77 eV above it); per row an energy-scale error of ±2 eV, Gaussian broadening
    σ 0.2-0.8 eV, a post-edge decay (E/E_L3)^-s with s 0-3, a plasmon replica 15-30 eV up at
    0-30 %, a power-law background (r 2.5-4, 10^3.5-10^5 counts at the offset), an L3 jump of
    0.15-0.8 of the background and Poisson noise. ``clean``: no scale error, σ 0.3 eV, no
    decay, no replica, 10^6 counts (for examples and the OOD reference).
    """
    n = len(mu)
    edge_ev = edge_energy(element, "L3")
    offset = edge_ev - 72.7 + rng.uniform(0.0, 40.0)  # Cu: 860-900 eV
    dispersion = float(rng.choice([0.05, 0.1, 0.2]))
    stop = edge_ev + 52.3 + rng.uniform(0.0, 25.0)  # Cu: 985-1010 eV
    loss = offset + dispersion * np.arange(int((stop - offset) / dispersion))
    shift = np.zeros(n) if clean else rng.uniform(-2.0, 2.0, n)
    sigma = np.full(n, 0.3) if clean else rng.uniform(0.2, 0.8, n)
    y = _gaussian_rows(mu, sigma)
    # a core-loss edge decays past its onset (~E^-s; the continuum of real spectra falls)
    decay = np.zeros(n) if clean else rng.uniform(0.0, 3.0, n)
    y = y * np.clip(fine / edge_ev, 1.0, None)[None, :] ** -decay[:, None]
    if not clean:
        plural = rng.uniform(0.0, 0.3, n)
        plasmon = rng.uniform(15.0, 30.0, n)
        y = y + plural[:, None] * np.stack([np.interp(fine - p, fine, row, left=row[0])
                                            for p, row in zip(plasmon, y, strict=True)])
    edge = np.stack([np.interp(loss - s, fine, row) for s, row in zip(shift, y, strict=True)])
    level = np.full(n, 1e6) if clean else 10 ** rng.uniform(3.5, 5.0, n)
    r = rng.uniform(2.5, 4.0, n)
    background = level[:, None] * (loss[None, :] / offset) ** -r[:, None]
    at_edge = level * (edge_ev / offset) ** -r
    jump = rng.uniform(0.15, 0.8, n)
    counts = background + (jump * at_edge)[:, None] * edge
    counts = rng.poisson(counts).astype(float)
    x = np.full((n, 2 * GRID.size), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    for lo in range(0, n, 64):
        part = slice(lo, min(n, lo + 64))
        try:
            onset = find_edge_onset(loss, counts[part], expected=edge_ev)
            norm = normalize_eels(loss, counts[part], onset)
        except StreamError:
            continue  # the stream would dead-letter these too
        at = onset if anchor is None else anchor(loss, norm.norm, onset)
        x[part], cov = represent(loss, norm.norm, at)
        ok[part] = cov >= 0.999
    return x, ok & np.isfinite(x).all(axis=1)


def simulate_xas(mu: np.ndarray, rng: np.random.Generator, clean: bool = False,
                 element: str = "Cu", fine: np.ndarray = FINE,
                 anchor: Anchor | None = None) -> tuple[
        np.ndarray, np.ndarray]:
    """Soft-XAS measurements (total electron or fluorescence yield) of ``element``'s L2,3
    spectra ``mu`` (on ``fine``) through the stream's own XAS normalization
    (``normalize_spectra``: pre-edge line, e0, post-edge step): model inputs
    ``[n, 2 * len(GRID)]`` and a mask of rows that normalized.

    Per batch, one photon-energy axis starting 4-40 eV below the L3 edge (the short pre-edge
    windows of many soft-XAS scans included), 0.05/0.1/0.2 eV per point, up to 35-80 eV
    above it; per row an energy-scale error of ±1 eV, a resolution of σ 0.05-0.35 eV (a soft
    X-ray monochromator: sharper than EELS), yield saturation or self-absorption
    ``y = μ / (1 + s μ)`` with s 0-1.2 per unit edge step (TEY saturation and FY
    self-absorption both damp the white lines this way; de Groot, Coord. Chem. Rev. 249, 31
    (2005); Nakajima et al., PRB 59, 6421 (1999)), a background of 0.2-5 edge steps with a
    slope, an I0 drift of ±3 % and Gaussian noise of 0.1-2 % of the step. ``clean``: no
    scale error, σ 0.15 eV, no saturation, noise 0.05 %.
    """
    from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
    from edgestream.normalize import annotation_grid, batch_of, normalize_spectra

    n = len(mu)
    edge_ev = edge_energy(element, "L3")
    start = edge_ev - rng.uniform(4.0, 40.0)
    step = float(rng.choice([0.05, 0.1, 0.2]))
    stop = edge_ev + rng.uniform(35.0, 80.0)
    energy = start + step * np.arange(int((stop - start) / step))
    shift = np.zeros(n) if clean else rng.uniform(-1.0, 1.0, n)
    sigma = np.full(n, 0.15) if clean else rng.uniform(0.05, 0.35, n)
    y = _gaussian_rows(mu, sigma)
    y = np.stack([np.interp(energy - s, fine, row) for s, row in zip(shift, y, strict=True)])
    sat = np.zeros(n) if clean else rng.uniform(0.0, 1.2, n) * (rng.random(n) < 0.7)
    y = y / (1.0 + sat[:, None] * np.clip(y, 0.0, None))
    rel = (energy - edge_ev)[None, :] / 100.0
    offset = rng.uniform(0.2, 5.0, n)[:, None]
    slope = rng.uniform(-0.5, 0.5, n)[:, None]
    drift = 1.0 + rng.uniform(-0.03, 0.03, n)[:, None] * rel
    noise = np.full(n, 5e-4) if clean else 10 ** rng.uniform(-3.0, np.log10(0.02), n)
    signal = (offset * (1.0 + slope * rel) + y) * drift
    signal = signal + noise[:, None] * rng.standard_normal(signal.shape)
    x = np.full((n, 2 * GRID.size), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    raws = [RawSpectrum(SpectrumIds("sim", "d", "primary", (i, i)), "xas_mu", energy, row,
                        element, "L3") for i, row in enumerate(signal)]
    results = normalize_spectra(raws, annotation_grid())
    good = [i for i, r in enumerate(results) if not isinstance(r, StreamError)]
    if good:
        batch = batch_of([raws[i] for i in good], [results[i] for i in good], annotation_grid())
        norm = np.stack(batch.measured)
        at = batch.e0 if anchor is None else anchor(energy, norm, batch.e0)
        x[good], cov = represent(energy, norm, at)
        ok[good] = cov >= 0.999
    return x, ok & np.isfinite(x).all(axis=1)


def simulate_many(mu: np.ndarray, copies: int, rng: np.random.Generator, desc: str,
                  clean: bool = False, element: str = "Cu",
                  fine: np.ndarray = FINE, xas: bool = False,
                  anchor: Anchor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` simulations of every row of ``mu`` in shuffled batches of 256 (EELS, or soft
    XAS with ``xas``): inputs and the source row of each (rows that failed to normalize
    dropped)."""
    from tqdm import tqdm

    src = np.tile(np.arange(len(mu)), copies)
    rng.shuffle(src)
    xs, keep = [], []
    for lo in tqdm(range(0, len(src), 256), desc=desc, leave=False):
        idx = src[lo:lo + 256]
        x, ok = (simulate_xas if xas else simulate_eels)(mu[idx], rng, clean, element, fine,
                                                              anchor)
        xs.append(x[ok])
        keep.append(idx[ok])
    return np.concatenate(xs), np.concatenate(keep)
