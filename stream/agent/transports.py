"""Where suggestions go: bluesky-queueserver's HTTP API, an adjudicator topic, or a log.

- ``QueueServer``: ``POST {uri}/api/queue/item/add`` with ``{"item": ..., "pos": ...}`` and
  ``Authorization: ApiKey <key>``, as ``bluesky_queueserver_api.http.REManagerAPI``
  sends it; optionally starts an idle queue (bluesky-adaptive's ``_check_queue_and_start``).
- ``AdjudicatorTopic``: one ``["agent_suggestions", AdjudicatorMsg]`` message (msgpack, the
  Bluesky wire format) per ask on ``<beamline>.bluesky.adjudicators``; the message follows
  ``bluesky_adaptive.adjudicators.msg`` (``agent_name``, ``suggestions_uid``,
  ``suggestions: {beamline: [Suggestion]}``).
- ``DryRun``: logs, and keeps the suggestions in a deque (the offline stand-in of
  bluesky-adaptive's ``utils/offline.py``).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections import deque
from typing import Any

from edgestream.agent.state import Suggestion
from edgestream.documents.wire import encode

log = logging.getLogger(__name__)

ADJUDICATOR_DOCUMENT = "agent_suggestions"
ADJUDICATOR_TOPIC = "{beamline}.bluesky.adjudicators"


class TransportError(RuntimeError):
    """A suggestion could not be delivered; the message says where and why."""


class DryRun:
    """Only log; ``sent`` holds what would have gone out."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.sent: deque[Suggestion] = deque(maxlen=maxlen)

    def send(self, suggestions: list[Suggestion]) -> None:
        for s in suggestions:
            log.info("dry run: %s(%s) for %s: %s [suggestion %s, from %d annotations]",
                     s.plan_name, ", ".join(map(str, s.plan_args)), s.sample, s.reason,
                     s.uid, len(s.annotation_ids))
            self.sent.append(s)

    def close(self) -> None:
        pass


class QueueServer:
    """bluesky-queueserver's HTTP server (``bluesky-httpserver``), plain ``urllib``."""

    def __init__(self, uri: str, api_key: str | None = None, pos: str | int = "back",
                 timeout: float = 5.0, start_if_idle: bool = False) -> None:
        self.uri = uri.rstrip("/")
        self.api_key = api_key
        self.pos = pos
        self.timeout = timeout
        self.start_if_idle = start_if_idle
        self.added: list[dict[str, Any]] = []

    def __repr__(self) -> str:  # never print the key
        return f"QueueServer({self.uri!r}, api_key={'***' if self.api_key else None})"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.uri + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"ApiKey {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                out = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise TransportError(f"{method} {self.uri}{path}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransportError(f"{method} {self.uri}{path}: {exc}") from exc
        if isinstance(out, dict) and out.get("success") is False:
            raise TransportError(f"{method} {self.uri}{path} refused: {out.get('msg')}")
        return out

    def item_add(self, item: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/queue/item/add", {"item": item, "pos": self.pos})

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/api/status")

    def send(self, suggestions: list[Suggestion]) -> None:
        for s in suggestions:
            out = self.item_add(s.plan_item())
            self.added.append(out.get("item", {}))
            log.info("queued %s(%s) for %s [item %s]", s.plan_name, s.plan_args, s.sample,
                     out.get("item", {}).get("item_uid"))
        if suggestions and self.start_if_idle:
            st = self.status()
            if st.get("manager_state") == "idle" and st.get("items_in_queue", 0) > 0 and \
                    st.get("worker_environment_exists", True):
                self.request("POST", "/api/queue/start", {})

    def close(self) -> None:
        pass


def adjudicator_message(agent_name: str, beamline: str, suggestions: list[Suggestion]
                        ) -> dict[str, Any]:
    """An ``AdjudicatorMsg`` as a dict (plus ``uid``, which adjudicators log)."""
    uid = str(uuid.uuid4())
    return {
        "agent_name": agent_name,
        "suggestions_uid": uid,
        "uid": uid,
        "suggestions": {beamline: [
            {"ask_uid": s.uid, "suggestion_uid": s.uid, "plan_name": s.plan_name,
             "plan_args": list(s.plan_args), "plan_kwargs": dict(s.plan_kwargs)}
            for s in suggestions]},
    }


class AdjudicatorTopic:
    """Publish each batch of suggestions on ``<beamline>.bluesky.adjudicators`` (through
    ``producer``, which ``close`` closes)."""

    def __init__(self, producer: Any, agent_name: str, beamline: str,
                 topic: str = ADJUDICATOR_TOPIC, timeout: float = 10.0) -> None:
        self.producer = producer
        self.agent_name = agent_name
        self.beamline = beamline
        self.topic = topic.format(beamline=beamline)
        self.timeout = timeout

    def send(self, suggestions: list[Suggestion]) -> None:
        if not suggestions:
            return
        msg = adjudicator_message(self.agent_name, self.beamline, suggestions)
        fut = self.producer.send(self.topic, key=self.agent_name.encode(),
                                 value=encode(ADJUDICATOR_DOCUMENT, msg))
        try:
            fut.get(timeout=self.timeout)
        except Exception as exc:
            raise TransportError(f"adjudicator topic {self.topic}: {exc}") from exc

    def close(self) -> None:
        """Flush and close the producer (the transport owns it)."""
        self.producer.flush()
        self.producer.close(timeout=5)
