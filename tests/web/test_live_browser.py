"""The live page in a real headless Chromium while a stream runs through a real broker.

The simulated beamline publishes step scans and an EELS spectrum image to Tansu, the
service annotates them and feeds the page, an agent report arrives: the page must draw
the measured and normalized spectra with their annotation, the run's series, the EELS
map, the agent's map and the health panel. ``EDGESTREAM_SCREENSHOT=docs/live-page.png``
keeps a screenshot.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from chromedriver_client import Browser, find

from edgestream.apps.web.live import build_live_service
from edgestream.config.settings import Settings
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream_agent.base import StageAgent
from edgestream_agent.strategies import BoundaryStrategy, Bounds
from edgestream_dev.procs import wait_until
from edgestream_sim.beamline import run_beamline

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(360)]

CHROMIUM, DRIVER, MISSING = find()

STATE_JS = """
const S = window.edgestream || {};
const c = document.getElementById('raw');
let inked = 0;
if (c && c.width) {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
}
return {drawn: S.drawn || {}, received: S.received || {}, inked: inked,
        status: document.getElementById('status').dataset.state,
        annotation: document.getElementById('annotation').dataset.annotationId || null,
        caption: document.getElementById('annotation').textContent,
        eels: document.getElementById('eels-caption').textContent,
        agent: document.getElementById('agent-caption').textContent};
"""


def agent_report() -> dict:
    """A report from a real agent that has seen a few points of a gradient sample."""
    a = StageAgent(strategy_factory=lambda: BoundaryStrategy(Bounds(0, 60), 2, 0.5, 0.05),
                   plan_name="gradient_xas_scan", instance_name="browser-test-agent",
                   ask_on_ingest=False)
    for i, (x, v) in enumerate([(0, 0.0), (12, 0.0), (24, 1.0), (36, 1.0), (48, 2.0),
                                (60, 2.0)]):
        a.on_document("start", {"uid": f"r{i}", "sample": "Cu gradient",
                                "sample_position": {"x": x}})
        a.on_annotation({"annotation_id": f"a{i}", "ids": {"run_uid": f"r{i}"},
                         "element": "Cu", "edge": "K", "e0": 8980.0,
                         "spectrum": {"grid": {"start": -20, "stop": 80, "step": 0.5},
                                      "norm": [0.0, 1.0]},
                         "predictions": [{"plugin": "valence", "outputs": {"value": v}}]})
    a.suggest("Cu gradient")
    return a.report()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_live_page_renders_the_stream_in_chromium(tansu_broker, topic_prefix, tmp_path) -> None:
    bootstrap, beamline = tansu_broker.bootstrap_servers, topic_prefix
    s = Settings(beamline=beamline)
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.topics = [f"{beamline}.bluesky.runengine.documents"]
    s.kafka.group_id = f"{beamline}-live"
    s.kafka.session_timeout_ms = 2 * FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    create_topics(bootstrap, [s.kafka.topics[0], f"{beamline}.xas.annotations",
                              f"{beamline}.xas.deadletter", f"{beamline}.xas.derived.documents"],
                  partitions=2)
    service, live, server = build_live_service(s, port=0)
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()
    browser = Browser(CHROMIUM, DRIVER)
    try:
        browser.get(server.url)
        live_now = wait_until(lambda: browser.js(STATE_JS)["status"] == "live", 30,
                              "live page", interval=0.3, strict=False)
        assert live_now, "the page never connected to /events"
        live.on_agent(agent_report())
        run_beamline(bootstrap, beamline=beamline, n_step=2, n_fly=0, n_eels=1, seed=3)
        want = {"raw", "norm", "series", "eels", "agent", "health"}

        def all_drawn(st: dict) -> bool:
            return want <= set(st["drawn"]) and st["received"].get("spectrum", 0) >= 3

        wait_until(lambda: all_drawn(browser.js(STATE_JS)), 150, "drawn panels", interval=0.5,
                   strict=False)
        st = browser.js(STATE_JS)
        assert all_drawn(st), st
        time.sleep(1.5)  # let the last events land before the screenshot
        st = browser.js(STATE_JS)
        shot = browser.screenshot(Path(os.environ.get("EDGESTREAM_SCREENSHOT") or
                                       tmp_path / "live-page.png"))
    finally:
        browser.close()
        stop.set()
        worker.join(timeout=20)
        server.close()
    assert st["inked"] > 2000  # the measured spectrum is drawn, not an empty canvas
    assert st["annotation"] and st["annotation"] in st["caption"]
    assert live.latest is not None
    # The last annotation drawn is either the XAS (Cu K) or the EELS (Cu L2,3) spectrum.
    assert "Cu K" in st["caption"] or "Cu L2,3" in st["caption"], st["caption"]
    assert "pixels" in st["eels"] and "browser-test-agent" in st["agent"]
    assert st["received"]["series"] >= 3 and st["received"]["health"] >= 1
    assert shot.read_bytes()[:4] == b"\x89PNG"
