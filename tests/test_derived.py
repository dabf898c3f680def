"""Annotations re-emitted as a derived Bluesky run that points at the original run."""

import event_model

from edgestream.derived import DerivedRuns, derived_uid, split_event_page


def annotation(run_uid, n=3):
    return {
        "ids": {"run_uid": run_uid}, "beamline": "bmm", "software": {"name": "edgestream"},
        "spectrum": {"norm": [0.0, None, 1.0][:n]}, "e0": 8980.1, "edge_step": 1.2,
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
