"""The core path on documents from a real RunEngine: annotations, failures, plugins."""

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import list_scan
from ophyd.sim import SynSignal

from edgestream.config.settings import Settings
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import SpectrumModel
from edgestream.publish import annotation
from edgestream_plugins.edge_features import EdgeFeatures

E0 = 8984.0


def cu_like_mu(e):
    """Edge step 1 at E0 with a white line 8 eV above, on a Victoreen-like background."""
    edge = 0.5 + np.arctan((e - E0) / 1.5) / np.pi
    white = 0.6 * np.exp(-0.5 * ((e - E0 - 8) / 3) ** 2)
    return 0.3 * (e / E0) ** -3 + edge + white


def foil_mu(e):
    """A Cu foil's edge marker: unit step with its maximum slope at 8979.0 eV."""
    return 0.2 + 0.5 + np.arctan((e - 8979.0) / 1.0) / np.pi


def scan_docs(md=None, energies=None, offset_ev=0.0, foil=None):
    """A transmission step scan; the mono reads ``offset_ev`` high. ``foil``: μ_ref(E) of a
    reference foil behind the sample (an Ir channel), or None for no Ir channel."""
    energies = np.concatenate([np.arange(8880, 8970, 5), np.arange(8970, 9010, 0.5),
                               np.arange(9010, 9300, 4)]) if energies is None else energies
    from ophyd.sim import SynAxis

    mono = SynAxis(name="dcm_energy", value=8880.0)

    def it_counts():
        return 1e5 * np.exp(-cu_like_mu(mono.readback.get() - offset_ev))

    detectors = [SynSignal(func=lambda: 1e5, name="I0"), SynSignal(func=it_counts, name="It")]
    if foil is not None:
        detectors.append(SynSignal(
            func=lambda: it_counts() * np.exp(-foil(mono.readback.get() - offset_ev)), name="Ir"))
    docs = []
    RunEngine({}, context_managers=[])(
        list_scan(detectors, mono, list(energies), md=md or {}),
        lambda n, d: docs.append((n, d)),
    )
    return docs


def run_all(pipeline, docs):
    annotations, failures = [], []
    for name, doc in docs:
        out = pipeline(name, doc)
        annotations += out.annotations
        failures += out.failures
    return annotations, failures


@pytest.fixture(scope="module")
def cu_docs():
    return scan_docs(md={"element": "Cu", "edge": "K", "sample": "Cu2O pellet"})


def test_step_scan_gives_one_valid_annotation(cu_docs):
    (a,), failures = run_all(Pipeline(Settings(), [EdgeFeatures()]), cu_docs)
    assert failures == []
    annotation.validate(a)
    assert (a["element"], a["edge"], a["modality"]) == ("Cu", "K", "xas_transmission")
    assert abs(a["e0"] - E0) < 1.0
    assert abs(a["edge_step"] - 1.0) < 0.15
    assert abs(a["edge_features"]["white_line_energy"] - (E0 + 8)) < 2.0
    grid = np.arange(-20, 80.25, 0.5)
    assert len(a["spectrum"]["norm"]) == grid.size
    (pred,) = a["predictions"]
    assert pred["plugin"] == "edge_features" and pred["provider"] is None
    assert abs(pred["outputs"]["edge_shift_ev"] - (a["e0"] - 8979.0)) < 0.5


def test_annotation_id_is_deterministic(cu_docs):
    (a,), _ = run_all(Pipeline(Settings()), cu_docs)
    (b,), _ = run_all(Pipeline(Settings()), cu_docs)
    assert a["annotation_id"] == b["annotation_id"]


def test_element_identified_from_edge_energy():
    (a,), _ = run_all(Pipeline(Settings()), scan_docs())
    assert (a["element"], a["edge"], a["element_source"]) == ("Cu", "K", "edge_energy")


def test_too_few_points_is_a_failure_not_a_crash():
    annotations, failures = run_all(Pipeline(Settings()), scan_docs(energies=[8900, 8990, 9100]))
    assert annotations == []
    assert [f.error.reason for f in failures] == ["too_few_points"]


class Broken(SpectrumModel):
    name = "broken"

    def predict(self, batch):
        raise RuntimeError("model exploded")


def test_a_failing_plugin_costs_its_prediction_not_the_annotation(cu_docs):
    annotations, failures = run_all(Pipeline(Settings(), [Broken(), EdgeFeatures()]), cu_docs)
    assert len(annotations) == 1
    assert [p["plugin"] for p in annotations[0]["predictions"]] == ["edge_features"]
    assert [f.error.reason for f in failures] == ["plugin_failure"]


def test_schema_matches_what_the_code_emits(cu_docs):
    """Drift test: every schema property is emitted and nothing unlisted is."""
    (a,), _ = run_all(Pipeline(Settings(), [EdgeFeatures()]), cu_docs)
    s = annotation.schema()
    assert s["properties"]["schema_version"]["const"] == annotation.SCHEMA_VERSION
    assert set(s["required"]) == set(s["properties"]) == set(a), (
        "annotation fields and stream/edgestream/publish/schemas/annotation-v1.json disagree: "
        "update both "
        "(and SCHEMA_VERSION when a field changes meaning)"
    )
    for key in ("ids", "edge_features", "spectrum", "timing", "energy_calibration"):
        assert set(s["properties"][key]["required"]) == set(a[key]), key


def test_runs_without_stop_expire_as_partial_annotations(cu_docs):
    settings = Settings(run_timeout_s=0.0)
    pipeline = Pipeline(settings)
    for name, doc in cu_docs[:-1]:  # no stop document
        assert pipeline(name, doc).annotations == []
    (a,) = pipeline.expire().annotations
    assert a["kind"] == "partial"
    annotation.validate(a)
    assert not pipeline.router.runs


def test_expired_run_with_bad_data_is_a_failure(cu_docs):
    pipeline = Pipeline(Settings(run_timeout_s=0.0))
    for name, doc in cu_docs[:3]:  # start, descriptor, one event: too few points
        pipeline(name, doc)
    out = pipeline.expire()
    assert out.annotations == [] and [f.error.reason for f in out.failures] == ["too_few_points"]


def test_open_runs_are_bounded(cu_docs):
    from edgestream.documents.runs import RunRouter

    router = RunRouter()
    for i in range(5):
        start = dict(cu_docs[0][1], uid=f"run-{i}")
        router("start", start)
    closed = router.expire(older_than_s=1e9, max_runs=3)
    assert [uid for uid, _ in closed] == ["run-0", "run-1"]
    assert sorted(router.runs) == ["run-2", "run-3", "run-4"]


def test_the_reference_foil_calibrates_each_scan():
    """The mono reads 2.5 eV high; the foil channel puts the edge back (0.5 eV steps)."""
    pipeline = Pipeline(Settings(energy_shift_ev={"sim": 1.0}))
    (a,), failures = run_all(pipeline, scan_docs(offset_ev=2.5, foil=foil_mu))
    assert failures == []
    annotation.validate(a)
    cal = a["energy_calibration"]
    assert cal["source"] == "reference" and abs(cal["shift_ev"] + 2.5) <= 0.1
    assert (cal["reference"]["element"], cal["reference"]["edge"]) == ("Cu", "K")
    assert abs(a["e0"] - E0) < 1.0
    samples = pipeline.metrics.registry.get_sample_value
    assert samples("edgestream_energy_calibrations_total", {"source": "reference"}) == 1


def test_a_reference_that_is_not_the_foil_has_its_edge_given():
    """The beamline's reference edge sits at 8980.0 eV (its own value for its foil)."""
    settings = Settings(reference_e0_ev={"sim": 8980.0})
    (a,), _ = run_all(Pipeline(settings), scan_docs(offset_ev=2.5, foil=foil_mu))
    ref = a["energy_calibration"]["reference"]
    assert (ref["target_e0"], ref["target_source"]) == (8980.0, "given")
    assert abs(a["energy_calibration"]["shift_ev"] + 1.5) <= 0.1
    docs = scan_docs(md={"reference_e0_ev": 8978.0}, offset_ev=2.5, foil=foil_mu)
    (a,), _ = run_all(Pipeline(settings), docs)  # the run's own value wins
    assert abs(a["energy_calibration"]["shift_ev"] + 3.5) <= 0.1


def test_run_metadata_wins_and_the_foil_can_be_switched_off():
    docs = scan_docs(md={"energy_shift_ev": -2.0}, offset_ev=2.5, foil=foil_mu)
    (a,), _ = run_all(Pipeline(Settings()), docs)
    assert a["energy_calibration"] == {"shift_ev": -2.0, "source": "metadata"}
    docs = scan_docs(offset_ev=2.5, foil=foil_mu)
    (a,), _ = run_all(Pipeline(Settings(align_on_reference=False)), docs)
    assert a["energy_calibration"] == {"shift_ev": 0.0, "source": "none"}


def test_an_empty_foil_holder_is_reported_not_fatal():
    """No edge in Ir: the spectrum is annotated with the beamline's shift and the reason."""
    pipeline = Pipeline(Settings(energy_shift_ev={"sim": 1.0}))
    (a,), failures = run_all(pipeline, scan_docs(foil=lambda e: 0.3 + 0 * e))
    assert failures == []
    annotation.validate(a)
    cal = a["energy_calibration"]
    assert (cal["source"], cal["shift_ev"]) == ("settings", 1.0)
    assert "no absorption edge" in cal["reference_rejected"] or "noisy" in cal["reference_rejected"]
    samples = pipeline.metrics.registry.get_sample_value
    assert samples("edgestream_errors_total", {"reason": "bad_reference"}) == 1


@pytest.mark.parametrize("md", [{"energy_shift_ev": "a lot"}, {"reference_e0_ev": float("nan")}])
def test_nonsense_calibration_metadata_is_a_failure_not_a_crash(md):
    annotations, failures = run_all(Pipeline(Settings()),
                                    scan_docs(md=md, offset_ev=2.5, foil=foil_mu))
    assert annotations == []
    (f,) = failures
    assert f.error.reason == "malformed_document" and "finite number of eV" in f.error.message


def test_a_batch_of_sweeps_is_calibrated_as_each_sweep_alone():
    """QEXAFS: foils located in one batch; an empty holder falls back to the settings."""
    from edgestream.documents.spectrum import RawSpectrum, SpectrumIds

    energy = np.linspace(8900.0, 9200.0, 600)
    offsets = [-2.0, 0.6, None, 2.4]
    raws = [RawSpectrum(SpectrumIds("qexafs", "d", "primary", (i, i)), "xas_transmission",
                        energy, cu_like_mu(energy - (d or 0.0)), "Cu", "K",
                        reference=(0.3 + 0 * energy if d is None else foil_mu(energy - d)))
            for i, d in enumerate(offsets)]
    settings = Settings(energy_shift_ev={"sim": 1.0})
    batch = Pipeline(settings).annotate(raws)
    alone = [Pipeline(settings).annotate([r]).annotations[0] for r in raws]
    assert batch.failures == [] and len(batch.annotations) == len(raws)
    for a, b, d in zip(batch.annotations, alone, offsets, strict=True):
        assert a["energy_calibration"] == b["energy_calibration"]
        cal = a["energy_calibration"]
        if d is None:
            assert (cal["source"], cal["shift_ev"]) == ("settings", 1.0)
        else:
            assert cal["source"] == "reference" and abs(cal["shift_ev"] + d) <= 0.1


def _stream(name):
    import json
    from pathlib import Path

    path = Path(__file__).parent / "data" / "streams" / name
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


def test_runs_are_decided_at_expiry_too():
    """Without a stop, the same decision at expiry: a skip for a count, missing_channel for
    an energy scan whose counters show no edge."""
    pipeline = Pipeline(Settings(run_timeout_s=0.0))
    for name in ("count_at_fixed_energy.jsonl", "energy_scan_unnamed_flat_counters.jsonl"):
        for doc_name, doc in _stream(name)[:-1]:  # no stop
            out = pipeline(doc_name, doc)
            assert not (out.annotations or out.failures or out.skips)
    out = pipeline.expire()
    assert [(s.reason, s.partial) for s in out.skips] == [("not_spectroscopy", True)]
    assert [f.error.reason for f in out.failures] == ["missing_channel"]
    assert not pipeline.router.runs


def test_a_run_with_no_events_is_a_counted_skip():
    pipeline = Pipeline(Settings())
    docs = scan_docs()
    start, descriptor, stop = docs[0], docs[1], docs[-1]
    outs = [pipeline(*d) for d in (start, descriptor, stop)]
    assert [s.reason for o in outs for s in o.skips] == ["no_events"]
    samples = {s.labels["reason"]: s.value for f in pipeline.metrics.registry.collect()
               for s in f.samples if s.name == "edgestream_runs_skipped_total"}
    assert samples == {"no_events": 1.0}


def test_a_baseline_stream_beside_a_spectrum_is_no_skip(cu_docs):
    """BMM layout: a primary with a spectrum and a baseline stream with dcm_energy."""
    annotations, failures = run_all(Pipeline(Settings()), _stream(
        "nsls2_bmm_cu_transmission.jsonl"))
    assert len(annotations) == 1 and not failures
    assert annotations[0]["channels"] == {"energy": "dcm_energy", "i0": "I0", "it": "It",
                                          "ir": "Ir"}


def test_a_replayed_run_is_not_counted_as_skipped_twice():
    """After a Kafka rewind the same run is routed again: one skip in the metric."""
    pipeline = Pipeline(Settings())
    docs = _stream("motor_tune_slit.jsonl")
    skips = [s for _ in range(2) for d in docs for s in pipeline(*d).skips]
    assert len(skips) == 1
    assert pipeline.metrics.registry.get_sample_value(
        "edgestream_runs_skipped_total", {"reason": "not_spectroscopy"}) == 1.0
