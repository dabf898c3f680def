"""Simulated beamline: Cu K-edge XAS (FEFF9 references) and Cu and Mn L2,3 EELS (FEFF10 Cu,
edrixs multiplet Mn references).

Bluesky plans run by a real RunEngine on ophyd.sim-based devices; every document is
published to Kafka (``<beamline>.bluesky.runengine.documents``) by :class:`KafkaPublisher`.
Names are imported lazily, so ``edgestream_sim.spectra`` needs only numpy.

    from edgestream_sim import run_beamline
    summary = run_beamline("localhost:9092", beamline="sim", duration=60)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_beamline": "beamline",
    "SimBeamline": "beamline",
    "BeamlineSummary": "beamline",
    "KafkaPublisher": "publisher",
    "topic_for": "publisher",
    "encode_document": "publisher",
    "decode_document": "publisher",
    "xas_step_scan": "plans",
    "fly_scan": "plans",
    "fluorescence_scan": "plans",
    "FluorescenceDetector": "fluorescence",
    "eels_acquisition": "plans",
    "load_fixture": "spectra",
    "FEFF9_ENERGY_SHIFT_EV": "spectra",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
