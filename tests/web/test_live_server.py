"""The live page over HTTP: page, script, snapshot and server-sent events."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from edgestream.apps.web.server import LiveServer, clean, dumps
from edgestream.apps.web.state import LiveState

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served():
    live = LiveState()
    server = LiveServer(live, health_interval=0.2, keepalive=0.5).start()
    yield live, server
    server.close()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers["Content-Type"], r.read()


def test_page_script_and_snapshot_from_localhost(served) -> None:
    _, server = served
    assert server.url.startswith("http://127.0.0.1:")
    status, ctype, body = get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    assert b'<script src="/static/app.js">' in body and b"https://" not in body
    _, ctype, js = get(server.url + "static/app.js")
    assert ctype.startswith("text/javascript") and b"EventSource" in js
    assert b"http" not in js.replace(b"/events", b"")  # nothing fetched from the internet
    state = json.loads(get(server.url + "api/state")[2])
    assert state["latest"] is None and state["health"]["annotations"] == 0
    assert json.loads(get(server.url + "healthz")[2])["ok"] is True
    with pytest.raises(urllib.error.HTTPError):
        get(server.url + "static/../secrets")


def test_events_stream_annotations_agent_and_health(served) -> None:
    live, server = served
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    events: list[tuple[str, dict]] = []
    got = threading.Event()

    def read() -> None:
        name = None
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
                if {"agent", "health"} <= {e for e, _ in events}:
                    got.set()
                    return

    threading.Thread(target=read, daemon=True).start()
    deadline = 50
    while not live.n_subscribers and deadline:
        got.wait(0.1)
        deadline -= 1
    live.on_agent({"agent_name": "a", "samples": {"s": {"map": [{"x": 1.0, "y": np.nan}]}}})
    assert got.wait(10), events
    conn.close()
    agent = dict(events)["agent"]
    assert agent["samples"]["s"]["map"][0]["y"] is None  # NaN travels as null


def test_json_is_strict() -> None:
    assert clean({"a": np.float32(1.5), "b": [np.nan, np.int64(2)], "c": (np.inf,)}) == \
        {"a": 1.5, "b": [None, 2], "c": [None]}
    assert dumps({"x": float("nan")}) == '{"x":null}'
