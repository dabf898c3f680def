"""One publishing policy for every door (Kafka, the RunEngine callback, files).

What goes out for an ``Outcome``, where, and what is done with what does not fit:

- annotations, stamped ``published_at``, keyed by run uid, on ``kafka.annotations_topic``:
  JSON, or compact blocks (``publish.compact``, split when over the size limit); the door's
  consumers and the derived documents get per-spectrum annotations of both;
- a dead letter for every failure (``publish.deadletter``) on ``kafka.dead_letter_topic``;
- derived documents (``publish.derived``) on ``kafka.derived_topic`` when
  ``kafka.publish_derived``, and to Tiled once the broker took them; an event page over the
  size limit goes as several;
- the size limit (``kafka.max_message_bytes``): an output over it becomes an
  ``output_too_large`` dead letter; when the broker refuses a message as too large, the
  limit is halved (``SizeLimit.follow_refusal``) until it takes what is sent.

What a person reads is ``publish.table`` (one formatter for ``demo``, ``watch`` and
``annotate``); what the doors publish is built here. The door only moves bytes: it gives a
``send`` (``None`` for a door without a broker, the files door), calls ``publish`` with what
the pipeline returned, and ``delivered`` once the broker took the messages (the Kafka door:
after its flush; the callback door at once, with ``acked`` per annotation as the broker
acknowledges each).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# below MIN_MESSAGE_BYTES a broker's refusal is not followed down: it is set up wrongly
from edgestream.config.checks import MIN_MESSAGE_BYTES
from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.errors import OutputTooLarge, StreamError
from edgestream.metrics import Metrics
from edgestream.pipeline import Failure, Outcome
from edgestream.publish import compact
from edgestream.publish.annotation import count, records, to_json
from edgestream.publish.deadletter import dead_letter
from edgestream.publish.derived import DerivedRuns, split_event_page

log = logging.getLogger(__name__)

# Run beamlines remembered for runs whose end was never seen (a bound on memory)
MAX_RUN_BEAMLINES = 10_000

DerivedDoc = tuple[str, str, dict[str, Any]]  # (original run uid, name, document)


@dataclass(frozen=True)
class Message:
    """One output message. ``annotation``: the annotation it carries, if it is one."""

    topic: str
    key: str | None
    value: bytes
    annotation: dict[str, Any] | None = None


Send = Callable[[Message], None]


@dataclass
class Batch:
    """What one ``publish`` call sent: the annotation messages within the limit (JSON
    annotations and compact blocks), derived documents."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    derived: list[DerivedDoc] = field(default_factory=list)

    @cached_property
    def annotations(self) -> list[dict[str, Any]]:
        """Per-spectrum annotations of the messages (built on first use: the Kafka door
        needs them only for an ``on_annotation`` consumer)."""
        return [a for m in self.messages for a in records(m)]


class SizeLimit:
    """The largest message sent; halved while the broker refuses messages as too large (its
    limit, a topic's max.message.bytes, is below ours: replaying with the same limit would
    fail the same way for ever)."""

    def __init__(self, limit: int, floor: int = MIN_MESSAGE_BYTES, what: str = "outputs"
                 ) -> None:
        self.bytes = limit
        self.floor = floor
        self.what = what

    def fits(self, size: int) -> bool:
        return size <= self.bytes

    def follow_refusal(self, refused_bytes: int | None = None) -> bool:
        """Halve the limit (not below ``floor``); False when it is already there."""
        largest = "" if refused_bytes is None else f" (largest record {refused_bytes:,} bytes)"
        if self.bytes <= self.floor:
            log.error("the broker refuses records of %s bytes and less: check the topics' "
                      "max.message.bytes", f"{self.bytes:,}")
            return False
        self.bytes = max(self.floor, self.bytes // 2)
        log.warning("the broker refused a record batch as too large%s: %s now stay under %s "
                    "bytes, larger ones are dead-lettered; give the topics a max.message.bytes "
                    "that takes them", largest, self.what, f"{self.bytes:,}")
        return True


class PublishPolicy:
    """What a door publishes for the pipeline's outcomes (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        send: Send | None,
        *,
        annotations_topic: str | None = None,
        tiled: Any | None = None,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
        quiet: bool = False,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.send = send
        k = settings.kafka
        self.annotations_topic = annotations_topic or k.annotations_topic
        # Derived documents need a broker; Tiled (None unless tiled.uri is set) does not
        self.publish_derived = k.publish_derived and send is not None
        self.tiled = tiled
        self.on_annotation = on_annotation
        self.quiet = quiet  # the door reports failures itself (the files door returns them)
        self.limit = SizeLimit(k.max_message_bytes)
        self.derived = DerivedRuns()
        self.run_beamline: dict[str, str] = {}

    # -- where --------------------------------------------------------------------------------
    def note_run(self, run_uid: str, beamline: str) -> None:
        """The beamline whose topics take the outputs of ``run_uid`` (at its start)."""
        self.run_beamline.pop(run_uid, None)
        self.run_beamline[run_uid] = beamline
        while len(self.run_beamline) > MAX_RUN_BEAMLINES:  # runs whose end was never seen
            del self.run_beamline[next(iter(self.run_beamline))]

    def topic(self, template: str, run_uid: str | None) -> str:
        beamline = self.run_beamline.get(run_uid or "", self.settings.beamline)
        return template.format(beamline=beamline)

    def _send(self, message: Message) -> None:
        if self.send is not None:
            self.send(message)

    # -- dead letters -------------------------------------------------------------------------
    def dead_letter(self, exc: StreamError, *, beamline: str, topic: str, partition: int,
                    offset: int, raw: bytes | None, key: str | None, name: str | None,
                    run_uid: str | None) -> None:
        """The dead letter of an input message that could not be read or routed."""
        self.metrics.errors.labels(exc.reason).inc()
        self.metrics.dead_letters.labels(exc.reason).inc()
        log.warning("dead letter (%s) from %s[%d]@%d: %s", exc.reason, topic, partition, offset,
                    exc.message)
        body = dead_letter(exc, topic=topic, partition=partition, offset=offset, raw=raw,
                           document_name=name, run_uid=run_uid)
        self._send(Message(self.settings.kafka.dead_letter_topic.format(beamline=beamline),
                           run_uid or key, body))

    def failure(self, f: Failure) -> None:
        """The dead letter of a document or spectrum the pipeline could not process."""
        self.metrics.dead_letters.labels(f.error.reason).inc()
        log.log(logging.DEBUG if self.quiet else logging.WARNING,
                "dead letter (%s) for run %s: %s", f.error.reason, f.run_uid, f.error.message)
        body = dead_letter(f.error, document_name=f.document_name, run_uid=f.run_uid)
        self._send(Message(self.topic(self.settings.kafka.dead_letter_topic, f.run_uid),
                           f.run_uid, body))

    # -- outputs ------------------------------------------------------------------------------
    def _output(self, topic: str, run_uid: str, value: bytes, what: str,
                annotation: dict[str, Any] | None = None) -> bool:
        """An annotation or derived document, or its dead letter when it is over the limit
        (then False)."""
        if self.limit.fits(len(value)):
            self._send(Message(topic, run_uid, value, annotation))
            return True
        self.metrics.errors.labels(OutputTooLarge.reason).inc()
        self.failure(Failure(OutputTooLarge(
            f"{what} of {len(value):,} bytes is over kafka.max_message_bytes "
            f"({self.limit.bytes:,})", topic=topic, size=len(value),
            limit=self.limit.bytes), run_uid=run_uid, document_name=what))
        return False

    def _derived_output(self, run_uid: str, name: str, doc: dict[str, Any]) -> None:
        """A derived document; an event page over the size limit goes as several."""
        value = encode(name, doc)
        if name == "event_page" and not self.limit.fits(len(value)) and len(doc["seq_num"]) > 1:
            # 10 % headroom: the events differ in size (predictions, NaN-padded spectra)
            pieces = math.ceil(len(value) / (0.9 * self.limit.bytes))
            for page in split_event_page(doc, pieces):
                self._derived_output(run_uid, name, page)
            return
        self._output(self.topic(self.settings.kafka.derived_topic, run_uid), run_uid, value,
                     name)

    def _block(self, run_uid: str, block: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a compact annotation (split when over the size limit); the blocks that went."""
        value = compact.pack(block, spectra=self.settings.annotations.compact_spectra)
        if self.send is not None and not self.limit.fits(len(value)) and block["n"] > 1:
            # 10 % headroom: factor columns may not shrink with the spectra
            pieces = math.ceil(len(value) / (0.9 * self.limit.bytes))
            return [a for part in compact.split(block, pieces)
                    for a in self._block(run_uid, part)]
        if self.send is None or self._output(self.topic(self.annotations_topic, run_uid),
                                             run_uid, value, "compact annotation", block):
            return [block]
        return []

    def publish(self, out: Outcome, ended_runs: Iterable[str] = ()) -> Batch:
        """Send the outputs of ``out``; ``ended_runs`` (stopped or expired) close their
        derived runs."""
        ended = list(ended_runs)
        for f in out.failures:
            self.failure(f)
        batch = Batch()
        now = time.time()
        for a in out.annotations:
            run_uid = a["ids"]["run_uid"]
            a["timing"]["published_at"] = now
            if compact.is_block(a):
                batch.messages += self._block(run_uid, a)
            # without a broker (files door) there is no limit to measure against
            elif self.send is None or self._output(self.topic(self.annotations_topic,
                                                              run_uid),
                                                   run_uid, to_json(a), "annotation", a):
                batch.messages.append(a)
        if self.publish_derived or self.tiled is not None:
            batch.derived = self.derived.on_annotations(batch.messages)
            for run_uid in ended:
                batch.derived += [(run_uid, n, d) for n, d in self.derived.on_run_end(run_uid)]
        if self.publish_derived:
            for run_uid, name, doc in batch.derived:
                self._derived_output(run_uid, name, doc)
        for run_uid in ended:
            self.run_beamline.pop(run_uid, None)
        return batch

    def delivered(self, batch: Batch, acked: bool = True) -> None:
        """The broker took the batch: derived documents to Tiled (a replay is deduplicated
        there), metrics (``acked``: here, else per annotation through ``acked``), and the
        door's ``on_annotation``."""
        if self.tiled is not None:
            self.tiled.submit(batch.derived)
        if acked:
            for m in batch.messages:
                self.acked(m)
        if self.on_annotation is None:
            return
        for a in batch.annotations:
            try:
                self.on_annotation(a)
            except Exception:  # a consumer's bug must not stop publishing
                log.exception("on_annotation failed")
                self.metrics.errors.labels("internal").inc()

    def acked(self, a: dict[str, Any]) -> None:
        """One annotation message the broker acknowledged: its spectra counted, its latency
        observed (a compact one: of its last event time)."""
        self.metrics.annotations.labels(a["kind"]).inc(count(a))
        times = a["timing"]["event_time"]
        if compact.is_block(a):
            t_event = max(v[1] for v in compact.values(times, 1 if times["encoding"] ==
                                                       "const" else int(a["n"])))
        else:
            t_event = times[1]
        if t_event > 0:
            self.metrics.latency.observe(max(0.0, time.time() - t_event))

    def refused(self, refused_bytes: int | None = None) -> bool:
        """The broker refused a message as too large: follow its limit down."""
        return self.limit.follow_refusal(refused_bytes)

    def reset(self) -> None:
        """After a rewind: the derived runs restart with the replayed runs."""
        self.derived = DerivedRuns()

    def close(self, timeout: float = 30.0) -> None:
        if self.tiled is not None:
            self.tiled.close(timeout=timeout)
