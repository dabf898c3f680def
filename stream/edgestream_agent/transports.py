"""Where suggestions go: the queue server (HTTP or 0MQ), an adjudicator topic, or a log.

- ``QueueServer``: adds each suggestion as a plan item through ``bluesky-queueserver-api``'s
  ``REManagerAPI`` (``bluesky_queueserver_api.http`` for bluesky-httpserver with
  ``Authorization: ApiKey <key>``, ``bluesky_queueserver_api.zmq`` for the RE Manager's
  0MQ control socket), the client bluesky-adaptive's agents use; optionally starts an idle
  queue (bluesky-adaptive's ``_check_queue_and_start``).
- ``AdjudicatorTopic``: one ``["agent_suggestions", AdjudicatorMsg]`` message (msgpack, the
  Bluesky wire format) per ask on ``<beamline>.bluesky.adjudicators``; the message follows
  ``bluesky_adaptive.adjudicators.msg`` (``agent_name``, ``suggestions_uid``,
  ``suggestions: {beamline: [Suggestion]}``).
- ``DryRun``: logs, and keeps the suggestions in a deque (the offline stand-in of
  bluesky-adaptive's ``utils/offline.py``).

``bluesky-queueserver-api`` is imported only when a queue server is configured (extra
``qserver``, in ``agent``, ``beamline`` and the image).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from typing import Any

from edgestream.documents.wire import encode
from edgestream_agent.state import Suggestion

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


PROTOCOLS = ("auto", "http", "zmq")


def queue_protocol(address: str, protocol: str = "auto") -> str:
    """``http`` or ``zmq``: as given, or from the address (``http(s)://``, ``tcp://``...)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"queue server protocol must be one of {PROTOCOLS}, not {protocol!r}")
    if protocol != "auto":
        return protocol
    scheme = address.split("://", 1)[0].lower() if "://" in address else ""
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("tcp", "ipc", "inproc"):
        return "zmq"
    raise ValueError(f"cannot tell the queue server protocol from {address!r}: give an "
                     "http(s):// URI (bluesky-httpserver) or a tcp:// 0MQ address "
                     "(start-re-manager's control socket), or name the protocol")


def require_queue_client() -> None:
    """``ImportError`` naming the extra when bluesky-queueserver-api is not installed."""
    try:
        import bluesky_queueserver_api  # noqa: F401
    except ImportError as exc:
        raise ImportError("the queue server client is bluesky-queueserver-api: "
                          "pip install 'edgestream[qserver]'") from exc


def re_manager_api(address: str, protocol: str = "auto", api_key: str | None = None,
                   timeout: float = 5.0, zmq_public_key: str | None = None) -> Any:
    """A thread-based ``REManagerAPI`` of ``bluesky-queueserver-api`` for ``address``."""
    require_queue_client()
    if queue_protocol(address, protocol) == "http":
        from bluesky_queueserver_api.http import REManagerAPI as HttpAPI

        api = HttpAPI(http_server_uri=address.rstrip("/"), timeout=timeout)
        if api_key:
            api.set_authorization_key(api_key=api_key)
        return api
    from bluesky_queueserver_api.zmq import REManagerAPI as ZmqAPI

    if api_key:  # 0MQ has no API keys: only the server's public key encrypts the socket
        raise ValueError("an API key is for the HTTP server; over 0MQ give the RE "
                         "Manager's public key (zmq_public_key) instead")
    return ZmqAPI(zmq_control_addr=address, timeout_recv=timeout, timeout_send=timeout,
                  zmq_public_key=zmq_public_key)


class QueueServer:
    """Add suggestions to a bluesky-queueserver queue through ``REManagerAPI``.

    ``address`` is an HTTP URI (bluesky-httpserver) or a 0MQ control address
    (``tcp://host:60615``); or pass a ready ``api`` (any ``REManagerAPI``, sync).
    """

    def __init__(self, address: str | None = None, api_key: str | None = None,
                 pos: str | int = "back", timeout: float = 5.0, start_if_idle: bool = False,
                 protocol: str = "auto", zmq_public_key: str | None = None,
                 api: Any = None, user: str | None = None,
                 user_group: str | None = None) -> None:
        if api is None and address is None:
            raise ValueError("QueueServer needs an address or an REManagerAPI")
        self.address = address or repr(api)
        self.protocol = protocol if api is not None else queue_protocol(address or "", protocol)
        self.api = api if api is not None else re_manager_api(
            address or "", self.protocol, api_key, timeout, zmq_public_key)
        if user:
            self.api.user = user
        if user_group:
            self.api.user_group = user_group
        self.pos = pos
        self.start_if_idle = start_if_idle
        self.added: list[dict[str, Any]] = []

    def __repr__(self) -> str:  # never print the key (the API object keeps it, not us)
        return f"QueueServer({self.address!r}, {self.protocol})"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API call; every failure becomes a TransportError saying where and why."""
        from bluesky_queueserver_api import comm_base as cb

        try:
            return fn(*args, **kwargs)
        except cb.RequestFailedError as exc:
            raise TransportError(f"{what} on {self.address} refused: {exc.response.get('msg')}"
                                 if isinstance(exc.response, dict) else
                                 f"{what} on {self.address} refused: {exc}") from exc
        except cb.HTTPClientError as exc:
            detail = exc.response.text[:300] if exc.response is not None else ""
            raise TransportError(f"{what} on {self.address}: HTTP {exc.response.status_code}: "
                                 f"{detail}") from exc
        except cb.HTTPServerError as exc:
            raise TransportError(f"{what} on {self.address}: HTTP "
                                 f"{exc.response.status_code} (server error)") from exc
        except cb.RequestTimeoutError as exc:
            raise TransportError(f"{what} on {self.address}: no answer ({exc})") from exc
        except (cb.HTTPRequestError, OSError) as exc:
            raise TransportError(f"{what} on {self.address}: {exc}") from exc

    def item_add(self, item: dict[str, Any]) -> dict[str, Any]:
        return self._call("item_add", self.api.item_add, item, pos=self.pos)

    def status(self) -> dict[str, Any]:
        return self._call("status", self.api.status, reload=True)

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
                self._call("queue_start", self.api.queue_start)

    def close(self) -> None:
        self.api.close()


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
