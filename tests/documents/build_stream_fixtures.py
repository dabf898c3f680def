"""Write the document-stream fixtures of tests/data/streams/ (JSON lines of [name, doc]).

Layouts and names follow the public beamline code cited in tests/data/streams/README.md; the
values come from the simulated beamline's physics (scan_streams.py). Run from the repository
root: ``.venv/bin/python tests/documents/build_stream_fixtures.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scan_streams import ScanSpec, run_documents

OUT = Path(__file__).parents[1] / "data" / "streams"
Docs = list[tuple[str, dict[str, Any]]]


def rename(docs: Docs, names: dict[str, str], units: dict[str, str] | None = None) -> Docs:
    """Rename data keys everywhere (descriptor, events, start hints) and set their units."""
    for name, doc in docs:
        if name == "descriptor":
            doc["data_keys"] = {names.get(k, k): v for k, v in doc["data_keys"].items()}
            for key, unit in (units or {}).items():
                doc["data_keys"][key]["units"] = unit
            doc["object_keys"] = {names.get(k, k): [names.get(k, k)] for k in doc["object_keys"]}
        elif name == "event":
            doc["data"] = {names.get(k, k): v for k, v in doc["data"].items()}
            doc["timestamps"] = {names.get(k, k): v for k, v in doc["timestamps"].items()}
        elif name == "start":
            for dim in doc["hints"]["dimensions"]:
                dim[0] = [names.get(k, k) for k in dim[0]]
    return docs


def add_stream(docs: Docs, stream: str, readings: list[dict[str, float]],
               units: dict[str, str]) -> Docs:
    """A second stream (baseline) with its descriptor and events, before the stop."""
    start = docs[0][1]
    uid = f"{stream}-{start['uid'][:8]}"
    desc = {"uid": uid, "run_start": start["uid"], "name": stream, "time": 0.0,
            "data_keys": {k: {"source": f"PV:{k}", "dtype": "number", "shape": []} | (
                {"units": units[k]} if k in units else {}) for k in readings[0]},
            "configuration": {}, "hints": {}, "object_keys": {k: [k] for k in readings[0]}}
    events = [("event", {"uid": f"{uid}-{i}", "descriptor": uid, "seq_num": i + 1,
                         "time": float(i), "data": r, "timestamps": dict.fromkeys(r, 0.0),
                         "filled": {}}) for i, r in enumerate(readings)]
    return [*docs[:-1], ("descriptor", desc), *events, docs[-1]]


def setpoint(docs: Docs, key: str, offset: float = 0.0) -> Docs:
    """A motor's setpoint beside its readback, as ophyd's EpicsMotor/PVPositioner read."""
    for name, doc in docs:
        if name == "descriptor" and key in doc["data_keys"]:
            doc["data_keys"][f"{key}_setpoint"] = dict(doc["data_keys"][key])
        elif name == "event" and key in doc["data"]:
            doc["data"][f"{key}_setpoint"] = round(doc["data"][key] + offset, 2)
            doc["timestamps"][f"{key}_setpoint"] = doc["timestamps"][key]
    return docs


def bmm_transmission() -> Docs:
    spec = ScanSpec(element="Cu", axis="dcm_energy", i0="I0", it="It", ir="Ir", seed=101)
    docs = setpoint(run_documents(spec, "bmm"), "dcm_energy", 0.03)
    docs[0][1].pop("element"), docs[0][1].pop("edge")
    docs[0][1]["XDI"] = {"Element": {"symbol": "Cu", "edge": "K"}}
    docs[0][1]["plan_name"] = "scan_nd"
    return add_stream(docs, "baseline", [{"dcm_energy": 8779.0, "ring_current": 400.2}] * 2,
                      {"dcm_energy": "eV", "ring_current": "mA"})


def bmm_fluorescence_xspress3() -> Docs:
    spec = ScanSpec(element="Fe", axis="dcm_energy", i0="I0", it=None, iff="If", seed=102)
    docs = run_documents(spec, "bmm")
    rng = np.random.default_rng(7)
    for name, doc in docs:  # the If counts shared over four elements, a second ROI beside
        if name == "descriptor":
            total = doc["data_keys"].pop("If")
            for c in (1, 2, 3, 4):
                for r in (1, 2):
                    doc["data_keys"][f"xs_channel{c}_rois_roi{r:02d}_value"] = dict(total)
        elif name == "event":
            total = doc["data"].pop("If")
            doc["timestamps"].pop("If")
            share = rng.dirichlet([50, 50, 50, 50])
            for c in (1, 2, 3, 4):
                doc["data"][f"xs_channel{c}_rois_roi01_value"] = float(total * share[c - 1])
                doc["data"][f"xs_channel{c}_rois_roi02_value"] = float(rng.poisson(40))
                for r in (1, 2):
                    doc["timestamps"][f"xs_channel{c}_rois_roi{r:02d}_value"] = doc["time"]
    return docs


def iss_apb() -> Docs:
    spec = ScanSpec(element="Ni", axis="hhm_energy", i0="a1", it="a2", ir="a3", iff="a4",
                    dead={"a5": "zeros", "a6": "constant"}, seed=103)
    names = {"a1": "apb_ave_ch1_mean", "a2": "apb_ave_ch2_mean", "a3": "apb_ave_ch3_mean",
             "a4": "apb_ave_ch4_mean", "a5": "apb_ave_ch5_mean", "a6": "apb_ave_ch6_mean"}
    return rename(run_documents(spec, "iss"), names, {"hhm_energy": "eV"})


def hxn_style_scaler_inferred() -> Docs:
    spec = ScanSpec(element="Zn", axis="energy", units="keV", i0="c2", it="c3", ir="c4",
                    extras={"t_sample": "temperature"}, dead={"c5": "zeros"}, seed=104)
    docs = run_documents(spec, "hxn")
    docs = rename(docs, {"c2": "sclr1_ch2", "c3": "sclr1_ch3", "c4": "sclr1_ch4",
                         "c5": "sclr1_ch5"})
    for name, doc in docs:  # channel 1 counts the scaler's clock: constant
        if name == "descriptor":
            doc["data_keys"]["sclr1_ch1"] = {"source": "PV:ch1", "dtype": "number", "shape": []}
        elif name == "event":
            doc["data"]["sclr1_ch1"] = 1.0e7
            doc["timestamps"]["sclr1_ch1"] = doc["time"]
    return docs


def scaler_labels() -> Docs:
    spec = ScanSpec(element="Mn", axis="mono_energy", i0="c2", it="c3", seed=105)
    names = {"c2": "scaler1_channels_chan02", "c3": "scaler1_channels_chan03"}
    docs = rename(run_documents(spec, "aps"), names, {"mono_energy": "eV"})
    docs[1][1]["configuration"] = {"scaler1": {"data": {
        "scaler1_channels_chan02_chname": "I0", "scaler1_channels_chan03_chname": "IT",
        "scaler1_preset_time": 1.0}, "timestamps": {}, "data_keys": {}}}
    return docs


def count_at_fixed_energy() -> Docs:
    spec = ScanSpec(axis="dcm_energy", i0="I0", it="It", hint_axis=False, seed=106)
    docs = run_documents(spec, "bmm")[:12]
    docs[0][1]["plan_name"] = "count"
    for name, doc in docs:  # no motor is read in a count: drop the axis
        if name == "descriptor":
            doc["data_keys"].pop("dcm_energy")
            doc["object_keys"].pop("dcm_energy")
        elif name == "event":
            doc["data"].pop("dcm_energy")
            doc["timestamps"].pop("dcm_energy")
    docs.append(("stop", {"uid": "stop-106", "run_start": docs[0][1]["uid"], "time": 2.0,
                          "exit_status": "success", "num_events": {"primary": 10}}))
    return add_stream(docs, "baseline", [{"dcm_energy": 8979.0, "ring_current": 400.1}] * 2,
                      {"dcm_energy": "eV", "ring_current": "mA"})


def motor_tune() -> Docs:
    spec = ScanSpec(axis="slits3_vsize", units="mm", i0="I0", it=None, iff=None, seed=107)
    docs = run_documents(spec, "bmm")[:42]
    docs[0][1]["plan_name"] = "rel_scan"
    for name, doc in docs:
        if name == "event":  # the slit opens from 0 to 2 mm: I0 rises and saturates
            x = (doc["seq_num"] - 1) * 0.05
            doc["data"]["slits3_vsize"] = x
            doc["data"]["I0"] = float(2e5 * np.tanh(x / 0.6) + 50)
    docs.append(("stop", {"uid": "stop-107", "run_start": docs[0][1]["uid"], "time": 2.0,
                          "exit_status": "success", "num_events": {"primary": 40}}))
    return docs


def area_detector_count() -> Docs:
    """BMM's Pilatus ROIs (named diffuse and specular) counted at a fixed energy."""
    spec = ScanSpec(axis="dcm_energy", i0="I0", it="diffuse", iff="specular",
                    hint_axis=False, seed=108)
    docs = run_documents(spec, "bmm")[:7]
    docs[0][1]["plan_name"] = "count"
    for name, doc in docs:
        if name == "descriptor":
            doc["data_keys"].pop("dcm_energy")
        elif name == "event":
            doc["data"].pop("dcm_energy")
            doc["timestamps"].pop("dcm_energy")
    docs.append(("stop", {"uid": "stop-108", "run_start": docs[0][1]["uid"], "time": 2.0,
                          "exit_status": "success", "num_events": {"primary": 5}}))
    return docs


def energy_scan_flat_counters() -> Docs:
    spec = ScanSpec(element="Cu", axis="mono_energy", i0="c2", it="c3", seed=109)
    docs = rename(run_documents(spec, "xx"), {"c2": "sclr1_ch2", "c3": "sclr1_ch3"},
                  {"mono_energy": "eV"})
    rng = np.random.default_rng(9)
    for name, doc in docs:  # an empty sample holder: both chambers see the bare beam
        if name == "event":
            beam = 2e5 * (1 + rng.normal(0, 0.005))
            doc["data"]["sclr1_ch2"] = float(rng.poisson(beam))
            doc["data"]["sclr1_ch3"] = float(rng.poisson(0.8 * beam))
    return docs


def bmm_sequence() -> Docs:
    """Three repetitions of a scan, as BMM's xafs plan runs them (one run each); the third
    aborted after five points."""
    docs: Docs = []
    for i, seed in enumerate((111, 112, 113)):
        run = bmm_transmission_seed(seed)
        if i == 2:
            stop = dict(run[-1][1], exit_status="abort", reason="stopped",
                        num_events={"primary": 5})
            run = [*run[:7], ("stop", stop)]
        docs += run
    return docs


def bmm_transmission_seed(seed: int) -> Docs:
    spec = ScanSpec(element="Cu", axis="dcm_energy", i0="I0", it="It", ir="Ir", seed=seed)
    docs = setpoint(run_documents(spec, "bmm"), "dcm_energy", 0.03)
    docs[0][1]["plan_name"] = "scan_nd"
    return docs


FIXTURES = {
    "nsls2_bmm_cu_sequence_with_abort.jsonl": bmm_sequence,
    "nsls2_bmm_cu_transmission.jsonl": bmm_transmission,
    "nsls2_bmm_fe_fluorescence_xspress3.jsonl": bmm_fluorescence_xspress3,
    "nsls2_iss_ni_apb_step.jsonl": iss_apb,
    "nsls2_hxn_scaler_channels_zn_inferred.jsonl": hxn_style_scaler_inferred,
    "ophyd_scaler_labels_mn.jsonl": scaler_labels,
    "count_at_fixed_energy.jsonl": count_at_fixed_energy,
    "motor_tune_slit.jsonl": motor_tune,
    "area_detector_count.jsonl": area_detector_count,
    "energy_scan_unnamed_flat_counters.jsonl": energy_scan_flat_counters,
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for filename, build in FIXTURES.items():
        with (OUT / filename).open("w") as handle:
            for name, doc in build():
                handle.write(json.dumps([name, doc], separators=(",", ":")) + "\n")
        print(filename)


if __name__ == "__main__":
    main()
