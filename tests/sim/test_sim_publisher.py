"""KafkaPublisher without a broker: bytes captured by an injected producer-like object."""

from __future__ import annotations

from typing import Any

import event_model
import msgpack
import msgpack_numpy
import numpy as np
import pytest
from bluesky import RunEngine

from edgestream_sim.beamline import SimBeamline
from edgestream_sim.plans import eels_acquisition, fly_scan, xas_step_scan
from edgestream_sim.publisher import KafkaPublisher, decode_document, topic_for


class FakeFuture:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def add_callback(self, fn):
        if not self.fail:
            fn("metadata")
        return self

    def add_errback(self, fn):
        if self.fail:
            fn(RuntimeError("broker said no"))
        return self


class FakeProducer:
    """Records (topic, key, value); can fail sends, deliveries or flushes."""

    def __init__(
        self, raise_on_send: bool = False, fail_delivery: bool = False, raise_on_flush: bool = False
    ) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []
        self.flushes = 0
        self.closed = False
        self.raise_on_send = raise_on_send
        self.fail_delivery = fail_delivery
        self.raise_on_flush = raise_on_flush

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None):
        if self.raise_on_send:
            raise TimeoutError("no metadata")
        self.messages.append((topic, key, value))
        return FakeFuture(self.fail_delivery)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1
        if self.raise_on_flush:
            raise TimeoutError("flush timed out")

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def decoded(self) -> list[tuple[str, dict[str, Any]]]:
        return [decode_document(value) for _, _, value in self.messages]


@pytest.fixture(scope="module")
def bl() -> SimBeamline:
    return SimBeamline.build(seed=9, fly_points=100, si_pixels=4)


def publish(plan, **kwargs) -> tuple[FakeProducer, KafkaPublisher, list]:
    producer = FakeProducer(**kwargs.pop("producer_kw", {}))
    pub = KafkaPublisher(None, topic_for("bl1"), producer=producer, **kwargs)
    RE = RunEngine({}, context_managers=[])
    original: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda name, doc: original.append((name, doc)))
    RE.subscribe(pub)
    RE(plan)
    return producer, pub, original


def test_topic_name():
    assert topic_for("bl1") == "bl1.bluesky.runengine.documents"


def test_round_trip_keys_and_flush(bl):
    energies = np.linspace(8950, 9010, 12)
    producer, pub, original = publish(
        xas_step_scan(bl.ic, bl.dcm_energy, bl.xas_stage, "mp-361", energies_ev=energies)
    )
    assert [m[0] for m in producer.messages] == [topic_for("bl1")] * len(original)
    start_uid = original[0][1]["uid"]
    assert {m[1] for m in producer.messages} == {start_uid.encode()}
    decoded = producer.decoded()
    assert [n for n, _ in decoded] == [n for n, _ in original]
    for (name, doc), (_, sent) in zip(decoded, original, strict=True):
        assert doc["uid"] == sent["uid"]
        if name == "event":
            assert doc["data"] == pytest.approx(sent["data"])
    # exactly the documented encoding
    raw = producer.messages[1][2]
    assert msgpack.unpackb(raw, object_hook=msgpack_numpy.decode)[0] == "descriptor"
    assert producer.flushes >= 1  # on stop
    assert pub.stats.sent["event"] == 12 and pub.stats.acked == len(original)
    assert pub.stats.failed == 0
    pub.close()
    assert producer.closed


def test_arrays_round_trip_as_events(bl):
    producer, _, original = publish(fly_scan(bl.qexafs, bl.xas_stage, "mp-1692", n_sweeps=2))
    sent_events = [d for n, d in original if n == "event"]
    got_events = [d for n, d in producer.decoded() if n == "event"]
    assert len(got_events) == 2
    for got, sent in zip(got_events, sent_events, strict=True):
        for key, value in sent["data"].items():
            assert isinstance(got["data"][key], np.ndarray)
            np.testing.assert_array_equal(got["data"][key], value)


def test_event_pages_for_array_streams(bl):
    producer, pub, original = publish(
        eels_acquisition(bl.eels_si, bl.eels_stage, "layers", n_events=5),
        event_pages=True,
        max_page_events=2,
    )
    names = [n for n, _ in producer.decoded()]
    assert names == ["start", "descriptor", "event_page", "event_page", "event_page", "stop"]
    pages = [d for n, d in producer.decoded() if n == "event_page"]
    for page in pages:
        event_model.schema_validators[event_model.DocumentNames.event_page].validate(page)
    events = [ev for page in pages for ev in event_model.unpack_event_page(page)]
    sent_events = [d for n, d in original if n == "event"]
    assert [ev["uid"] for ev in events] == [ev["uid"] for ev in sent_events]
    for got, sent in zip(events, sent_events, strict=True):
        np.testing.assert_array_equal(got["data"]["eels_spectrum"], sent["data"]["eels_spectrum"])
    start_uid = original[0][1]["uid"].encode()
    assert {m[1] for m in producer.messages} == {start_uid}
    assert pub.stats.sent["event_page"] == 3 and pub.stats.sent.get("event", 0) == 0


def test_step_scans_stay_events_with_pages_on(bl):
    producer, _, _ = publish(
        xas_step_scan(
            bl.ic, bl.dcm_energy, bl.xas_stage, "mp-361", energies_ev=np.linspace(8950, 9000, 4)
        ),
        event_pages=True,
    )
    assert [n for n, _ in producer.decoded()].count("event") == 4


@pytest.mark.parametrize(
    "producer_kw", [{"raise_on_send": True}, {"fail_delivery": True}, {"raise_on_flush": True}]
)
def test_errors_never_reach_the_run_engine(bl, producer_kw, caplog):
    _, pub, original = publish(
        eels_acquisition(bl.eels, bl.eels_stage, "CuO", n_events=2), producer_kw=producer_kw
    )
    assert original[-1][1]["exit_status"] == "success"
    assert pub.stats.failed >= 1 and pub.stats.last_error
    assert "KafkaPublisher" in caplog.text


def test_unencodable_document_is_logged(caplog):
    pub = KafkaPublisher(None, "t", producer=FakeProducer())
    pub("start", {"uid": "u1", "time": 0.0, "bad": object()})
    assert pub.stats.failed == 1 and pub.stats.sent["start"] == 0
