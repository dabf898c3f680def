"""The names beamlines give their energy axes and detector channels: the vocabulary that
``channels.py`` matches data keys, device names and scaler labels against.

Sources are named beside each table; a name added here is found everywhere at once.
"""

from __future__ import annotations

import itertools
import re

# Roles matched on the whole data key; the counters (i0, it, if, ir) go by name tokens below.
CHANNEL_PATTERNS: dict[str, re.Pattern[str]] = {
    "mu": re.compile(r"^(.*_)?(mu|mutrans|mufluor|absorbance|ffi0|mu_?trans|mu_?fluo)$", re.I),
    "mu_ref": re.compile(r"^(.*_)?(mu_?ref|murefer|mu_reference)$", re.I),
    "eels": re.compile(r"^(.*_)?(eels|eels_spectrum|eels_counts|spectrum_image)$", re.I),
    "energy_loss": re.compile(r"^(.*_)?(energy_loss|eloss|eels_energy|eels_axis)$", re.I),
}

# Name tokens (a data key split at separators and camelCase) that name each counter. Sources:
# NSLS-II BMM profile (startup/BMM/user_ns/detectors.py: signals renamed I0, It, Ir, Iy,
# Pips, Diode; devices Ic0/Ic1/Ic2, quadem1), NSLS-II ISS profile (startup/33-apb.py:
# apb_ave ch1..4 = i0, it, ir, iff amplifiers), Diamond B18 / SSRL / APS column names (I0, It,
# I1, I2, Iref, FF, IF), ESRF SPEC counters (mon, det), ophyd scalers (ic1, i0_current).
ROLE_TOKENS: dict[str, frozenset[str]] = {
    "i0": frozenset({"i0", "izero", "i00", "ic0", "io", "iz", "mon", "monitor", "ion0",
                     "chamber0"}),
    "it": frozenset({"it", "i1", "ic1", "itrans", "trans", "itr", "transmission", "ion1",
                     "chamber1"}),
    "if": frozenset({"if", "iff", "ifl", "ifluor", "fluor", "fluo", "fl", "ff", "pips", "sdd",
                     "vortex", "xspress", "xspress3", "lytle", "fy", "pfy", "tfy", "iy", "tey",
                     "diode", "ge", "canberra"}),
    "ir": frozenset({"ir", "i2", "ic2", "iref", "irefer", "ion2", "chamber2"}),
}
COUNTER_ROLES = ("i0", "it", "if", "ir")
# Every role a beamline's ``channels`` mapping may name (settings are checked against it)
CHANNEL_ROLES = ("energy", *COUNTER_ROLES, *CHANNEL_PATTERNS)
# ISS (NSLS-II 8-ID) analog pizza box: channel 1..4 amplifiers are i0, it, ir, iff
# (startup/33-apb.py of iss-profile-collection).
ISS_APB = re.compile(r"^apb(_ave)?_ch(?P<ch>[1-4])(_mean)?$", re.I)
ISS_APB_ROLES = {"1": "i0", "2": "it", "3": "ir", "4": "if"}
# Tokens of keys that are never a detector channel: settings, timing, diagnostics.
NOT_A_CHANNEL = frozenset({
    "gain", "offset", "preset", "setpoint", "sp", "range", "status", "amp", "voltage", "bias",
    "hv", "time", "timestamp", "dwell", "exposure", "period", "mode", "enable", "units",
    "dark", "temperature", "temp", "pressure", "icr", "ocr", "dt", "deadtime", "livetime",
    "realtime", "theta", "angle", "bragg", "seq", "num", "uid", "gap", "x", "y", "z",
})
# Multi-element fluorescence ROI sums: one key per detector element for the same ROI.
# ophyd/nslsii Xspress3 (xs_channel1_rois_roi01_value, xs_channels_channel01_mcaroi01_
# total_rbv), EPICS MCA ROIs (mca1_rois_roi0_net_count), XIA dxp/xmap (dxp1_roi2), vortex.
ROI_PATTERNS = (
    re.compile(r"^(?P<det>.*?)_?channels?_?(?:channel)?(?P<ch>\d+)_(?:rois_)?(?:mca)?roi_?"
               r"(?P<roi>\d+)(?:_.*)?$", re.I),
    re.compile(r"^(?P<det>dxp|xmap|mca|vortex|sdd|ge|fluo|xia|mcs)[a-z_]*?(?P<ch>\d+)_"
               r"(?:.*_)?(?:roi|r)_?(?P<roi>\d+)(?:_.*)?$", re.I),
)
# Units of readings that are not beam intensities (detectors count, or read A, V, Hz)
NOT_INTENSITY_UNITS = frozenset({"k", "degc", "c", "°c", "celsius", "kelvin", "ma", "torr",
                                 "mbar", "pa", "%", "s", "sec", "seconds", "deg", "degrees",
                                 "mm", "um", "µm", "mrad", "urad", "rad", "nm"})
SETPOINT_TOKENS = frozenset({"setpoint", "sp", "set", "target", "req", "request", "demand",
                             "cmd", "command", "val", "user_setpoint"})
UNDULATOR_TOKENS = frozenset({"und", "ivu", "id", "undulator", "gap", "harmonic", "epu"})
ENERGY_NAMES = frozenset({"energy", "en", "ene", "e", "mono", "monoe", "monoenergy",
                          "dcmenergy", "energy_rbv"})
ENERGY_EXCLUDE = frozenset({"loss", "low", "high", "bin", "width", "threshold", "beam",
                            "start", "stop", "step", "min", "max", "offset", "calib"})



def tokens(key: str) -> list[str]:
    """A data key's lower-case name tokens: split at separators and camelCase."""
    parts = re.split(r"[^A-Za-z0-9]+", key)
    out: list[str] = []
    for part in parts:
        part = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", part)
        out += [t.lower() for t in part.split("_") if t]
    # "i_0", "I_t", "ion_chamber_0": the joined neighbours are tokens too
    joined = [a + b for a, b in itertools.pairwise(out) if len(a) <= 3 or b.isdigit()]
    # "vortex1", "pips2": a device word with its number (short words keep theirs: ic1, i0)
    bare = [t.rstrip("0123456789") for t in out if len(t.rstrip("0123456789")) >= 4]
    return out + joined + [t for t in bare if t not in out]
