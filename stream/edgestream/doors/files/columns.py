"""Which columns of a spectrum file are I0, It, If, Iref or μ: by name, else from the data.

Beamlines name their channels in their own ways (``I0``, ``Io``, ``I0_EH1``, ``PreKB-I0``,
``i0_32``; ``It``, ``I1``, ``IT``; ``Iref``, ``IR_EH2``, ``I2``; fluorescence as one ``If``
column, a Lytle detector, or one region of interest per detector element, raw or dead-time
corrected: ``Mn_Ka_mca1..4`` with ``DTFactor_mca1..4``, ``D1_AlKa_corr``, ``DTC1..4``,
``SCA1.1..32``, ``XMAP4:AsKa_Sum``). ``resolve`` finds the candidates by name, forms each
μ(E) they allow (ln(I0/It), ΣIf/I0, a stored μ) and keeps the one with the clearest edge at
a tabulated edge inside the scanned range. When the names say nothing (``Detector1``...,
``col2``...), every pair of counters is tried the same way and the choice is reported as
``inferred``. Columns pulled from the same wire as another (identical values) are tried once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from edgestream.doors.files.roi import counter, edges_in, fluorescence, roi_line
from edgestream.errors import MissingChannel, StreamError
from edgestream.physics.edges import identify_edge

__all__ = ["MIN_EDGE_SCORE", "MIN_SHARPNESS", "Resolution", "edge_score", "resolve"]

MIN_EDGE_SCORE = 8.0  # edge step over point noise below which a μ is not taken to show an edge
NEAR_EV = 40.0  # eV: how far a measured e0 may sit from the edge a scan was set up for
CHAIN_FRACTION = 0.05  # an I0 -> It -> Iref link must show this share of the best edge score
MIN_SHARPNESS = 5.0  # the edge's slope over the median slope: absorption edges are sharp
_I0 = re.compile(r"^(i0|io|izero|mon|monitor|imon)(_.*)?$|^.*_i0$")
_IT = re.compile(r"^(it|i1|itrans|itr|trans)(_.*)?$")
_IREF = re.compile(r"^(iref|ir|i2|irefer|ref)(_.*)?$")
_MU = re.compile(r"^(mu|xmu|mutrans|mu_trans|mufluor|mu_fluor|absorption|mu_e)$")
_MU_REF = re.compile(r"^(mu_ref|muref|murefer|mu_reference)$")
_NOT_I0 = ("dt", "corr", "norm", "off")  # XMAP4:DT Corr I0, i0norm, i0off: derived, not I0
_NOT_COUNTER = re.compile(r"time|clock|gain|current|epoch|angle|theta|enc|energy|nrg|gap|^k$"
                          r"|kname|event|^h$|^l$|^sec$|temp|delay|dwell|_sp$|requested|preset"
                          r"|^dt$|deadtime|dead_time|dtfactor|icr|ocr|ertm|eltm")


@dataclass(frozen=True)
class Resolution:
    """The channels chosen: ``signals`` keyed as the files door sends them (``I0``, ``It``,
    ``If``, ``mu``, ``Ir``, ``mu_ref``), ``used`` the file's column names for each,
    ``source`` ``"named"`` or ``"inferred"``, ``notes`` what was done to them."""

    signals: dict[str, np.ndarray]
    used: dict[str, str]
    source: str
    score: float
    notes: list[str] = field(default_factory=list)

    def line_edge(self, energy: np.ndarray) -> tuple[str, str] | None:
        """The element and edge a fluorescence ROI's name says (``Mn_Ka``: Mn K; ``PbLa``:
        Pb L3), when its edge lies in the scanned range; else None."""
        symbols = edges_in(energy)
        for name in self.used.get("if", "").split("+"):
            found = roi_line(name, symbols)
            if found:
                symbol, line = found
                return symbol.capitalize(), {"k": "K", "l": "L3", "m": "M5"}[line]
        return None


def _smooth(y: np.ndarray, half: int) -> np.ndarray:
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    return np.convolve(padded, kernel, mode="valid")


def edge_score(energy: np.ndarray, mu: np.ndarray, near: float | None = None) -> float:
    """How clearly ``mu`` shows an absorption edge: the step across the steepest rise over
    the noise of one point, 0 when the rise is not within 30 eV of a tabulated edge (or,
    given ``near``, the edge the scan was set up for, not within ``NEAR_EV`` of it) or
    either side holds under 3 points. Scale-free: the same for ln(I0/It) and If/I0."""
    order = np.argsort(energy, kind="stable")
    e, m = np.asarray(energy, float)[order], np.asarray(mu, float)[order]
    if e.size < 20 or not np.all(np.isfinite(m)) or np.ptp(e) <= 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.gradient(_smooth(m, max(1, e.size // 150)), e)
    slope[:3] = slope[-3:] = -np.inf
    slope[~np.isfinite(slope)] = -np.inf
    steepest = int(np.argmax(slope))
    e0 = float(e[steepest])
    # an edge is a sharp rise: a drifting reading (a temperature, a slowly filling
    # chamber) rises as steeply nowhere in particular
    finite = slope[np.isfinite(slope)]
    typical = np.median(np.abs(finite))
    if not slope[steepest] > MIN_SHARPNESS * typical:
        return 0.0
    # and μ rises there at least half as steeply as it falls anywhere (a glitch may fall
    # steeper): a ratio that drops at an edge (I0/It read as fluorescence) is that edge
    # upside down
    if slope[steepest] < 0.5 * np.abs(finite.min()):
        return 0.0
    if near is not None and abs(e0 - near) > NEAR_EV:
        return 0.0
    try:
        identify_edge(e0, tolerance=30.0)
    except StreamError:
        return 0.0
    below = (e < e0 - 5.0) & (e > e0 - 60.0)
    above = (e > e0 + 10.0) & (e < e0 + 60.0)
    if np.count_nonzero(below) < 3 or np.count_nonzero(above) < 3:
        return 0.0
    # the jump across the edge, read two ways: medians either side (a pre-edge that rises
    # steeply, as a fluorescence background can, spoils a carried-on line), and above the
    # pre-edge line carried on (a steeply falling transmission background hides a weak edge
    # from the medians); either showing it is enough
    near = (e < e0 - 3.0) & (e > e0 - 40.0)
    line = np.polyfit(e[near] - e0, m[near], 1) if np.count_nonzero(near) >= 3 else None
    step = float(np.median(m[above]) - np.median(m[below]))
    if line is not None:
        close = (e > e0 + 5.0) & (e < e0 + 30.0)
        if np.count_nonzero(close) >= 3:
            step = max(step, float(np.median(m[close] - np.polyval(line, e[close] - e0))))
    d2 = np.diff(m, 2)
    noise = 1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0)
    # a noiseless curve (a computed column, an encoder) is not a measured edge
    return step / max(noise, 1e-4 * abs(step), 1e-300)


def _mu(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.log(a / b) if kind == "transmission" else b / a
    return mu if np.all(np.isfinite(mu)) else None


def _named(columns: dict[str, np.ndarray], energy: np.ndarray
           ) -> list[tuple[str, dict[str, np.ndarray], dict[str, str], list[str]]]:
    """Candidate μ(E) from names: (modality, signals, columns used, notes)."""
    def first(pattern: re.Pattern[str], exclude: tuple[str, ...] = (),
              intensity: bool = True) -> str | None:
        return next((n for n in columns if pattern.match(n)
                     and not any(x in n for x in exclude)
                     and (not intensity or counter(columns[n]) is not None)), None)

    out = []
    i0, it = first(_I0, _NOT_I0), first(_IT, _NOT_I0)
    if i0 and it:
        out.append(("transmission", {"I0": counter(columns[i0]), "It": counter(columns[it])},
                    {"i0": i0, "it": it}, []))
    fluor = fluorescence(columns, energy)
    if i0 and fluor:
        signal, used, notes = fluor
        out.append(("fluorescence", {"I0": counter(columns[i0]), "If": signal},
                    {"i0": i0, "if": used}, notes))
    mu = first(_MU, intensity=False)  # a μ may be negative (a background-subtracted one)
    if mu is None and len(columns) == 1:  # energy and one column: that column is μ
        mu = next(iter(columns))
    if mu:
        out.append(("mu", {"mu": columns[mu]}, {"mu": mu}, []))
    return out


def _mu_of(kind: str, signals: dict[str, np.ndarray]) -> np.ndarray | None:
    if kind == "transmission":
        return _mu(kind, signals["I0"], signals["It"])
    if kind == "fluorescence":
        return _mu(kind, signals["I0"], signals["If"])
    return np.asarray(signals["mu"], float)


def _reference(columns: dict[str, np.ndarray], used: dict[str, str]) -> dict[str, np.ndarray]:
    ref = next((n for n in columns if _MU_REF.match(n)), None)
    if ref:
        used["mu_ref"] = ref
        return {"mu_ref": columns[ref]}
    iref = next((n for n in columns if _IREF.match(n) and n not in used.values()
                 and counter(columns[n]) is not None), None)
    if iref and "it" in used:
        used["ir"] = iref
        return {"Ir": counter(columns[iref])}
    return {}


def _distinct(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counters only, each set of identical columns once (the first name kept)."""
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        intensity = counter(values)
        if (intensity is None or _NOT_COUNTER.search(name) or _MU.match(name)
                or _MU_REF.match(name)):
            continue
        step = np.diff(intensity)
        if np.all(step >= 0) or np.all(step <= 0):  # an axis or a clock, not a count
            continue
        if any(np.array_equal(intensity, v) for v in out.values()):
            continue
        out[name] = intensity
    return {n: v for n, v in out.items() if not _derived(v, out)}


def _derived(values: np.ndarray, others: dict[str, np.ndarray]) -> bool:
    """A column computed from two others (a μ = ln(x/y) or a ratio x/y), not a counter."""
    with np.errstate(divide="ignore", invalid="ignore"):
        for x, y in permutations(others.values(), 2):
            if x is values or y is values:
                continue
            ratio = x / y
            if np.allclose(values, ratio, rtol=1e-6) or np.allclose(values, np.log(ratio),
                                                                    rtol=1e-6):
                return True
    return False


def _relative_step(energy: np.ndarray, values: np.ndarray) -> float:
    """How much a counter changes across its own steepest change, relative to its level:
    an ion chamber before the sample (I0) drifts by a fraction of a percent, a detector
    behind or beside the sample (It, If) changes by tens of percent at the edge."""
    order = np.argsort(energy, kind="stable")
    e, v = energy[order], values[order]
    if e.size < 20:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.abs(np.gradient(_smooth(v, max(1, e.size // 150)), e))
    slope[:3] = slope[-3:] = 0.0
    e0 = e[int(np.argmax(np.nan_to_num(slope)))]
    below, above = v[(e < e0 - 5) & (e > e0 - 60)], v[(e > e0 + 10) & (e < e0 + 60)]
    if below.size < 3 or above.size < 3:
        return 0.0
    return float(abs(np.median(above) - np.median(below)) / max(np.median(np.abs(v)), 1e-300))


def _infer(columns: dict[str, np.ndarray], energy: np.ndarray,
           monitor: str | None = None, near: float | None = None) -> Resolution | None:
    """The pair of counters whose ln ratio (transmission) or ratio (fluorescence) shows the
    clearest edge; with a named ``monitor`` (I0), only pairs with it as I0. In an
    I0 -> It -> Iref chain both ln(I0/It) and ln(It/Iref) show the
    element's edge (the foil's often the sharper): the pair upstream is the sample's."""
    counters = _distinct(columns)
    if len(counters) > 24:  # 552 pairs at most: a few ms each
        return None
    # I0 has no edge of its own; It drops at the edge, If rises: the counter that carries
    # the edge is the signal, the smoother one the monitor
    own = {n: _relative_step(energy, v) for n, v in counters.items()}
    good: dict[tuple[str, str], tuple[float, str]] = {}
    for a, b in permutations(counters, 2):
        if own[a] >= own[b] or (monitor in counters and a != monitor):
            continue
        for kind in ("transmission", "fluorescence"):
            mu = _mu(kind, counters[a], counters[b])
            score = edge_score(energy, mu, near) if mu is not None else 0.0
            if score >= MIN_EDGE_SCORE:
                good[(a, b)] = max(good.get((a, b), (0.0, kind)), (score, kind))
    if not good:
        return None
    (a, b), (score, kind) = max(good.items(), key=lambda item: item[1][0])
    used: dict[str, str] = {}
    if kind == "transmission":
        # an I0 -> It -> Iref chain: ln(I0/Iref) and ln(It/Iref) show the foil's edge too
        # (often the sharper); the sample is the first link
        def link(x: str, y: str) -> bool:
            # a link of the chain shows the same edge, not a wiggle of a few percent of it
            found = good.get((x, y), (0.0, ""))
            return found[1] == "transmission" and found[0] >= CHAIN_FRACTION * score

        middle = next((c for c in counters if link(a, c) and link(c, b)), None)
        upstream = next((c for c in counters if link(c, a)), None)
        if middle is not None:
            a, b, used["ir"] = a, middle, b
        elif upstream is not None:
            a, b, used["ir"] = upstream, a, b
        score = good[(a, b)][0]
        used |= {"i0": a, "it": b}
        signals = {"I0": counters[a], "It": counters[b]}
        if "ir" in used:
            signals["Ir"] = counters[used["ir"]]
    else:
        used |= {"i0": a, "if": b}
        signals = {"I0": counters[a], "If": counters[b]}
    return Resolution(signals, used, "inferred", score)


def resolve(columns: dict[str, np.ndarray], energy: np.ndarray, path: str = "",
            near: float | None = None) -> Resolution:
    """The channels of a file's spectrum (``columns`` without the energy column).

    Named candidates first; among several, the one whose μ has the clearest edge (a
    transmission chamber behind an opaque sample, a fluorescence detector left off, a dead
    channel all lose to the channel that saw the edge). Without named candidates, inferred.
    ``near``: eV, the edge the scan was set up for (its header's E0): edges elsewhere (a
    gain switch, a glitch) do not count. Raises MissingChannel, listing the columns, when
    neither finds a spectrum.
    """
    candidates = _named(columns, energy)
    scored = []
    for rank, (kind, signals, used, notes) in enumerate(candidates):
        mu = _mu_of(kind, signals)
        score = edge_score(energy, mu, near) if mu is not None else -np.inf
        scored.append((score, -rank, signals, dict(used), notes))
    best = max(scored, key=lambda c: c[:2]) if scored else None
    if best is not None:
        # measured channels before a stored μ, transmission before fluorescence, unless
        # a later one shows the edge clearly better
        best = next(c for c in sorted(scored, key=lambda c: -c[1]) if c[0] >= 0.9 * best[0])
    if best is None or best[0] < MIN_EDGE_SCORE:
        monitor = next((n for n in columns if _I0.match(n) and not any(x in n for x in _NOT_I0)
                        and counter(columns[n]) is not None), None)
        inferred = _infer(columns, energy, monitor, near)
        if inferred is not None and (best is None or inferred.score > best[0]):
            return inferred
    if best is not None:
        # no candidate shows an edge: the first named one (transmission before
        # fluorescence before a stored μ) goes on and is judged by the normalization
        score, _, signals, used, notes = max(scored, key=lambda c: c[1]) if best[0] <= 0 else best
        return Resolution(signals | _reference(columns, used), used, "named", float(score), notes)
    raise MissingChannel(
        f"{path}: no I0/It, I0/If or μ column among {sorted(columns)}, and no pair of them "
        "shows an absorption edge: label the columns I0, It (or If) in the file's header",
        path=path, columns=sorted(columns))

