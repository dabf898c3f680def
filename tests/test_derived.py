"""Annotations re-emitted as a derived Bluesky run that points at the original run."""

import json
import math

import event_model
import numpy as np

from edgestream.publish.derived import COLUMNS, DerivedRuns, columns, derived_uid, split_event_page


def annotation(run_uid, n=3):
    return {
        "ids": {"run_uid": run_uid}, "beamline": "bmm", "software": {"name": "edgestream"},
        "spectrum": {"norm": [0.0, None, 1.0][:n],
                     "grid": {"start": -20.0, "stop": 80.0, "step": 0.5, "relative_to": "e0"}},
        "e0": 8980.1, "edge_step": 1.2,
        "element": "Cu", "edge": "K", "modality": "xas_transmission", "kind": "final",
        "annotation_id": "a1", "predictions": [{"plugin": "p", "outputs": {"x": 1}}],
        "timing": {"published_at": 5.0, "event_time": [1.0, 2.0]},
    }


def test_derived_run_is_valid_and_deterministic():
    derived = DerivedRuns()
    docs = derived.on_annotation(annotation("orig")) + derived.on_annotation(annotation("orig"))
    docs += derived.on_run_end("orig")
    assert [n for n, _ in docs] == ["start", "descriptor", "event", "event", "stop"]
    for name, doc in docs:
        event_model.schema_validators[getattr(event_model.DocumentNames, name)].validate(doc)
    start = docs[0][1]
    assert start["original_run_uid"] == "orig"
    assert start["uid"] == derived_uid("orig") == DerivedRuns().on_annotation(
        annotation("orig"))[0][1]["uid"]
    assert derived.on_run_end("orig") == []
    # A redelivered annotation gives the same derived event uid: consumers can drop it.
    assert docs[2][1]["uid"] == DerivedRuns().on_annotation(annotation("orig"))[2][1]["uid"]


def test_a_batch_becomes_one_event_page_per_run():
    derived = DerivedRuns()
    batch = [annotation("r1"), annotation("r2"), annotation("r1")]
    batch[2] = batch[2] | {"annotation_id": "a2"}
    out = derived.on_annotations(batch)
    assert [(r, n) for r, n, _ in out] == [
        ("r1", "start"), ("r1", "descriptor"), ("r1", "event_page"),
        ("r2", "start"), ("r2", "descriptor"), ("r2", "event_page")]
    for _, name, doc in out:
        event_model.schema_validators[getattr(event_model.DocumentNames, name)].validate(doc)
    page = out[2][2]
    assert page["seq_num"] == [1, 2] and page["data"]["annotation_id"] == ["a1", "a2"]
    assert page["descriptor"] == out[1][2]["uid"]
    later = derived.on_annotations([annotation("r1") | {"annotation_id": "a3"}])
    assert [n for _, n, _ in later] == ["event_page"] and later[0][2]["seq_num"] == [3]


def test_an_event_page_splits_into_consecutive_valid_pages():
    derived = DerivedRuns()
    batch = [annotation("r1") | {"annotation_id": f"a{i}"} for i in range(7)]
    (_, _, _), (_, _, _), (_, _, page) = derived.on_annotations(batch)
    pieces = split_event_page(page, 3)
    assert [len(p["seq_num"]) for p in pieces] == [2, 2, 3]
    for p in pieces:
        event_model.schema_validators[event_model.DocumentNames.event_page].validate(p)
        assert p["descriptor"] == page["descriptor"]
    def joined(get):
        return [v for p in pieces for v in get(p)]

    assert joined(lambda p: p["seq_num"]) == page["seq_num"]
    assert joined(lambda p: p["uid"]) == page["uid"]
    assert joined(lambda p: p["data"]["annotation_id"]) == [f"a{i}" for i in range(7)]
    # never more pieces than events, never none
    assert len(split_event_page(page, 50)) == 7 and len(split_event_page(page, 0)) == 1


def predictions():
    """The outputs of the four Cu K plugins on a measured Cu2O (annotate --json, trimmed)."""
    return [
        {"plugin": "cu_k_motif", "version": "1.3.0", "model_sha256": None, "provider": None,
         "outputs": {"value": "linear", "probability": 0.554, "uncertainty": 0.107,
                     "ood": False, "family": "linear", "family_probability": 0.554}},
        {"plugin": "cu_k_screening", "version": "1.4.0", "model_sha256": None, "provider": None,
         "outputs": {"value": "mp-756392", "candidates": [
             {"material_id": "mp-756392", "formula": "LiCuSi2O5", "score": 0.142},
             {"material_id": "mp-505402", "formula": "Cu2WO4", "score": 0.1091}],
             "uncertainty": 0.0114, "ood": True}},
        {"plugin": "cu_k_valence", "version": "1.3.0", "model_sha256": None, "provider": None,
         "outputs": {"value": 1.007, "uncertainty": 0.012, "ood": False}},
        {"plugin": "edge_features", "version": "1.0.0", "model_sha256": None, "provider": None,
         "outputs": {"edge_shift_ev": 3.25, "white_line_offset_ev": 15.5,
                     "white_line_height": 1.13}},
    ]


def test_predictions_are_typed_columns_with_units():
    a = annotation("r1") | {"predictions": predictions(), "kind": "partial",
                            "energy_calibration": {"shift_ev": -1.5, "source": "reference",
                                                   "reference_rejected": "no edge"}}
    a["ids"] |= {"stream": "primary", "seq_range": [1, 9], "index_in_event": 0}
    row = columns(a)
    assert set(row) == set(COLUMNS)
    assert row["valence"] == 1.007 and row["valence_uncertainty"] == 0.012
    assert row["valence_plugin"] == "cu_k_valence"
    assert (row["motif"], row["motif_probability"], row["motif_family"]) == \
        ("linear", 0.554, "linear")
    assert (row["top_candidate"], row["top_candidate_formula"], row["top_candidate_score"]) == \
        ("mp-756392", "LiCuSi2O5", 0.142)
    assert row["e0"] == 8980.1 and row["edge_step"] == 1.2 and row["energy_shift_ev"] == -1.5
    assert row["edge_shift_ev"] == 3.25 and row["white_line_offset_ev"] == 15.5
    assert row["ood"] is True
    assert row["flags"] == "ood:cu_k_screening,partial,ref-rejected"
    assert row["source_seq_num"] == 9 and row["calibration_source"] == "reference"
    assert json.loads(row["predictions"]) == predictions()  # nothing is lost
    broken = a | {"predictions": [{"plugin": "cu_k_motif", "outputs": {}, "error": "boom"}]}
    assert columns(broken)["flags"] == "failed:cu_k_motif,partial,ref-rejected"

    docs = DerivedRuns().on_annotation(a)
    keys = docs[1][1]["data_keys"]
    assert keys["valence"]["dtype"] == "number" and keys["valence"]["dtype_numpy"] == "<f8"
    assert keys["e0"]["units"] == "eV" and keys["ood"]["dtype"] == "boolean"
    assert keys["motif"]["dtype"] == "string" and keys["source_seq_num"]["dtype"] == "integer"
    assert keys["norm"]["shape"] == [3] and keys["norm"]["dims"] == ["energy_from_e0"]
    assert docs[0][1]["norm_grid"]["step"] == 0.5
    event = docs[2][1]
    assert event["data"]["valence"] == 1.007 and event["data"]["motif"] == "linear"
    assert np.isnan(event["data"]["norm"][1]) and event["data"]["norm"][2] == 1.0
    for name, doc in docs:
        event_model.schema_validators[getattr(event_model.DocumentNames, name)].validate(doc)


def test_a_spectrum_without_models_has_empty_typed_values():
    """Every run has the same columns of the same types: what a model did not give is NaN,
    "" or False, never a missing key (a table's schema cannot change mid-run)."""
    a = annotation("r1") | {"predictions": [], "edge_step": float("nan")}
    row = columns(a)
    assert math.isnan(row["valence"]) and math.isnan(row["motif_probability"])
    assert math.isnan(row["edge_step"])
    assert row["motif"] == "" and row["top_candidate"] == "" and row["flags"] == ""
    assert row["ood"] is False and row["valence_plugin"] == ""
    for name, c in COLUMNS.items():
        want = {"number": float, "integer": int, "string": str, "boolean": bool}[c.dtype]
        assert type(row[name]) is want, name


def test_derived_runs_held_open_are_bounded(monkeypatch) -> None:
    """A run whose end never comes does not hold memory for ever: beyond MAX_OPEN_RUNS the
    oldest open derived run is dropped."""
    from edgestream.publish import derived

    monkeypatch.setattr(derived, "MAX_OPEN_RUNS", 3)
    runs = DerivedRuns()
    for i in range(5):
        runs.on_annotation(annotation(f"run-{i}"))
    assert list(runs._open) == ["run-2", "run-3", "run-4"]
    assert runs.on_run_end("run-0") == [] and runs.on_run_end("run-4")
