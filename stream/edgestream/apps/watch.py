"""Print annotations from a topic as they arrive: a table (or the JSON, one per line)."""

from __future__ import annotations

import threading
import uuid

from edgestream.config.settings import Settings
from edgestream.doors.kafka.clients import make_consumer, wait_for_kafka
from edgestream.publish.annotation import decode
from edgestream.publish.table import AnnotationTable


def watch(settings: Settings, topic: str, stop: threading.Event, as_json: bool = False,
          from_beginning: bool = False) -> int:
    """Follow ``topic`` until ``stop`` is set; return the number of spectra printed (a
    compact message: one row per spectrum).

    Raises BrokerUnreachable when no broker answers before ``stop`` or
    ``kafka.connect_timeout_s``."""
    wait_for_kafka(settings.kafka, stop, settings.kafka.connect_timeout_s)
    consumer = make_consumer(
        settings.kafka,
        group_id=f"edgestream-watch-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=2000,
    )
    consumer.subscribe([topic])
    table = AnnotationTable(as_json=as_json)
    seen: set[str] = set()  # annotation ids are deterministic: drop redelivered duplicates
    try:
        while not stop.is_set():
            for messages in consumer.poll(200).values():
                for msg in messages:
                    try:  # JSON, or a compact block of a spectrum-image row
                        spectra = [(a["annotation_id"], a) for a in decode(msg.value)]
                    except (ValueError, TypeError, KeyError):
                        # not an annotation (another producer on the topic): shown, not fatal
                        table.show_dead_letter({"reason": "not an annotation",
                                                "message": repr(msg.value[:80])},
                                               label=f"skipped offset {msg.offset}:")
                        continue
                    for key, a in spectra:
                        if key in seen:
                            continue
                        seen.add(key)
                        table(a)
    finally:
        table.close()
        consumer.close()
    return len(seen)
