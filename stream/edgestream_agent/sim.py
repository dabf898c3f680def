"""A steerable simulated beamline: a gradient sample on a stage, its own RunEngine, and a
local queue the agent fills over HTTP. Every document goes to Kafka, like the beamline's."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from bluesky import RunEngine
from bluesky.preprocessors import SupplementalData

from edgestream_agent.gradient import GradientSample, GradientStage, gradient_xas_scan
from edgestream_agent.localqueue import LocalQueueServer
from edgestream_sim.devices import EnergyAxis, IonChambers, PhotonBeam
from edgestream_sim.publisher import KafkaPublisher, topic_for

PLAN_NAME = "gradient_xas_scan"


class SteeredGradient:
    """Devices, RunEngine, publisher and local queue for one gradient sample."""

    def __init__(self, bootstrap_servers: str | None, beamline: str, sample: GradientSample,
                 seed: int = 0, point_delay_s: float = 0.0,
                 subscribers: tuple[Any, ...] = (), baseline_stage: str | None = None) -> None:
        """``baseline_stage``: record the stage under that name in the baseline stream
        only, as NSLS-II BMM does (``"xafs_x"``), instead of in the start document."""
        rng = np.random.default_rng(seed)
        beam = PhotonBeam()
        self.sample = sample
        self.stage = GradientStage(sample=sample, rng=rng, name=baseline_stage or "sample_x")
        self.ic = IonChambers(stage=self.stage, beam=beam, delay_s=point_delay_s)  # type: ignore[arg-type]
        self.mono = EnergyAxis(beam=beam)
        self.RE = RunEngine({}, context_managers=[])
        self.publisher = None
        if bootstrap_servers is not None:
            self.publisher = KafkaPublisher(bootstrap_servers, topic_for(beamline))
            self.RE.subscribe(self.publisher)
        for cb in subscribers:
            self.RE.subscribe(cb)
        if baseline_stage:
            self.RE.preprocessors.append(SupplementalData(baseline=[self.stage]))
        plan = functools.partial(gradient_xas_scan, self.ic, self.mono, self.stage,
                                 beamline_id=beamline, position_in_start=not baseline_stage)
        self.queue = LocalQueueServer(self.RE, {PLAN_NAME: plan}).start()

    @property
    def uri(self) -> str:
        return self.queue.uri

    def close(self) -> None:
        self.queue.close()
        if self.publisher is not None:
            self.publisher.close()
