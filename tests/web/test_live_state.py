"""What the live page shows: views of annotations, raw spectra, EELS maps, health."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream.apps.web.state import LiveState, TappedPipeline
from edgestream.config.settings import Settings
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.metrics import Metrics
from edgestream_sim.spectra import load_fixture


def annotation(run: str, seq: int = 1, px: int = 0, modality: str = "xas_transmission",
               value: float | None = 1.2, motif: str | None = None) -> dict:
    preds = [{"plugin": "edge_features", "version": "1", "model_sha256": None,
              "provider": None, "outputs": {"edge_shift_ev": 1.5, "bins": [1, 2]}}]
    if value is not None:
        preds.append({"plugin": "valence", "version": "1", "model_sha256": None,
                      "provider": None, "outputs": {"value": value, "uncertainty": 0.1}})
    if motif:
        preds.append({"plugin": "motif", "version": "1", "model_sha256": None,
                      "provider": None, "outputs": {"value": motif, "probability": 0.9}})
    return {"annotation_id": f"{run}-{seq}-{px}", "kind": "final",
            "ids": {"run_uid": run, "seq_range": [seq, seq], "index_in_event": px},
            "sample": "s", "beamline": "sim", "element": "Cu", "edge": "K",
            "modality": modality, "e0": 8980.0, "edge_step": 1.0,
            "spectrum": {"grid": {"start": -20.0, "stop": 80.0, "step": 0.5}, "norm": [0.0, 1.0]},
            "edge_features": {"white_line_energy": 8990.0}, "predictions": preds,
            "energy_calibration": {"shift_ev": -2.5, "source": "reference",
                                   "reference": {"measured_e0": 8981.5}},
            "timing": {"event_time": [1.0, 2.0]}}


def test_events_for_each_annotation_and_the_series_knows_the_current_run() -> None:
    live = LiveState()
    q = live.subscribe()
    live.on_annotation(annotation("r1", motif="linear"))
    live.on_annotation(annotation("r1", seq=2, value=1.4))
    live.on_annotation(annotation("r2"))
    events = [q.get_nowait()[0] for _ in range(6)]
    assert events == ["spectrum", "series"] * 3
    snap = live.snapshot()
    assert snap["latest"]["annotation_id"] == "r2-1-0"
    assert snap["series"]["run_uid"] == "r2"
    assert [p["run"] for p in snap["series"]["points"]] == ["r1", "r1", "r2"]
    assert snap["latest"]["predictions"][0]["outputs"] == {"edge_shift_ev": 1.5}  # no lists
    # the raw spectrum is on the measured axis; the page adds the shift (and says why)
    assert snap["latest"]["calibration"] == {"shift_ev": -2.5, "source": "reference"}
    live.unsubscribe(q)
    assert live.n_subscribers == 0


def test_motif_and_valence_points() -> None:
    live = LiveState()
    live.on_annotation(annotation("r1", motif="square_planar"))
    (p,) = live.snapshot()["series"]["points"]
    assert (p["value"], p["source"], p["motif"], p["motif_p"]) == (1.2, "valence.value",
                                                                    "square_planar", 0.9)


def test_eels_spectrum_image_rows_build_a_map() -> None:
    live = LiveState()
    for row in (1, 2):
        for px in range(4):
            live.on_annotation(annotation("si", seq=row, px=px, modality="eels",
                                          value=float(px)))
    m = live.eels_map()
    assert m["run_uid"] == "si" and len(m["cells"]) == 8
    assert [2, 3, 3.0] in m["cells"]
    live.on_annotation(annotation("si2", modality="eels"))
    assert live.eels_map()["run_uid"] == "si2"  # the latest spectrum image only


def test_eels_map_prefers_the_cu_l_valence_and_keeps_one_quantity() -> None:
    live = LiveState()
    for px, (v, ood) in enumerate([(0.1, False), (1.9, False), (1.0, True)]):
        a = annotation("si", px=px, modality="eels", value=5.0)
        a["predictions"].append({"plugin": "cu_l_valence", "version": "1",
                                 "outputs": {"value": v, "uncertainty": 0.1, "ood": ood}})
        live.on_annotation(a)
    m = live.eels_map()
    assert m["source"] == "cu_l_valence.value"
    assert m["cells"] == [[1, 0, 0.1], [1, 1, 1.9]]  # the OOD pixel is not drawn


def l_valence_pixel(run: str, px: int, value: float, element: str = "Mn",
                    ood: bool = False) -> dict:
    """A spectrum-image pixel annotated by the element's L2,3 valence plugin (as recorded)."""
    a = annotation(run, px=px, modality="eels", value=None)
    a["element"], a["edge"] = element, "L2,3"
    a["predictions"].append({"plugin": f"{element.lower()}_l_valence", "version": "1",
                             "outputs": {"value": value, "uncertainty": 0.2, "ood": ood,
                                         "ood_score": 0.5, "state": "Mn(III)",
                                         "probabilities": {"Mn(III)": 1.0}}})
    return a


def test_eels_map_of_a_mn_run_reads_the_mn_l_valence_with_its_range() -> None:
    live = LiveState()
    q = live.subscribe()
    for px, (v, ood) in enumerate([(2.1, False), (3.0, False), (3.9, True), (4.0, False)]):
        live.on_annotation(l_valence_pixel("mn", px, v, ood=ood))
    m = live.eels_map()
    assert (m["source"], m["element"], m["range"]) == ("mn_l_valence.value", "Mn", [2.0, 4.0])
    assert m["cells"] == [[1, 0, 2.1], [1, 1, 3.0], [1, 3, 4.0]]  # the OOD pixel is not drawn
    events = [e for e in (q.get_nowait() for _ in range(q.qsize())) if e[0] == "eels_map"]
    assert events[0][1] == {"run_uid": "mn", "sample": "s", "source": "mn_l_valence.value",
                            "element": "Mn", "range": [2.0, 4.0], "cell": [1, 0, 2.1]}


def test_eels_map_follows_a_cu_run_then_a_mn_run() -> None:
    live = LiveState()
    for px in range(2):
        live.on_annotation(l_valence_pixel("cu", px, 1.0 + px, element="Cu"))
    cu = live.eels_map()
    assert (cu["source"], cu["element"], cu["range"]) == ("cu_l_valence.value", "Cu",
                                                          [0.0, 3.0])
    live.on_annotation(l_valence_pixel("mn", 0, 2.5))
    mn = live.eels_map()
    assert (mn["run_uid"], mn["source"], mn["cells"]) == ("mn", "mn_l_valence.value",
                                                          [[1, 0, 2.5]])
    # a quantity that is not an L2,3 valence has no fixed range: the page scales to the data
    live.on_annotation(annotation("k", modality="eels"))
    assert live.eels_map()["source"] == "valence.value" and live.eels_map()["range"] is None


def test_a_slow_subscriber_loses_events_not_the_service() -> None:
    live = LiveState()
    q = live.subscribe(maxsize=2)
    for i in range(10):
        live.on_annotation(annotation("r", seq=i))
    assert q.qsize() == 2


def test_health_reads_the_service_metrics() -> None:
    m = Metrics()
    m.documents.labels("event").inc(7)
    m.errors.labels("bad_spectrum").inc(2)
    m.dead_letters.labels("bad_spectrum").inc(2)
    m.lag.labels("t", "0").set(5)
    m.latency.observe(0.5)
    live = LiveState(m)
    live.on_annotation(annotation("r"))
    h = live.health()
    assert h["documents"] == 7 and h["errors"] == {"bad_spectrum": 2}
    assert h["dead_letters"] == {"bad_spectrum": 2} and h["lag"] == 5
    assert h["latency_s"] == pytest.approx(0.5) and h["annotations"] == 1
    assert h["spectra_per_s"] == pytest.approx(0.1)


def test_the_tapped_pipeline_hands_raw_spectra_to_the_page() -> None:
    live = LiveState()
    ref = load_fixture()[0]
    energy = np.linspace(8900.0, 9100.0, 900)
    mu = ref.normalized_mu(energy) + 0.3
    pipe = TappedPipeline(Settings(), [], on_raw=live.on_raw)
    s = RawSpectrum(ids=SpectrumIds("run", "d", "primary", (1, 900)), modality="xas_mu",
                    energy=energy, signal=mu, element="Cu", edge="K", element_source="metadata")
    (a,) = pipe.annotate([s]).annotations
    live.on_annotation(a)
    raw = live.snapshot()["latest"]["raw"]
    assert len(raw["energy"]) <= 600 and raw["energy"][0] == 8900.0
    assert raw["signal"][0] == pytest.approx(mu[0], abs=1e-5)


def test_skipped_runs_show_on_the_page_by_reason() -> None:
    """A count and a motor tune through the pipeline: the health view counts their skips."""
    import json
    from pathlib import Path

    from edgestream.config.settings import Settings
    from edgestream.pipeline import Pipeline

    m = Metrics()
    pipeline = Pipeline(Settings(), metrics=m)
    streams = Path(__file__).parents[1] / "data" / "streams"
    for name in ("count_at_fixed_energy.jsonl", "motor_tune_slit.jsonl"):
        for line in (streams / name).read_text().splitlines():
            pipeline(*json.loads(line))
    assert LiveState(m).health()["skipped"] == {"not_spectroscopy": 2}
