"""``make demo`` in short: the agent steers the simulated stage while the beamline runs."""

from __future__ import annotations

import pytest

from edgestream_sim.demo import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


def test_demo_shows_the_agent_steering(capsys) -> None:
    # 60 s: on a loaded machine the broker, service and agent start-up take a third of 30 s
    rc = run_demo(duration=60.0, metrics_port=0, live_port=0, seed=3, compare=False)
    out = capsys.readouterr().out
    assert rc == 0
    assert "agent -> gradient_xas_scan(x=0.000 mm) on Cu gradient A: seed" in out
    steered = [line for line in out.splitlines() if "most informative point" in line or
               "widest gap" in line or "plateau" in line]
    assert steered, out[-2000:]  # beyond the seeds: chosen from the annotations
    assert "agent on 'Cu gradient A':" in out and "boundaries found at" in out
    assert "dead letters: 3" in out
