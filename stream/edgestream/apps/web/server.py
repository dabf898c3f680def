"""The live page over HTTP: the page, its script, a JSON snapshot and server-sent events.

Routes: ``/`` (the page), ``/static/<file>``, ``/api/state`` (everything, for a page that
just connected), ``/events`` (``text/event-stream``: ``spectrum``, ``series``, ``eels_map``,
``agent`` and, every ``health_interval`` seconds, ``health``), ``/healthz``. Plots are drawn
by the page itself (canvas, no CDN): nothing is fetched from the internet. Localhost by
default.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from edgestream.apps.web.state import LiveState

log = logging.getLogger(__name__)

STATIC = {"index.html": "text/html; charset=utf-8",
          "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("edgestream.apps.web").joinpath("static", name).read_bytes()


class HttpWithWorker:
    """A threading HTTP server on ``host:port`` (port 0: a free one) and one worker thread,
    daemons both, started together: the live page (its health ticks) and the agent's local
    queue (its plans)."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler],
                 worker: Callable[[], None], names: tuple[str, str]) -> None:
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.threads = (threading.Thread(target=self.httpd.serve_forever, name=names[0],
                                         daemon=True),
                        threading.Thread(target=worker, name=names[1], daemon=True))

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def shutdown(self) -> None:
        """Stop serving and close the socket (the worker ends on its own stop signal)."""
        self.httpd.shutdown()
        self.httpd.server_close()


class LiveServer:
    """Serve ``state`` on ``host:port`` (port 0: a free one) from daemon threads."""

    def __init__(self, state: LiveState, host: str = "127.0.0.1", port: int = 0,
                 health_interval: float = 1.0, keepalive: float = 10.0) -> None:
        self.state = state
        self.health_interval = health_interval
        self.keepalive = keepalive
        self._stop = threading.Event()
        self.http = HttpWithWorker(host, port, self._handler(), self._health_loop,
                                   ("live-http", "live-health"))
        self.httpd = self.http.httpd

    @property
    def url(self) -> str:
        return f"{self.http.base_url}/"

    def start(self) -> LiveServer:
        self.http.start()
        log.info("live page on %s", self.url)
        return self

    def close(self) -> None:
        self._stop.set()
        self.http.shutdown()

    def _health_loop(self) -> None:
        while not self._stop.wait(self.health_interval):
            if self.state.n_subscribers:
                self.state._publish("health", self.state.health())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in ("/", "/index.html"):
                    return self._send(200, _static("index.html"), STATIC["index.html"])
                if path.startswith("/static/") and path[8:] in STATIC:
                    return self._send(200, _static(path[8:]), STATIC[path[8:]])
                if path == "/api/state":
                    return self._json(server.state.snapshot())
                if path == "/healthz":
                    return self._json({"ok": True, "subscribers": server.state.n_subscribers})
                if path == "/events":
                    return self._events()
                return self._send(404, b"not found", "text/plain")

            def _json(self, body: Any) -> None:
                self._send(200, dumps(body).encode(), "application/json")

            def _send(self, code: int, data: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def _events(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "keep-alive")
                self.end_headers()
                q = server.state.subscribe()
                try:
                    self.wfile.write(b"retry: 2000\n\n")
                    self.wfile.flush()
                    while not server._stop.is_set():
                        try:
                            event, data = q.get(timeout=server.keepalive)
                        except queue.Empty:
                            self.wfile.write(b": keep-alive\n\n")
                        else:
                            body = dumps(data)
                            self.wfile.write(f"event: {event}\ndata: {body}\n\n".encode())
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
                    pass  # the browser went away
                finally:
                    server.state.unsubscribe(q)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("live page: " + fmt, *args)

        return Handler


def clean(value: Any) -> Any:
    """JSON-ready copy: numpy numbers as Python numbers, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any) -> str:
    return json.dumps(clean(value), allow_nan=False, default=str, separators=(",", ":"))
