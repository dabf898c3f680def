"""Assemble an agent process from a few settings: strategy, quantity, positions,
transports, Kafka; as edgestream's own agent (``StageAgent``) or as a bluesky-adaptive
agent (``adaptive.EdgestreamAgent``, with the ``agent`` extra)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream.apps.quantity import QuantitySpec
from edgestream.config.settings import Settings
from edgestream.errors import UnknownElement
from edgestream.physics import edge_energy
from edgestream_agent.base import DEFAULT_EDGE, StageAgent, Transport
from edgestream_agent.kmeans import KMeansStrategy
from edgestream_agent.positions import PositionSpec
from edgestream_agent.runner import AgentRunner
from edgestream_agent.strategies import (
    BoundaryStrategy,
    Bounds,
    GridStrategy,
    Strategy,
    UncertaintyStrategy,
)
from edgestream_agent.transports import (
    ADJUDICATOR_TOPIC,
    AdjudicatorTopic,
    DryRun,
    QueueServer,
    queue_protocol,
    re_manager_api,
)

log = logging.getLogger(__name__)

STRATEGIES = ("boundary", "uncertainty", "kmeans", "grid")
FRAMEWORKS = ("edgestream", "bluesky-adaptive")


@dataclass
class AgentConfig:
    """What an agent process needs beyond the Kafka settings."""

    sample: str = "Cu gradient"
    strategy: str = "boundary"
    quantity: QuantitySpec = field(default_factory=QuantitySpec)
    element: str = DEFAULT_EDGE[0]  # the edge of the spectra kept with each observation
    edge: str = DEFAULT_EDGE[1]
    bounds: tuple[float, float] = (0.0, 60.0)
    n_boundaries: int = 2
    tolerance: float = 0.5  # mm
    sigma_floor: float = 0.05  # in units of the quantity
    n_seed: int = 6
    max_scans: int = 60
    grid_points: int = 31
    k_clusters: int = 3
    length_scale: float = 3.0  # mm, uncertainty strategy
    plan_name: str = "gradient_xas_scan"
    plan_kwargs: dict[str, Any] = field(default_factory=dict)
    plan_motor: str | None = None  # bluesky-adaptive: plan(motor, x), as BMM's agent plans
    positions: PositionSpec = field(default_factory=PositionSpec)
    qserver: str | None = None
    qserver_protocol: str = "auto"  # http (bluesky-httpserver) or zmq (RE Manager), or from
    # the address
    qserver_api_key_env: str = "QSERVER_API_KEY"
    adjudicator: bool = False
    dry_run: bool = False
    seed: int = 0
    framework: str = "edgestream"

    def __post_init__(self) -> None:
        try:
            edge_energy(self.element, self.edge)
        except UnknownElement as exc:
            raise ValueError(f"--element/--edge: {exc}") from exc
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}, not {self.framework!r}")
        if self.qserver:
            queue_protocol(self.qserver, self.qserver_protocol)  # refuse a bad address now

    def qserver_api_key(self) -> str | None:
        """The HTTP server's key from the environment (0MQ has none)."""
        if not self.qserver or queue_protocol(self.qserver, self.qserver_protocol) != "http":
            return None
        return os.environ.get(self.qserver_api_key_env)


def make_strategy(cfg: AgentConfig) -> Callable[[], Strategy]:
    """A factory of fresh strategies (one per sample)."""
    b = Bounds(*cfg.bounds)
    rng = np.random.default_rng(cfg.seed)
    factories: dict[str, Callable[[], Strategy]] = {
        "boundary": lambda: BoundaryStrategy(b, cfg.n_boundaries, cfg.tolerance,
                                             cfg.sigma_floor, n_seed=cfg.n_seed,
                                             max_scans=cfg.max_scans),
        "uncertainty": lambda: UncertaintyStrategy(b, cfg.length_scale, cfg.sigma_floor,
                                                   n_seed=cfg.n_seed),
        "kmeans": lambda: KMeansStrategy(b, cfg.k_clusters, rng, n_seed=cfg.n_seed),
        "grid": lambda: GridStrategy(b, cfg.grid_points),
    }
    if cfg.strategy not in factories:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {cfg.strategy!r}")
    return factories[cfg.strategy]


def make_transports(cfg: AgentConfig, settings: Settings, agent_name: str) -> list[Transport]:
    out: list[Transport] = [DryRun()]
    if cfg.dry_run:
        return out
    if cfg.qserver:
        out.append(QueueServer(cfg.qserver, api_key=cfg.qserver_api_key(),
                               protocol=cfg.qserver_protocol, start_if_idle=True))
    if cfg.adjudicator:
        from edgestream.doors.kafka.clients import make_producer

        out.append(AdjudicatorTopic(make_producer(settings.kafka), agent_name,
                                    settings.beamline))
    return out


def build_agent(cfg: AgentConfig, settings: Settings,
                on_report: Callable[[dict[str, Any]], None] | None = None) -> StageAgent:
    agent = StageAgent(strategy_factory=make_strategy(cfg), plan_name=cfg.plan_name,
                       plan_kwargs=cfg.plan_kwargs, quantity=cfg.quantity, on_report=on_report,
                       positions=cfg.positions, spectrum_edge=(cfg.element, cfg.edge),
                       instance_name=f"edgestream-{cfg.strategy}-{os.getpid()}")
    agent.transports = make_transports(cfg, settings, agent.instance_name)
    return agent


def run_agent(cfg: AgentConfig, settings: Settings, stop: threading.Event,
              on_report: Callable[[dict[str, Any]], None] | None = None) -> StageAgent:
    """Consume until ``stop``; the first suggestions for ``cfg.sample`` go out at once."""
    agent = build_agent(cfg, settings, on_report)
    runner = AgentRunner(agent, settings.kafka, settings.beamline)
    thread = threading.Thread(target=runner.run, args=(stop,), name="agent", daemon=True)
    thread.start()
    runner.caught_up.wait(timeout=60)  # a restarted agent first re-reads what it knew
    agent.suggest(cfg.sample)
    thread.join()
    return agent


def run_adaptive_agent(cfg: AgentConfig, settings: Settings, stop: threading.Event,
                       on_started: Callable[[Any], None] | None = None) -> Any:
    """The same strategy as a bluesky-adaptive agent: consume until ``stop``, suggesting
    through bluesky-adaptive's own queue (or adjudicator) path. Without a queue server (or
    with ``dry_run``) bluesky-adaptive's offline ``REManagerSmoke`` keeps the plans."""
    import warnings

    from edgestream_agent.adaptive import (
        AdjudicatorPublisher,
        AgentDocuments,
        AnnotatedRuns,
        AnnotationConsumer,
        EdgestreamAgent,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from bluesky_adaptive.utils.offline import OfflineProducer, REManagerSmoke

    runs = AnnotatedRuns(cfg.positions)
    suffix = str(os.getpid())
    consumer = AnnotationConsumer(
        runs, settings.kafka,
        documents_topic=f"{settings.beamline}.bluesky.runengine.documents",
        annotations_topic=settings.kafka.annotations_topic.format(beamline=settings.beamline),
        group_id=f"{settings.kafka.group_id}-adaptive-{suffix}")
    qserver = re_manager_api(cfg.qserver, cfg.qserver_protocol, cfg.qserver_api_key()) \
        if cfg.qserver and not cfg.dry_run else REManagerSmoke()
    producer: Any = OfflineProducer()
    if cfg.adjudicator and not cfg.dry_run:
        from edgestream.doors.kafka.clients import make_producer

        producer = AdjudicatorPublisher(make_producer(settings.kafka),
                                        ADJUDICATOR_TOPIC.format(beamline=settings.beamline),
                                        key=f"edgestream-{suffix}")
    agent = EdgestreamAgent(
        strategy=make_strategy(cfg)(), plan_name=cfg.plan_name, plan_kwargs=cfg.plan_kwargs,
        plan_motor=cfg.plan_motor, quantity=cfg.quantity, positions=cfg.positions,
        sample=cfg.sample, agent_run_suffix=suffix, kafka_consumer=consumer,
        tiled_data_node=runs, tiled_agent_node=AgentDocuments(), kafka_producer=producer,
        qserver=qserver, direct_to_queue=not cfg.adjudicator)
    agent.start()
    consumer.caught_up.wait(timeout=60)  # a restarted agent first re-reads what it knew
    if not agent.pending:
        if agent._direct_to_queue:
            agent.add_suggestions_to_queue(1)
        else:
            agent.generate_suggestions_for_adjudicator(1)
    if on_started is not None:
        on_started(agent)
    stop.wait()
    agent.stop()
    if hasattr(qserver, "close"):
        qserver.close()
    if isinstance(producer, AdjudicatorPublisher):
        producer.producer.close(timeout=5)
    return agent
