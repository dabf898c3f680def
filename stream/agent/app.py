"""Assemble an agent process from a few settings: strategy, quantity, transports, Kafka."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgestream.agent.base import StageAgent, Transport
from edgestream.agent.kmeans import KMeansStrategy
from edgestream.agent.observation import QuantitySpec
from edgestream.agent.runner import AgentRunner
from edgestream.agent.strategies import (
    BoundaryStrategy,
    Bounds,
    GridStrategy,
    Strategy,
    UncertaintyStrategy,
)
from edgestream.agent.transports import AdjudicatorTopic, DryRun, QueueServer
from edgestream.settings import Settings

log = logging.getLogger(__name__)

STRATEGIES = ("boundary", "uncertainty", "kmeans", "grid")


@dataclass
class AgentConfig:
    """What an agent process needs beyond the Kafka settings."""

    sample: str = "Cu gradient"
    strategy: str = "boundary"
    quantity: QuantitySpec = field(default_factory=QuantitySpec)
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
    qserver: str | None = None
    qserver_api_key_env: str = "QSERVER_API_KEY"
    adjudicator: bool = False
    dry_run: bool = False
    seed: int = 0


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
        out.append(QueueServer(cfg.qserver, api_key=os.environ.get(cfg.qserver_api_key_env),
                               start_if_idle=True))
    if cfg.adjudicator:
        from edgestream.kafka.clients import make_producer

        out.append(AdjudicatorTopic(make_producer(settings.kafka), agent_name,
                                    settings.beamline))
    return out


def build_agent(cfg: AgentConfig, settings: Settings,
                on_report: Callable[[dict[str, Any]], None] | None = None) -> StageAgent:
    agent = StageAgent(strategy_factory=make_strategy(cfg), plan_name=cfg.plan_name,
                       plan_kwargs=cfg.plan_kwargs, quantity=cfg.quantity, on_report=on_report,
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
