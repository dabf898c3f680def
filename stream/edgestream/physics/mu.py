"""Absorption coefficient mu(E) from ion-chamber or detector intensities.

Intensities are any consistent unit (counts, amperes, volts): only ratios enter. Arrays of
any matching (or broadcastable) shape, e.g. ``[n_spectra, n_points]``, are handled at once.
"""

from __future__ import annotations

import numpy as np

from edgestream.errors import BadSpectrum

__all__ = ["mu_fluorescence", "mu_transmission"]


def _intensities(**arrays: np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=float) for a in arrays.values()]
    try:
        np.broadcast_shapes(*(a.shape for a in out))
    except ValueError as exc:
        shapes = {name: np.shape(a) for name, a in arrays.items()}
        raise BadSpectrum(f"intensity shapes do not match: {shapes}", **shapes) from exc
    for name, a in zip(arrays, out, strict=True):
        if not np.all(np.isfinite(a)):
            raise BadSpectrum(f"{name} has NaN/inf values", channel=name)
    return out


def _finite(mu: np.ndarray) -> np.ndarray:
    # finite, positive inputs can still over/underflow (e.g. i0/it beyond 1e308)
    if not np.all(np.isfinite(mu)):
        raise BadSpectrum("mu(E) has NaN/inf values", n_bad=int(np.count_nonzero(~np.isfinite(mu))))
    return mu


def mu_transmission(i0: np.ndarray, it: np.ndarray) -> np.ndarray:
    """mu(E) * thickness = ln(I0 / It), from incident and transmitted intensities.

    Raises BadSpectrum if any intensity is not strictly positive (no logarithm, usually a
    dead or saturated channel) or not finite.
    """
    i0, it = _intensities(i0=i0, it=it)
    for name, a in (("i0", i0), ("it", it)):
        if np.any(a <= 0):
            raise BadSpectrum(
                f"{name} has {int(np.count_nonzero(a <= 0))} non-positive values: "
                "ln(i0/it) is undefined",
                channel=name,
            )
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return _finite(np.log(i0 / it))


def mu_fluorescence(i0: np.ndarray, if_: np.ndarray) -> np.ndarray:
    """mu(E) (proportional to) I_f / I0, from incident and fluorescence intensities.

    No logarithm, so zero or negative fluorescence counts (background-subtracted detectors)
    are allowed. The incident flux i0 must be strictly positive: zero would give inf, and a
    negative value means an offset or dead chamber. Raises BadSpectrum otherwise, or if any
    value is not finite.
    """
    i0, if_ = _intensities(i0=i0, if_=if_)
    if np.any(i0 <= 0):
        raise BadSpectrum(
            f"i0 has {int(np.count_nonzero(i0 <= 0))} non-positive values: if/i0 is undefined",
            channel="i0",
        )
    with np.errstate(over="ignore", under="ignore"):
        return _finite(if_ / i0)
