"""kafka-python clients from Settings, and the wait for a broker that is not there yet.

Precedence inside one client: our tuned defaults < the facility's and the config's client
settings (``kafka.client``) < what the delivery guarantees need (group, manual commits,
acks=all) < the caller's named arguments.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from edgestream.config.settings import KafkaSettings

log = logging.getLogger(__name__)

CONSUMER_KEYS = set(KafkaConsumer.DEFAULT_CONFIG)
PRODUCER_KEYS = set(KafkaProducer.DEFAULT_CONFIG)
ADMIN_KEYS = set(KafkaAdminClient.DEFAULT_CONFIG)
# Kept for callers that split a client dict themselves
CONSUMER_ONLY = CONSUMER_KEYS - PRODUCER_KEYS
PRODUCER_ONLY = PRODUCER_KEYS - CONSUMER_KEYS

# Defaults a facility may override through ``kafka.client``. kafka-python backs off up to
# 30 s between reconnects by default: after a broker restart the service would sit idle
# that long. The Java client's 1 s maximum lets it resume within seconds.
TUNABLE_DEFAULTS = {"reconnect_backoff_max_ms": 1000, "retry_backoff_ms": 100}
# A fetch that finds one partition empty waits up to fetch_max_wait_ms on the broker (500 ms
# by default) before the data of the others come back: that was the p99 latency at 100
# spectra/s. 20 ms costs a few idle fetches per second per broker.
CONSUMER_DEFAULTS = {
    "fetch_max_wait_ms": 20,
    # Bounded fetch buffers keep memory flat under a burst (the lag grows instead);
    # a larger message (a big spectrum-image row) is still fetched, alone.
    "max_partition_fetch_bytes": 4 * 1024 * 1024,
    "fetch_max_bytes": 16 * 1024 * 1024,
    # The pattern subscription must see topics created after start-up quickly.
    "metadata_max_age_ms": 5000,
}
# An annotation is 10-30 kB (the normalized spectrum): with the 16 kB default every one went
# in a request of its own, and flushing 100 took 264 ms on Apache Kafka (acks=all); in 1 MB
# batches, 14-31 ms.
PRODUCER_DEFAULTS = {"batch_size": 1 << 20, "linger_ms": 5, "max_request_size": 16 * 1024 * 1024}


def make_ssl_context(client: Mapping[str, Any]) -> ssl.SSLContext:
    """The context kafka-python would build, plus librdkafka's
    ``enable.ssl.certificate.verification: false`` (no check of the broker's certificate),
    which kafka-python has no argument for."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client.get("ssl_certfile"):
        ctx.load_cert_chain(certfile=client["ssl_certfile"], keyfile=client.get("ssl_keyfile"),
                            password=client.get("ssl_password"))
    if client.get("ssl_ciphers"):
        ctx.set_ciphers(client["ssl_ciphers"])
    return ctx


def client_args(k: KafkaSettings, accepted: set[str]) -> dict[str, Any]:
    """``kafka.client`` for one kind of client: the keys it accepts, security applied."""
    client = dict(k.client)
    if client.pop("ssl_verify_certificate", True) is False:
        log.warning("TLS without checking the broker's certificate "
                    "(enable.ssl.certificate.verification: false)")
        client["ssl_context"] = make_ssl_context(client)
    return TUNABLE_DEFAULTS | {key: v for key, v in client.items() if key in accepted}


def make_consumer(k: KafkaSettings, **extra: Any) -> KafkaConsumer:
    """A consumer with manual commits: offsets move only after annotations are acknowledged."""
    kwargs = CONSUMER_DEFAULTS | client_args(k, CONSUMER_KEYS) | {
        "bootstrap_servers": k.bootstrap_servers.split(","),
        "group_id": k.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": k.auto_offset_reset,
        "session_timeout_ms": k.session_timeout_ms,
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_records": k.max_poll_records,
    }
    return KafkaConsumer(**(kwargs | extra))


def make_producer(k: KafkaSettings, **extra: Any) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    kwargs = PRODUCER_DEFAULTS | client_args(k, PRODUCER_KEYS) | {
        "bootstrap_servers": k.bootstrap_servers.split(","),
        "acks": "all",
    }
    return KafkaProducer(**(kwargs | extra))


class BrokerUnreachable(RuntimeError):
    """No broker answered (or one refused our credentials or our trust in its certificate);
    the message is one line a person can act on."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final  # retrying cannot help (authentication, certificate)


class _LastError(logging.Handler):
    """Keeps kafka-python's last complaint during a probe, instead of printing each one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # "not ready; waiting" and "Bootstrap failed" only repeat the cause said before them
        if record.levelno >= logging.WARNING and not any(
                w in message for w in ("not ready", "Bootstrap failed", "backoff")):
            # "<KafkaConnection ...>: Connection lost: KafkaConnectionError: 111
            # ECONNREFUSED" -> the cause
            cause = re.search(r"\b\w*Error: .*$", message)
            said = cause.group(0) if cause else message
            # the broker closes the socket after refusing our credentials; the refusal is
            # the cause, the "socket disconnected" after it is not
            if self.last is None or not _is_final(self.last) or _is_final(said):
                self.last = said


# One probe's wait: a refused connection fails at once, a silent host (a firewall) takes it
PROBE_S = 3.0
FINAL_WORDS = ("uthentication", "CERTIFICATE_VERIFY_FAILED", "certificate verify failed",
               "WRONG_VERSION_NUMBER", "SSLError")


def _is_final(text: str) -> bool:
    return any(w in text for w in FINAL_WORDS)


def probe(k: KafkaSettings, timeout_s: float = 5.0) -> dict[str, Any]:
    """One metadata round trip with the configured security; BrokerUnreachable if none."""
    kafka_log = logging.getLogger("kafka")
    catcher = _LastError()
    kafka_log.addHandler(catcher)
    propagate, kafka_log.propagate = kafka_log.propagate, False
    ms = max(1000, int(timeout_s * 1000))
    try:
        admin = KafkaAdminClient(**(client_args(k, ADMIN_KEYS) | {
            "bootstrap_servers": k.bootstrap_servers.split(","),
            "client_id": "edgestream-probe", "request_timeout_ms": ms,
            "bootstrap_timeout_ms": ms}))
        try:
            return admin.describe_cluster()
        finally:
            admin.close()
    except Exception as exc:
        reason = catcher.last or f"{type(exc).__name__}: {exc}"
        reason = re.sub(r"^(\w+Error: )\1+", r"\1", reason)  # kafka-python repeats the name
        final = _is_final(reason) or _is_final(str(exc))
        where = f"{k.bootstrap_servers} ({_security(k)})"
        message = (f"kafka {where} refused the connection: " if final
                   else f"cannot reach {where}: ")
        raise BrokerUnreachable(message + _short(reason), final=final) from None
    finally:
        kafka_log.removeHandler(catcher)
        kafka_log.propagate = propagate


def _security(k: KafkaSettings) -> str:
    protocol = str(k.client.get("security_protocol", "PLAINTEXT")).upper()
    if protocol.startswith("SASL"):
        return f"{protocol} {k.client.get('sasl_mechanism', '')}".strip()
    return protocol


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def wait_for_kafka(k: KafkaSettings, stop: threading.Event, timeout_s: float | None = None,
                   first_delay_s: float = 1.0, max_delay_s: float = 15.0) -> dict[str, Any]:
    """Probe until a broker answers: one log line per failed try, backoff doubling up to
    ``max_delay_s``. Raises BrokerUnreachable when ``stop`` is set, ``timeout_s`` passes,
    or the broker refuses our credentials or certificate (retrying would not help)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = first_delay_s
    tries = 0
    while True:
        tries += 1
        try:
            meta = probe(k, timeout_s=min(PROBE_S, timeout_s or PROBE_S))
            if tries > 1:
                log.info("kafka %s answers after %s", k.bootstrap_servers, _tries(tries))
            return meta
        except BrokerUnreachable as exc:
            if exc.final:
                raise
            left = None if deadline is None else deadline - time.monotonic()
            if stop.is_set() or (left is not None and left <= 0):
                raise BrokerUnreachable(f"{exc} (gave up after {_tries(tries)})") from None
            wait = delay if left is None else min(delay, left)
            log.warning("%s; retrying in %.0f s", exc, wait)
            if stop.wait(wait):
                raise BrokerUnreachable(f"{exc} (stopped after {_tries(tries)})") from None
            delay = min(max_delay_s, delay * 2)


# kafka-python's words for a broker that is away: it says them on every reconnect attempt
# (5-10 lines a second); BrokerWatch says it once instead.
CHATTER = ("ECONNREFUSED", "Connection failed", "Connection lost", "not ready",
           "Bootstrap", "socket disconnected", "Unable to bootstrap", "NodeNotReady",
           "Connect attempt", "KafkaConnectionError", "No connection", "timed out",
           "No node available", "Node not ready", "NoBrokersAvailable")


class ConnectionChatter(logging.Filter):
    """A handler filter dropping kafka-python's per-attempt connection errors (not its
    authentication or TLS complaints); our own lines say that a broker is away."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        message = record.getMessage()
        if any(w in message for w in ("uthentication", "SSL", "ertificate")):
            return True
        return not any(w in message for w in CHATTER)


class _Complaints(logging.Handler):
    """Counts kafka-python's connection complaints (the ones ConnectionChatter hides)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING and any(w in record.getMessage() for w in CHATTER):
            self.count += 1


class BrokerWatch:
    """Notices that every bootstrap broker stopped accepting connections, and that one
    came back: one line each, instead of kafka-python's line per reconnect.

    A TCP try (which a TLS broker logs as a failed handshake) is made only on evidence:
    kafka-python complained about a connection since the last look, a client call failed
    (``force``), or the brokers are known to be away; then at most one per ``every_s``."""

    def __init__(self, bootstrap: str, every_s: float = 5.0) -> None:
        from edgestream.doors.kafka.admin import split_bootstrap

        self.bootstrap = bootstrap
        self.hosts = split_bootstrap(bootstrap)
        self.every_s = every_s
        self.down_since: float | None = None
        self._next = 0.0
        self._complaints = _Complaints()
        self._seen = 0
        logging.getLogger("kafka").addHandler(self._complaints)

    def close(self) -> None:
        logging.getLogger("kafka").removeHandler(self._complaints)

    def check(self, now: float | None = None, force: bool = False) -> bool:
        """True while a broker accepts connections (or nothing suggests otherwise)."""
        from edgestream.doors.kafka.admin import port_is_open

        now = time.monotonic() if now is None else now
        complained = self._complaints.count > self._seen
        self._seen = self._complaints.count
        if self.down_since is None and not (force or complained):
            return True
        if now < self._next and not (force and self.down_since is None):
            return self.down_since is None
        self._next = now + self.every_s
        up = any(port_is_open(h, p, timeout=0.5) for h, p in self.hosts)
        if not up and self.down_since is None:
            self.down_since = now
            log.warning("lost kafka %s: its bootstrap broker(s) refuse connections; "
                        "reconnecting (backoff capped at 1 s), nothing uncommitted is lost",
                        self.bootstrap)
        elif up and self.down_since is not None:
            log.warning("kafka %s is back after %.0f s", self.bootstrap, now - self.down_since)
            self.down_since = None
        return up
