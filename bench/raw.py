"""Raw passthrough: kafka-python consuming and msgpack-decoding a topic, doing nothing else.

The practical upper bound for this client: the same consumer settings as the service
(``edgestream.doors.kafka.clients.make_consumer``: fetch sizes, ``max_poll_records``, poll timeout),
a fresh consumer group, ``msgpack.unpackb`` with msgpack-numpy arrays, no commit. Run as
``python -m bench.raw --bootstrap HOST:PORT --topic T --group G --expect N`` (the benchmark
runs it pinned to one core); prints one JSON line.

Rate: messages / time from the partition assignment (the end of the group join) to the end
of the last poll, the same window as the service's (assignment to last annotation). Also
given: messages after the first poll / time from the first to the last poll.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import msgpack
import msgpack_numpy
from kafka import ConsumerRebalanceListener

from edgestream.config.settings import KafkaSettings
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS
from edgestream.doors.kafka.clients import make_consumer


class Assigned(ConsumerRebalanceListener):
    """Remembers when (wall and CPU time) the partitions were assigned."""

    def __init__(self) -> None:
        self.at: tuple[float, float] | None = None

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.at is None and assigned:
            self.at = (time.time(), time.process_time())

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass


def passthrough(bootstrap: str, topic: str, group: str, expect: int,
                timeout_s: float = 120.0) -> dict[str, Any]:
    """Consume and decode ``expect`` messages; return counts, times and rates."""
    k = KafkaSettings(bootstrap_servers=bootstrap, topics=[topic], group_id=group,
                      **FAST_GROUP_SETTINGS)
    consumer = make_consumer(k)
    # kafka-python 3.0.12 race: a group leader that joins before it has the topic's metadata
    # assigns nothing ("No partition metadata for topic") and the member then idles. Asking
    # for the topic's partitions first fetches that metadata.
    consumer.partitions_for_topic(topic)
    listener = Assigned()
    consumer.subscribe(topics=[topic], listener=listener)
    t_start = time.time()
    polls: list[tuple[float, float, int]] = []  # (wall, cpu, messages so far)
    n = size = 0
    try:
        while n < expect and time.time() - t_start < timeout_s:
            records = consumer.poll(k.poll_timeout_ms, k.max_poll_records)
            for messages in records.values():
                for msg in messages:
                    msgpack.unpackb(msg.value, object_hook=msgpack_numpy.decode,
                                    strict_map_key=False)
                    n += 1
                    size += len(msg.value)
            if records:
                polls.append((time.time(), time.process_time(), n))
    finally:
        consumer.close()
    out: dict[str, Any] = {"messages": n, "bytes": size, "polls": len(polls),
                           "complete": n >= expect}
    if polls and listener.at is not None:
        (wa, ca), (w1, c1, n1) = listener.at, polls[-1]
        out |= {"assigned_after_s": round(wa - t_start, 3), "window_s": round(w1 - wa, 4),
                "cpu_s": round(c1 - ca, 4), "msgs_per_s": n1 / (w1 - wa) if w1 > wa else None,
                "msgs_per_cpu_s": n1 / (c1 - ca) if c1 > ca else None}
    if len(polls) >= 2:
        (w0, _, n0), (w1, _, n1) = polls[0], polls[-1]
        out["first_to_last_poll_msgs_per_s"] = (n1 - n0) / (w1 - w0) if w1 > w0 else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, required=True, help="messages in the topic")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args(argv)
    print(json.dumps(passthrough(a.bootstrap, a.topic, a.group, a.expect, a.timeout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
