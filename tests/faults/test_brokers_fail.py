"""Faults 4 and 5: the broker dies under the service, which rides through by itself.

4. One Apache Kafka node, kill -9'd and restarted with its data: the service resumes within
   10 s of the broker's return; every run published before and after is annotated once.
5. Three nodes, replication factor 3, min.insync.replicas 2, acks=all: the leader of the
   partitions in use is killed mid-stream; nothing is lost and the service is not restarted.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from brokers import report
from harness import (
    Expected,
    beamline_topics,
    fly_run,
    publish_runs,
    read_complete,
    start_service,
    verdict,
)
from kafka import KafkaConsumer

from edgestream_dev.apache import ApacheKafka
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.apache, pytest.mark.slow,
              pytest.mark.timeout(600)]


@pytest.fixture
def own_apache(tmp_path):
    """A single node of our own: killing it must not disturb the other tests' broker."""
    from brokers import apache_skip_reason

    reason = apache_skip_reason()
    if reason:
        pytest.skip(reason)
    from edgestream_dev.apache import free_base_port

    kafka = ApacheKafka(workdir=tmp_path / "kafka", nodes=1, base_port=free_base_port(1))
    kafka.start()
    yield kafka
    kafka.stop()


def test_single_node_killed_and_restarted(own_apache, tmp_path):
    bootstrap, beamline = own_apache.bootstrap_servers, "restart"
    topic, out_topic = beamline_topics(bootstrap, beamline)
    rng = np.random.default_rng(4)
    before, after = [fly_run(rng) for _ in range(30)], [fly_run(rng) for _ in range(30)]
    exp_before, exp_all = Expected.of(before), Expected.of(before, after)
    service = start_service(tmp_path, bootstrap, beamline, "exactly_once")
    try:
        publish_runs(bootstrap, topic, before)
        read_complete(bootstrap, out_topic, exp_before, 120)
        own_apache.kill_node(1)
        time.sleep(5)  # the broker stays down a while (the service retries meanwhile)
        back_in = own_apache.restart_node(1)
        t_back = time.monotonic()
        publish_runs(bootstrap, topic, after)
        first_new = _first_annotation_of(bootstrap, out_topic, {d[0][1]["uid"] for d in after})
        resumed_in = first_new - t_back
        annotations = read_complete(bootstrap, out_topic, exp_all, 180)
        assert service.alive(), service.log.read_text()[-3000:]
    finally:
        service.stop()
    v = verdict(annotations, exp_all)
    report(f"broker back in {back_in:.1f} s; service annotated new runs {resumed_in:.1f} s "
          f"after the broker's return; {v}")
    assert v["lost"] == {} and v["raw_duplicates"] == 0, v
    assert resumed_in <= 10.0


def _first_annotation_of(bootstrap: str, topic: str, runs: set[str]) -> float:
    """When the first annotation of one of ``runs`` arrived (time.monotonic())."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", isolation_level="read_committed")

    def arrived() -> float | None:
        for msgs in consumer.poll(200).values():
            if any(m.key and m.key.decode() in runs for m in msgs):
                return time.monotonic()
        return None

    try:
        return wait_until(arrived, 120, "annotation of the runs published after the restart",
                          interval=0)
    finally:
        consumer.close()


def leader_of(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        consumer.topics()
        leaders = [consumer._client.cluster.leader_for_partition(tp)
                   for tp in _partitions(consumer, topic)]
    finally:
        consumer.close()
    return max(set(leaders), key=leaders.count)


def _partitions(consumer, topic):
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]


def test_leader_killed_in_a_three_node_cluster(apache_cluster, tmp_path):
    bootstrap, beamline = apache_cluster.bootstrap_servers, f"leader{int(time.time())}"
    topic, out_topic = beamline_topics(bootstrap, beamline, replication=3,
                                       config={"min.insync.replicas": "2"})
    rng = np.random.default_rng(8)
    runs = [fly_run(rng) for _ in range(80)]
    expected = Expected.of(runs)
    service = start_service(tmp_path, bootstrap, beamline, "at_least_once")
    publisher = threading.Thread(target=publish_runs, args=(bootstrap, topic, runs, 0.15))
    try:
        publisher.start()
        time.sleep(4)  # mid-stream: the leader dies with runs in flight
        victim = leader_of(bootstrap, topic)
        apache_cluster.handle.kill_node(victim)
        publisher.join()
        annotations = read_complete(bootstrap, out_topic, expected, 240)
        assert service.alive(), "the service must ride through without a restart"
    finally:
        publisher.join()
        service.stop()
    v = verdict(annotations, expected)
    report(f"killed leader node {victim} mid-stream: {v}")
    assert v["lost"] == {}, v
    assert v["unique"] == v["spectra"]
