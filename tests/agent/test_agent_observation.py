"""From an annotation to what an agent measures: quantity, fallbacks, positions."""

from __future__ import annotations

import numpy as np
import pytest

from edgestream_agent.observation import (
    QuantitySpec,
    RunIndex,
    absolute_spectrum,
    edge_area,
    observe,
)


def test_the_configured_prediction_comes_first(make_annotation) -> None:
    q = QuantitySpec().extract(make_annotation("r", value=1.4, sigma=0.1))
    assert (q.value, q.sigma, q.source) == (1.4, 0.1, "valence.value")


def test_without_the_plugin_the_edge_area_stands_in(make_annotation) -> None:
    a = make_annotation("r", value=None, shift=2.0)
    q = QuantitySpec().extract(a)
    assert q.source == "edge_area" and q.sigma is None
    # the step of the default annotation is a ramp from e0-2 to e0+2 eV: half at e0 - 0
    assert q.value == pytest.approx(8980.0 - 8979.0, abs=0.05)


def test_out_of_distribution_predictions_are_not_steered_on(make_annotation) -> None:
    a = make_annotation("r", value=2.9, ood=True)
    assert QuantitySpec().extract(a).source == "edge_area"
    assert QuantitySpec.only("valence.value").extract(a) is None


def test_fallback_chain_to_edge_shift_then_e0(make_annotation) -> None:
    a = make_annotation("r", shift=1.25, norm=[None] * 201)  # no spectrum: no edge area
    assert QuantitySpec().extract(a).source == "edge_features.edge_shift_ev"
    a = make_annotation("r", shift=None, norm=[None] * 201, e0=8981.5)
    q = QuantitySpec().extract(a)
    assert (q.source, q.value) == ("e0_shift", pytest.approx(2.5))
    a["element"] = "Xx"
    assert QuantitySpec().extract(a) is None


def test_parse_and_only() -> None:
    spec = QuantitySpec.parse("motif.probability", uncertainty="uncertainty")
    assert (spec.plugin, spec.output, spec.uncertainty) == ("motif", "probability",
                                                            "uncertainty")
    with pytest.raises(ValueError):
        QuantitySpec.parse("novalue")
    assert QuantitySpec.only("e0_shift").fallbacks == ("e0_shift",)


def test_absolute_spectrum_and_edge_area_of_a_step(make_annotation) -> None:
    a = make_annotation("r", e0=9000.0)
    grid = np.array([8975.0, 8998.0, 9000.0, 9002.0, 9100.0])
    mu = absolute_spectrum(a, grid)
    assert np.isnan(mu[0]) and np.isnan(mu[-1])  # outside e0-20 .. e0+80
    assert mu[1:4] == pytest.approx([0.0, 0.5, 1.0])
    # a linear ramp from 8998 to 9002 eV has its half-area point at 9000 eV
    assert edge_area(a, 8990.0, 9010.0) == pytest.approx(9000.0, abs=0.01)
    assert np.isnan(edge_area(a, 8970.0, 9010.0))  # not covered


def test_run_index_positions_and_bounds(make_start) -> None:
    idx = RunIndex(max_runs=2)
    assert idx.start(make_start("a", 1.5, suggestion="s-1")).position == (1.5,)
    assert idx.get("a").suggestion_uid == "s-1"
    assert idx.start(make_start("b", None)).position is None
    idx.start({"uid": "c", "x": 3.0, "sample_name": "n"})
    assert idx.get("c").position == (3.0,) and idx.get("c").sample == "n"
    assert idx.get("a") is None  # the oldest was forgotten
    assert idx.start({"no": "uid"}) is None


def test_observe_needs_a_position_and_a_quantity(make_annotation, make_start) -> None:
    idx = RunIndex()
    a = make_annotation("r1", value=0.5)
    assert observe(a, idx.start(make_start("r1", None)), QuantitySpec()) is None
    obs = observe(a, idx.start(make_start("r1", 7.0)), QuantitySpec(), np.array([8980.0]))
    assert obs.position == (7.0,) and obs.quantity.value == 0.5
    assert obs.spectrum.shape == (1,) and obs.annotation_id == a["annotation_id"]


def test_a_run_not_used_is_said_once_and_each_annotation_counted(caplog):
    """An EELS image is a thousand annotations of one run without a stage position: one log
    line says why the run is not used, and every annotation is still counted."""
    from edgestream_agent.base import StageAgent
    from edgestream_agent.strategies import BoundaryStrategy, Bounds

    agent = StageAgent(strategy_factory=lambda: BoundaryStrategy(Bounds(0, 60), 1, 0.5, 0.05),
                       plan_name="agent_move_and_measure", ask_on_ingest=False)
    agent.on_document("start", {"uid": "r1", "time": 0.0})
    agent.on_document("stop", {"uid": "s1", "run_start": "r1", "time": 1.0,
                               "exit_status": "success"})
    with caplog.at_level("WARNING", logger="edgestream_agent.base"):
        for i in range(50):
            agent.on_annotation({"annotation_id": f"a{i}", "ids": {"run_uid": "r1"}})
    said = [r for r in caplog.records if "not used (no_position)" in r.getMessage()]
    assert len(said) == 1 and agent.skipped["no_position"] == 50
