"""Dead letters: what could not be processed, with the reason, the source and the raw bytes."""

from __future__ import annotations

import base64
import json
import time
import traceback
from typing import Any

from edgestream import __version__
from edgestream.errors import StreamError

# Enough of the raw message to see what it was, without re-publishing a 30 MB image.
MAX_RAW_BYTES = 4096


def dead_letter(
    error: StreamError,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    raw: bytes | None = None,
    document_name: str | None = None,
    run_uid: str | None = None,
) -> bytes:
    """JSON body of one dead letter."""
    body: dict[str, Any] = {
        "reason": error.reason,
        "message": error.message,
        "context": _jsonable(error.context),
        "document_name": document_name,
        "run_uid": run_uid,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "service": {"name": "edgestream", "version": __version__},
        "time": time.time(),
    }
    if raw is not None:
        body["raw_base64"] = base64.b64encode(raw[:MAX_RAW_BYTES]).decode()
        body["raw_size"] = len(raw)
    if error.reason == "internal" and error.__cause__ is not None:
        body["traceback"] = "".join(traceback.format_exception(error.__cause__))[-4000:]
    return json.dumps(body, default=str).encode()


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:1000]
