"""Channel discovery is not tuned to names: random axis and channel names, units, directions,
repeated points, extra counters and dead channels; the spectrum found must be the right one."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from scan_streams import ScanSpec, run_documents

from edgestream.config.settings import Settings
from edgestream.documents.channels import (
    ENERGY_EXCLUDE,
    NOT_A_CHANNEL,
    ROLE_TOKENS,
    SETPOINT_TOKENS,
    UNDULATOR_TOKENS,
    discover,
    tokens,
)
from edgestream.documents.infer import energy_scale_from_values
from edgestream.physics import edge_energy
from edgestream.pipeline import Pipeline

EDGES = [("Cu", "K"), ("Fe", "K"), ("Zn", "K"), ("Mn", "K"), ("Pt", "L3"), ("Ti", "K"),
         ("Se", "K")]
# Draws as the profile says (tests/conftest.py: derandomized in CI, HYPOTHESIS_PROFILE=explore
# searches afresh); no shrinking: a failing draw is printed as it is, and shrinking takes
# minutes when each step runs a whole pipeline
FAST = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow],
        "phases": (Phase.explicit, Phase.reuse, Phase.generate)}
# Words the discovery gives a meaning to (roles, energy, settings, positions) are not random
KNOWN = set().union(*ROLE_TOKENS.values(), NOT_A_CHANNEL, SETPOINT_TOKENS, ENERGY_EXCLUDE,
                    UNDULATOR_TOKENS) | {"energy", "en", "ene", "e", "mono", "mu", "eels",
                                         "roi", "ch"}
# A random identifier: no token of it may be a name the patterns know (then it is not random)
NAME = st.from_regex(r"[a-z]{2,6}(_?[a-z0-9]{1,5}){0,2}", fullmatch=True).filter(
    lambda n: not (set(tokens(n)) & KNOWN) and not re.search(r"\d+_?roi|channel", n))


def run(docs, settings_=None):
    pipeline = Pipeline(settings_ or Settings())
    annotations, failures, skips = [], [], []
    for name, doc in docs:
        out = pipeline(name, doc)
        annotations += out.annotations
        failures += out.failures
        skips += out.skips
    return annotations, failures, skips


@st.composite
def scans(draw, fly: bool = False):
    names = draw(st.lists(NAME, min_size=9, max_size=9, unique=True))
    element, edge = draw(st.sampled_from(EDGES))
    mode = draw(st.sampled_from(["transmission", "fluorescence", "both", "reference"]))
    units = draw(st.sampled_from(["eV", "keV", None, "EV", " kev "]))
    n_extra = draw(st.integers(0, 3))
    extras = dict(zip(names[5:5 + n_extra], draw(st.lists(
        st.sampled_from(["ring", "scatter", "temperature"]), min_size=n_extra,
        max_size=n_extra)), strict=True))
    dead = {names[8]: draw(st.sampled_from(["zeros", "constant"]))} if draw(
        st.booleans()) else {}
    return ScanSpec(
        element=element, edge=edge, axis=names[0],
        units=units,
        kev_values=units is None and draw(st.booleans()),
        descending=draw(st.booleans()), repeats=0 if fly else draw(st.integers(0, 5)),
        i0=names[1], it=names[2] if mode != "fluorescence" else None,
        iff=names[3] if mode in ("fluorescence", "both") else None,
        ir=names[4] if mode == "reference" else None,
        extras=extras, dead=dead, fly=fly, seed=draw(st.integers(0, 2**31)),
        edge_shift_ev=draw(st.floats(-3.0, 3.0)),
    )


def check_found(spec: ScanSpec):
    docs = run_documents(spec)
    annotations, failures, skips = run(docs)
    assert not failures, [f.error.as_dict() for f in failures]
    assert not skips
    (a,) = annotations
    assert a["channels_source"] == "inferred"
    keys = a["channels"]
    assert keys["energy"] == spec.axis and keys["i0"] == spec.i0
    if spec.it and spec.iff:  # either geometry is the right spectrum
        assert keys.get("it") == spec.it or keys.get("if") == spec.iff, keys
    elif spec.it:
        assert keys["it"] == spec.it and a["modality"] == "xas_transmission"
    else:
        assert keys["if"] == spec.iff and a["modality"] == "xas_fluorescence"
    if spec.ir:
        assert keys.get("ir") == spec.ir, keys
    true_e0 = edge_energy(spec.element, spec.edge) + spec.edge_shift_ev
    if spec.ir:  # the foil (at the tabulated edge) calibrates the scan: shift ≈ 0
        assert a["energy_calibration"]["source"] == "reference"
    # the FEFF9 Cu spectra (oxides) put e0 up to ~15 eV above the metal's edge
    assert abs(a["e0"] - true_e0) < (20.0 if spec.element == "Cu" else 6.0), (a["e0"], true_e0)



@settings(max_examples=60, **FAST)
@given(scans())
def test_step_scans_with_random_names_find_the_right_spectrum(spec):
    check_found(spec)


@settings(max_examples=30, **FAST)
@given(scans(fly=True))
def test_fly_scans_with_random_names_find_the_right_spectrum(spec):
    check_found(spec)


@settings(max_examples=30, **FAST)
@given(scans(), st.sampled_from(["count", "tune"]))
def test_runs_without_an_energy_axis_are_counted_skips(spec, kind):
    """A motor tune or a count over the same random counters: a skip, never a dead letter."""
    spec.hint_axis = kind == "tune"
    spec.units = None if kind == "tune" else spec.units
    docs = run_documents(spec)
    for name, doc in docs:
        if name == "event":
            pos = doc["data"][spec.axis]
            # a motor stepping in mm around zero, or (count) a fixed energy
            doc["data"][spec.axis] = (pos * 0 + doc["seq_num"] * 0.05 - 1.0) \
                if kind == "tune" else 8000.0
    if kind == "count":
        docs[1][1]["data_keys"][spec.axis].pop("units", None)
    annotations, failures, skips = run(docs)
    assert annotations == [] and failures == []
    assert [s.reason for s in skips] == ["not_spectroscopy"]


@settings(max_examples=25, **FAST)
@given(scans())
def test_an_energy_scan_without_usable_counters_is_a_missing_channel(spec):
    """Every counter dead or flat: the energy scan is a dead letter naming the candidates
    and giving a settings snippet, not a skip."""
    docs = run_documents(spec)
    for name, doc in docs:
        if name == "event":
            for key in doc["data"]:
                if key != spec.axis:
                    doc["data"][key] = 100.0
    spec_units = docs[1][1]["data_keys"][spec.axis].get("units")
    assume(spec_units or energy_scale_from_values(
        np.array([d["data"][spec.axis] for n, d in docs if n == "event"])))
    annotations, failures, skips = run(docs)
    assert annotations == [] and skips == []
    (f,) = failures
    assert f.error.reason == "missing_channel"
    assert spec.i0 in f.error.context["candidates"]
    snippet = f.error.context["settings_snippet"]
    assert snippet.startswith("channels:\n  xx: {energy: " + spec.axis)


# --- names used at real beamlines (each from the source cited in channels.py) ------------

def _descriptor(keys: dict[str, dict], config: dict | None = None, hints: dict | None = None,
                object_keys: dict | None = None) -> dict:
    return {"uid": "d", "run_start": "r", "name": "primary", "data_keys": keys,
            "configuration": config or {}, "hints": hints or {},
            "object_keys": object_keys or {}}


NUM = {"source": "PV:x", "dtype": "number", "shape": []}


@pytest.mark.parametrize(("keys", "axis", "expect"), [
    # NSLS-II BMM: dcm_energy readback + setpoint, I0/It/Ir/If, Xspress3 ROIs
    (["dcm_energy", "dcm_energy_setpoint", "I0", "It", "Ir", "If"], "dcm_energy",
     {"energy": "dcm_energy", "i0": "I0", "it": "It", "ir": "Ir", "if": "If"}),
    # NSLS-II ISS: hhm_energy, the analog pizza box channels 1..4
    (["hhm_energy", "apb_ave_ch1_mean", "apb_ave_ch2_mean", "apb_ave_ch3_mean",
      "apb_ave_ch4_mean", "apb_ave_ch5_mean"], "hhm_energy",
     {"energy": "hhm_energy", "i0": "apb_ave_ch1_mean", "it": "apb_ave_ch2_mean",
      "ir": "apb_ave_ch3_mean", "if": "apb_ave_ch4_mean"}),
    # device-prefixed or suffixed names
    (["mono_energy", "quadem1_I0", "quadem1_It", "quadem1_Iref"], "mono_energy",
     {"energy": "mono_energy", "i0": "quadem1_I0", "it": "quadem1_It", "ir": "quadem1_Iref"}),
    (["energy", "i0_current", "ic1", "ic2"], "energy",
     {"energy": "energy", "i0": "i0_current", "it": "ic1", "ir": "ic2"}),
    (["energy", "Ic0", "Ic1"], "energy", {"i0": "Ic0", "it": "Ic1"}),
    # Diamond B18 / SSRL style
    (["qexafs_energy", "I0", "It", "Iref", "FF"], "qexafs_energy",
     {"i0": "I0", "it": "It", "ir": "Iref"}),
    (["energy", "I0", "I1", "I2"], "energy", {"i0": "I0", "it": "I1", "ir": "I2"}),
    (["energy", "ion_chamber_i0", "ion_chamber_it"], "energy",
     {"i0": "ion_chamber_i0", "it": "ion_chamber_it"}),
    (["energy", "I0", "pips"], "energy", {"i0": "I0", "if": "pips"}),
    (["energy", "I0", "vortex_roi1"], "energy", {"i0": "I0", "if": "vortex_roi1"}),
    (["energy", "I0", "vortex1"], "energy", {"i0": "I0", "if": "vortex1"}),
    (["energy", "ion_chamber_0", "ion_chamber_1", "ion_chamber_2"], "energy",
     {"i0": "ion_chamber_0", "it": "ion_chamber_1", "ir": "ion_chamber_2"}),
])
def test_real_beamline_names(keys, axis, expect):
    data_keys = {k: dict(NUM) for k in keys}
    data_keys[axis]["units"] = "eV"
    start = {"uid": "r", "hints": {"dimensions": [[[axis], "primary"]]}}
    found = discover(start, _descriptor(data_keys))
    assert found.channels is not None and found.channels.source == "names"
    for role, key in expect.items():
        assert found.channels.keys[role] == key, (role, found.channels.keys)


def test_fluorescence_roi_of_every_element_is_summed():
    keys = ["dcm_energy", "I0"] + [f"xs_channel{c}_rois_roi{r:02d}_value"
                                  for c in (1, 2, 3, 4) for r in (1, 2)]
    data_keys = {k: dict(NUM) for k in keys} | {"dcm_energy": dict(NUM, units="keV")}
    found = discover({"uid": "r"}, _descriptor(data_keys))
    ch = found.channels
    assert ch is not None and ch.energy_scale == 1000.0
    assert ch.sums["if"] == tuple(f"xs_channel{c}_rois_roi01_value" for c in (1, 2, 3, 4))
    assert ch.describe()["keys"]["if"] == list(ch.sums["if"])


@pytest.mark.parametrize("pattern", [
    "xs3_channel{c:02d}_mcaroi01_total_rbv",  # nslsii Xspress3 (SST/ISS exports)
    "xs_channel{c}_rois_roi01_value_sum",  # older nslsii Xspress3, summed over the dwell
    "mca{c}_rois_roi0_net_count",  # EPICS MCA ROIs read through ophyd
    "dxp{c}_roi2",  # XIA dxp
])
def test_multi_element_roi_names_are_summed(pattern):
    keys = ["energy", "I0"] + [pattern.format(c=c) for c in (1, 2, 3)]
    data_keys = {k: dict(NUM) for k in keys} | {"energy": dict(NUM, units="eV")}
    found = discover({"uid": "r"}, _descriptor(data_keys))
    assert found.channels.sums["if"] == tuple(pattern.format(c=c) for c in (1, 2, 3))


def test_scaler_labels_and_device_names_give_roles():
    data_keys = {"energy": dict(NUM, units="eV"), "scaler1_channels_chan2": dict(NUM),
                 "scaler1_channels_chan3": dict(NUM), "scaler1_time": dict(NUM)}
    config = {"scaler1": {"data": {"scaler1_channels_chan2_chname": "I0",
                                   "scaler1_channels_chan3_chname": "It"}}}
    found = discover({"uid": "r"}, _descriptor(data_keys, config=config))
    assert found.channels.keys == {"energy": "energy", "i0": "scaler1_channels_chan2",
                                   "it": "scaler1_channels_chan3"}
    data_keys = {"energy": dict(NUM, units="eV"), "em_current1_mean_value": dict(NUM),
                 "em2_current1_mean_value": dict(NUM)}
    hints = {"I0": {"fields": ["em_current1_mean_value"]},
             "It": {"fields": ["em2_current1_mean_value"]}}
    found = discover({"uid": "r"}, _descriptor(data_keys, hints=hints))
    assert found.channels.source == "hints"
    assert found.channels.keys["i0"] == "em_current1_mean_value"


def test_configured_mapping_wins_over_names():
    data_keys = {k: dict(NUM) for k in ("energy", "I0", "It", "other0", "other1")}
    data_keys["energy"]["units"] = "eV"
    found = discover({"uid": "r"}, _descriptor(data_keys), {"i0": "other0", "it": "other1"})
    assert found.channels.source == "configured"
    assert (found.channels.keys["i0"], found.channels.keys["it"]) == ("other0", "other1")


def test_a_configured_mapping_wins_over_inference():
    spec = ScanSpec(axis="mtr", i0="aa", it="bb", units="eV", seed=3)
    docs = run_documents(spec)
    (a,), _, _ = run(docs, Settings(channels={"xx": {"i0": "aa", "it": "bb"}}))
    assert a["channels_source"] == "configured"


@pytest.mark.parametrize("units", ["eV", "keV", "ev", " KeV", "electron_volt", None])
def test_energy_units_any_case_and_spacing(units):
    spec = ScanSpec(axis="dcm_energy", units=units, kev_values=False, seed=5)
    (a,), failures, _ = run(run_documents(spec))
    assert not failures and abs(a["e0"] - 8979) < 20  # FEFF9 oxides: up to ~15 eV above


def test_an_energy_axis_in_degrees_is_one_dead_letter_not_one_per_event():
    spec = ScanSpec(axis="mono_energy", units="deg", seed=8)
    docs = run_documents(spec)
    annotations, failures, skips = run(docs)
    assert [f.error.reason for f in failures] == ["missing_channel"]
    assert not annotations and not skips
    assert "neither eV nor keV" in failures[0].error.message
