"""Typed errors. Each carries a ``reason``: the dead-letter code and the metrics label.

A subclass names its reason in its class line (``class X(StreamError, reason="x")``), so that
:data:`REASONS`, the codes a dead letter can carry, is derived from the classes and cannot
drift from them.
"""

from __future__ import annotations

from typing import Any

# Every reason of a StreamError class, filled in as the classes are defined
_REGISTERED: set[str] = {"internal"}


class StreamError(Exception):
    """A document or spectrum that cannot be processed; never fatal to the service.

    Raised as such (or through :func:`internal_error`) it is a bug: reason ``internal``."""

    reason = "internal"

    def __init_subclass__(cls, reason: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if reason is not None:
            cls.reason = reason
        _REGISTERED.add(cls.reason)

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, "context": self.context}


class MalformedDocument(StreamError, ValueError, reason="malformed_document"):
    """Bytes that are not a msgpack ``[name, doc]`` pair, or a doc missing required keys."""


class UnknownDocumentName(StreamError, ValueError, reason="unknown_document_name"):
    """A document name the event model does not define."""


class UnknownDescriptor(StreamError, KeyError, reason="unknown_descriptor"):
    """An event (or page) whose descriptor this consumer has not seen."""


class UnknownRun(StreamError, KeyError, reason="unknown_run"):
    """A descriptor or stop whose start this consumer has not seen."""


class BadSpectrum(StreamError, ValueError, reason="bad_spectrum"):
    """NaN/inf values, non-monotonic or duplicated energies, mismatched lengths."""


class TooFewPoints(StreamError, ValueError, reason="too_few_points"):
    """Fewer points than ``min_points``."""


class UnknownElement(StreamError, ValueError, reason="unknown_element"):
    """No element/edge in the metadata and none matches the measured edge energy."""


class MissingChannel(StreamError, KeyError, reason="missing_channel"):
    """No energy axis or no intensity channel could be identified in the descriptor."""


class PluginFailure(StreamError, RuntimeError, reason="plugin_failure"):
    """A plugin's predict raised or returned what its manifest does not allow."""


class OutputTooLarge(StreamError, ValueError, reason="output_too_large"):
    """An output message (annotation or derived document) larger than the broker takes."""


class BadReference(StreamError, ValueError, reason="bad_reference"):
    """The reference-foil channel shows no usable edge.

    Not a reason to drop the spectrum: it is annotated uncalibrated (or with the configured
    shift), with this message in its ``energy_calibration``, and counted in the metrics.
    """


class ExternalDataUnavailable(StreamError, OSError, reason="external_data_unavailable"):
    """Detector data written to a file (HDF5 via resource/datum or stream_resource/
    stream_datum) that could not be read: the file or frame did not appear within
    ``external_data_timeout_s``, the path is not mounted here (see ``data_roots``), or the
    file format is not one edgestream reads. The context names the path."""


def internal_error(exc: BaseException) -> StreamError:
    """Wrap an unexpected exception (a bug) so it is dead-lettered as ``internal``."""
    err = StreamError(f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


# The reasons a StreamError (so a dead letter) can carry, derived from the classes above
REASONS = sorted(_REGISTERED)

# ``edgestream_errors_total`` labels that are not documents or spectra gone wrong but the
# service's own trouble with its outputs: counted, never dead-lettered
OPERATIONAL_REASONS = {
    "kafka": "a poll, publish or commit the broker failed (retried)",
    "publish_failed": "the callback door's publisher raised",
    "callback_queue_full": "the callback door's queue was full: the document was dropped",
    "tiled_queue_full": "the Tiled writer's queue was full: the derived document not written",
    "tiled_unavailable": "the Tiled server did not answer",
    "tiled_write_failed": "the Tiled server refused a write",
}
