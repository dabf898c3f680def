"""The one publishing policy every door uses: where outputs go, dead letters, derived
documents, the size limit and its halving, without a broker for the files door."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from edgestream.config.settings import Settings
from edgestream.documents.wire import decode
from edgestream.doors.files.door import annotate_file
from edgestream.errors import MalformedDocument
from edgestream.metrics import Metrics
from edgestream.pipeline import Failure, Outcome
from edgestream.publish.annotation import to_json
from edgestream.publish.policy import MIN_MESSAGE_BYTES, Message, PublishPolicy, SizeLimit

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def annotation() -> dict[str, Any]:
    (a,) = annotate_file(DATA / "experimental/ZnO.xdi", Settings(), []).annotations
    return a


def fresh(a: dict[str, Any], run_uid: str, seq: int = 1) -> dict[str, Any]:
    """A copy of ``a`` as the ``seq``-th spectrum of ``run_uid``."""
    b = copy.deepcopy(a)
    b["ids"].update(run_uid=run_uid, seq_range=[seq, seq])
    b["annotation_id"] = str(uuid.uuid4())
    return b


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def policy(**kw: Any) -> tuple[PublishPolicy, list[Message]]:
    sent: list[Message] = []
    return PublishPolicy(Settings(beamline="bl"), Metrics(), sent.append, **kw), sent


def test_outputs_go_to_the_run_beamlines_topics(annotation) -> None:
    p, sent = policy()
    p.note_run("r1", "b7")
    a = fresh(annotation, "r1")
    bad = Failure(MalformedDocument("a broken event"), run_uid="r1", document_name="event")
    batch = p.publish(Outcome(annotations=[a], failures=[bad]), ["r1"])
    assert [(m.topic, m.key) for m in sent] == [
        ("b7.xas.deadletter", "r1"), ("b7.xas.annotations", "r1"),
        *[("b7.xas.derived.documents", "r1")] * 4]
    assert json.loads(sent[0].value)["reason"] == "malformed_document"
    assert sent[1].annotation is a and json.loads(sent[1].value) == a
    assert a["timing"]["published_at"] > 0 and batch.annotations == [a]
    assert [decode(m.value)[0] for m in sent[2:]] == ["start", "descriptor", "event_page",
                                                      "stop"]
    assert [name for _, name, _ in batch.derived] == ["start", "descriptor", "event_page",
                                                     "stop"]
    assert p.run_beamline == {}  # forgotten with the run's end
    p.publish(Outcome(annotations=[fresh(annotation, "r2")]))
    assert sent[-1].topic == "bl.xas.derived.documents"  # a run of no known beamline


def test_an_annotation_over_the_limit_is_a_dead_letter(annotation) -> None:
    p, sent = policy()
    a = fresh(annotation, "r1")
    # the limit is measured on the stamped annotation: a stamp of time.time() is 9 or more
    # characters longer than 0.0 (a stamp left by an earlier test could be shorter)
    a["timing"]["published_at"] = 0.0
    p.limit.bytes = len(to_json(a)) + 8
    batch = p.publish(Outcome(annotations=[a]))
    assert batch.annotations == [] and batch.derived == []
    (dead,) = sent
    body = json.loads(dead.value)
    assert dead.topic == "bl.xas.deadletter" and body["reason"] == "output_too_large"
    assert body["context"]["size"] == len(to_json(a)) and body["document_name"] == "annotation"
    assert value(p.metrics, "edgestream_errors_total", reason="output_too_large") == 1


def test_an_event_page_over_the_limit_goes_as_several(annotation) -> None:
    p, sent = policy()
    one = len(to_json(annotation))
    p.limit.bytes = max(MIN_MESSAGE_BYTES, 3 * one)
    annotations = [fresh(annotation, "r1", i) for i in range(1, 41)]
    batch = p.publish(Outcome(annotations=annotations))
    assert len(batch.annotations) == 40
    pages = [decode(m.value)[1] for m in sent if m.topic.endswith("derived.documents")
             and decode(m.value)[0] == "event_page"]
    assert len(pages) > 1 and all(len(m.value) <= p.limit.bytes for m in sent)
    assert sum(len(page["seq_num"]) for page in pages) == 40
    assert not any(m.topic.endswith("deadletter") for m in sent)


def test_the_limit_halves_down_to_its_floor() -> None:
    limit = SizeLimit(1_000_000)
    seen = []
    while limit.follow_refusal(refused_bytes=900_000):
        seen.append(limit.bytes)
    assert seen == [500_000, 250_000, 125_000, MIN_MESSAGE_BYTES]
    assert limit.bytes == MIN_MESSAGE_BYTES and not limit.follow_refusal()


def test_without_a_broker_nothing_is_encoded_and_the_caller_gets_the_annotations(
        annotation) -> None:
    p = PublishPolicy(Settings(), Metrics(), None, quiet=True)
    p.limit.bytes = 10  # nothing to measure against: no broker
    a = fresh(annotation, "r1")
    bad = Failure(MalformedDocument("broken"), run_uid="r1")
    batch = p.publish(Outcome(annotations=[a], failures=[bad]), ["r1"])
    assert batch.annotations == [a] and batch.derived == []  # derived documents need a broker
    assert value(p.metrics, "edgestream_dead_letters_total", reason="malformed_document") == 1


def test_delivered_counts_and_survives_a_broken_consumer(annotation) -> None:
    seen = []

    def broken(a: dict[str, Any]) -> None:
        seen.append(a["annotation_id"])
        raise ValueError("consumer bug")

    p, _ = policy(on_annotation=broken)
    batch = p.publish(Outcome(annotations=[fresh(annotation, "r1", i) for i in (1, 2)]))
    p.delivered(batch)
    assert len(seen) == 2
    assert value(p.metrics, "edgestream_errors_total", reason="internal") == 2
    assert value(p.metrics, "edgestream_annotations_published_total", kind="final") == 2
    p.delivered(p.publish(Outcome(annotations=[fresh(annotation, "r1", 3)])), acked=False)
    assert value(p.metrics, "edgestream_annotations_published_total", kind="final") == 2
