"""Helpers for the agent tests: annotations as the service publishes them, and a fast
noise model of a gradient sample's quantity."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edgestream_agent.compare import Response


def annotation(run_uid: str, *, value: float | None = None, sigma: float | None = None,
               shift: float | None = 1.0, e0: float = 8980.0, sample: str = "s1",
               norm: list[float | None] | None = None, ood: bool = False,
               modality: str = "xas_transmission", seq: int = 1, px: int = 0,
               motif: str | None = None) -> dict[str, Any]:
    """A minimal annotation with the fields agents and the live page read."""
    preds: list[dict[str, Any]] = []
    if shift is not None:
        preds.append({"plugin": "edge_features", "version": "1", "model_sha256": None,
                      "provider": None, "outputs": {"edge_shift_ev": shift}})
    if value is not None:
        preds.append({"plugin": "valence", "version": "1", "model_sha256": "x",
                      "provider": "CPUExecutionProvider",
                      "outputs": {"value": value, "uncertainty": sigma, "ood": ood}})
    if motif is not None:
        preds.append({"plugin": "motif", "version": "1", "model_sha256": "x", "provider": None,
                      "outputs": {"value": motif, "probability": 0.8}})
    grid = np.arange(-20.0, 80.25, 0.5)
    if norm is None:
        norm = list(np.clip((grid + 2.0) / 4.0, 0, 1))
    return {
        "schema_version": "1.0", "annotation_id": str(uuid.uuid4()), "kind": "final",
        "ids": {"run_uid": run_uid, "descriptor_uid": "d", "stream": "primary",
                "seq_range": [seq, seq], "index_in_event": px},
        "beamline": "sim", "sample": sample, "element": "Cu", "edge": "K",
        "element_source": "metadata", "modality": modality, "e0": e0, "edge_step": 1.0,
        "energy_calibration": {"shift_ev": 0.0, "source": "none"},
        "edge_features": {"white_line_energy": None, "white_line_height": None,
                          "pre_edge_centroid": None},
        "normalization": {"method": "pre_edge", "parameters": {}},
        "spectrum": {"grid": {"start": -20.0, "stop": 80.0, "step": 0.5, "relative_to": "e0"},
                     "norm": norm, "n_points_measured": 100, "energy_range": [8800.0, 9300.0]},
        "predictions": preds,
        "timing": {"event_time": [1.0, 2.0], "processing_s": 0.01, "published_at": 3.0},
        "software": {"name": "edgestream", "version": "0"},
    }


def start(uid: str, x: float | None, sample: str = "s1", suggestion: str | None = None
          ) -> dict[str, Any]:
    doc: dict[str, Any] = {"uid": uid, "time": 0.0, "sample": sample}
    if x is not None:
        doc["sample_position"] = {"x": x}
    if suggestion:
        doc["agent_suggestion_uid"] = suggestion
    return doc


def linear_response(levels: tuple[float, float, float] = (0.0, 1.0, 2.0), noise: float = 0.05,
                    repeats: int = 16, seed: int = 0) -> Response:
    """A quantity linear in the phase fractions (as a valence model's), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    f = np.linspace(0.0, 1.0, 21)
    values = np.stack([lo + (hi - lo) * f for lo, hi in itertools.pairwise(levels)])
    values = values[:, :, None] + rng.normal(0, noise, (2, 21, repeats))
    spectra = np.repeat(values[..., None], 4, axis=3)  # 4-point "spectra" track the value
    return Response(f, values, np.full_like(values, np.nan), spectra, "valence.value", 0.0)


@pytest.fixture
def make_annotation() -> Callable[..., dict[str, Any]]:
    return annotation


@pytest.fixture
def make_start() -> Callable[..., dict[str, Any]]:
    return start


@pytest.fixture
def linear() -> Callable[..., Response]:
    return linear_response
