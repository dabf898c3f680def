"""Shared fixtures: real Kafka brokers (Tansu and Apache Kafka) and unique topic names.

- ``kafka_broker``: session-scoped, parametrized ``[tansu]`` / ``[apache]``; yields a
  :class:`brokers.Broker` with ``.kind`` and ``.bootstrap_servers``. The ``apache`` variant
  carries the ``apache`` mark, so ``pytest -m "integration and not apache"`` runs Tansu only.
- ``tansu_broker`` / ``apache_broker``: one broker each (the same instances as above).
- ``apache_cluster``: three Apache Kafka nodes (slow to start; nodes a test kills are
  restarted before the next test that uses it).
- ``topic_prefix``: a unique topic-name prefix per test.

Apache Kafka is skipped when ``java`` is missing or ``EDGESTREAM_SKIP_APACHE=1``. Brokers are
stopped by PID at session end. Nothing here needs Java or the network at collection time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from brokers import (
    FIGURES,
    STARTED,
    Broker,
    apache_skip_reason,
    heal,
    start_apache,
    start_tansu,
    unique_topic_prefix,
)
from hypothesis import settings

# Property tests draw the same examples on every run (CI is reproducible; a failure seen once
# is seen again); HYPOTHESIS_PROFILE=explore searches afresh.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tansu_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """An embedded Tansu broker on a free port (memory storage)."""
    broker = start_tansu(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.stop()


def _apache(tmp_path_factory: pytest.TempPathFactory, name: str, nodes: int) -> Iterator[Broker]:
    reason = apache_skip_reason()
    if reason:
        pytest.skip(reason)
    broker = start_apache(tmp_path_factory.mktemp(name), nodes=nodes)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def apache_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A single-node Apache Kafka (KRaft) on free ports; skipped without Java."""
    yield from _apache(tmp_path_factory, "apache-kafka", 1)


@pytest.fixture(scope="session")
def _apache_cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    yield from _apache(tmp_path_factory, "apache-cluster", 3)


@pytest.fixture
def apache_cluster(_apache_cluster_session: Broker) -> Broker:
    """Three Apache Kafka nodes; ``.handle`` is the ApacheKafka (kill_node/restart_node)."""
    heal(_apache_cluster_session)
    return _apache_cluster_session


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("tansu", id="tansu"),
        pytest.param("apache", id="apache", marks=pytest.mark.apache),
    ],
)
def kafka_broker(request: pytest.FixtureRequest) -> Broker:
    """Each broker kind in turn: ``.kind`` ("tansu"/"apache") and ``.bootstrap_servers``."""
    return request.getfixturevalue(f"{request.param}_broker")


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A unique prefix for this test's topic and group names, e.g. ``es-test-x-tansu-1a2b3c4d``."""
    return unique_topic_prefix(request.node.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the brokers this session started, how long they took, and the fault figures."""
    if STARTED:
        terminalreporter.section("edgestream brokers")
        for broker in STARTED:
            terminalreporter.write_line(broker.describe())
    if FIGURES:
        terminalreporter.section("edgestream measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
