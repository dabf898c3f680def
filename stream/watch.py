"""Print annotations from a topic as they arrive, one line each (or the JSON)."""

from __future__ import annotations

import json
import threading
import uuid

from edgestream.kafka.clients import make_consumer
from edgestream.kafka.service import annotation_line
from edgestream.settings import Settings


def watch(settings: Settings, topic: str, stop: threading.Event, as_json: bool = False,
          from_beginning: bool = False) -> int:
    """Follow ``topic`` until ``stop`` is set; return the number of annotations printed."""
    consumer = make_consumer(
        settings.kafka,
        group_id=f"edgestream-watch-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=2000,
    )
    consumer.subscribe([topic])
    seen: set[str] = set()  # annotation ids are deterministic: drop redelivered duplicates
    try:
        while not stop.is_set():
            for messages in consumer.poll(200).values():
                for msg in messages:
                    a = json.loads(msg.value)
                    if a["annotation_id"] in seen:
                        continue
                    seen.add(a["annotation_id"])
                    print(json.dumps(a) if as_json else annotation_line(a), flush=True)
    finally:
        consumer.close()
    return len(seen)
