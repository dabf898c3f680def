"""A local queue: a RunEngine behind the part of bluesky-httpserver's API agents use.

Where no queueserver runs (the demo, tests, a laptop), this executes the plan items agents
add, with the same HTTP calls: ``GET /api/status``, ``POST /api/queue/item/add``,
``POST /api/queue/start``, ``GET /api/queue/get``, ``GET /api/history/get``. Plans are
looked up by name in an allow-list, as the queueserver's ``existing_plans`` does.
Localhost by default; with ``api_key`` every request needs ``Authorization: ApiKey <key>``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from edgestream.apps.web.server import HttpWithWorker

log = logging.getLogger(__name__)


class LocalQueueServer:
    """Run queued plan items one after the other on ``RE`` (a worker thread)."""

    def __init__(self, RE: Any, plans: dict[str, Callable[..., Any]], host: str = "127.0.0.1",
                 port: int = 0, api_key: str | None = None, autostart: bool = True) -> None:
        self.RE = RE
        self.plans = plans
        self.api_key = api_key
        self.autostart = autostart
        self.items: queue.Queue[dict[str, Any]] = queue.Queue()
        self.waiting: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.running: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = threading.Event()
        if autostart:
            self._started.set()
        self.http = HttpWithWorker(host, port, self._handler(), self._work,
                                   ("localqueue-http", "localqueue-worker"))

    @property
    def uri(self) -> str:
        return self.http.base_url

    def start(self) -> LocalQueueServer:
        self.http.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking items, let the running plan finish, stop the HTTP server."""
        self._stop.set()
        self._started.set()
        self.http.shutdown()
        self.http.threads[1].join(timeout)

    # -- the API --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"manager_state": "executing_queue" if self.running else "idle",
                    "items_in_queue": len(self.waiting), "items_in_history": len(self.history),
                    "worker_environment_exists": True, "queue_autostart_enabled": self.autostart,
                    "running_item_uid": (self.running or {}).get("item_uid")}

    def item_add(self, body: dict[str, Any]) -> dict[str, Any]:
        item = dict(body.get("item") or {})
        if item.get("item_type") != "plan":
            return {"success": False, "msg": f"unsupported item type {item.get('item_type')!r}"}
        if item.get("name") not in self.plans:
            return {"success": False, "msg": f"plan {item.get('name')!r} is not allowed"}
        item.setdefault("args", [])
        item.setdefault("kwargs", {})
        item["item_uid"] = str(uuid.uuid4())
        with self._lock:
            self.waiting.append(item)
            qsize = len(self.waiting)
        self.items.put(item)
        return {"success": True, "msg": "", "qsize": qsize, "item": item}

    def queue_start(self) -> dict[str, Any]:
        self._started.set()
        return {"success": True, "msg": ""}

    def queue_get(self) -> dict[str, Any]:
        with self._lock:
            return {"success": True, "items": list(self.waiting),
                    "running_item": dict(self.running or {})}

    def history_get(self) -> dict[str, Any]:
        with self._lock:
            return {"success": True, "items": list(self.history)}

    # -- the worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            self._started.wait()
            try:
                item = self.items.get(timeout=0.2)
            except queue.Empty:
                continue
            if self._stop.is_set():
                return
            with self._lock:
                self.waiting = [i for i in self.waiting if i["item_uid"] != item["item_uid"]]
                self.running = item
            result: dict[str, Any] = {"exit_status": "completed", "run_uids": []}
            try:
                plan = self.plans[item["name"]](*item["args"], **item["kwargs"])
                result["run_uids"] = list(self.RE(plan))
            except Exception as exc:  # a failing plan is recorded, the queue goes on
                log.exception("plan %s failed", item["name"])
                result = {"exit_status": "failed", "msg": f"{type(exc).__name__}: {exc}",
                          "run_uids": []}
            with self._lock:
                self.running = None
                self.history.append({**item, "result": result})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("GET", "/api/status"): lambda b: server.status(),
            ("POST", "/api/queue/item/add"): server.item_add,
            ("POST", "/api/queue/start"): lambda b: server.queue_start(),
            ("GET", "/api/queue/get"): lambda b: server.queue_get(),
            ("GET", "/api/history/get"): lambda b: server.history_get(),
        }

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                route = routes.get((method, self.path.split("?")[0]))
                if route is None:
                    return self._reply(404, {"detail": f"no route {method} {self.path}"})
                if server.api_key and self.headers.get("Authorization") != \
                        f"ApiKey {server.api_key}":
                    return self._reply(401, {"detail": "Not authenticated"})
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}") if n else {}
                except json.JSONDecodeError:
                    return self._reply(422, {"detail": "body is not JSON"})
                return self._reply(200, route(body if isinstance(body, dict) else {}))

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("localqueue: " + fmt, *args)

        return Handler
