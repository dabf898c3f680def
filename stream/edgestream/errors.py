"""Typed errors. Each carries a ``reason``: the dead-letter code and the metrics label."""

from __future__ import annotations

from typing import Any


class StreamError(Exception):
    """A document or spectrum that cannot be processed; never fatal to the service."""

    reason = "internal"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, "context": self.context}


class MalformedDocument(StreamError, ValueError):
    """Bytes that are not a msgpack ``[name, doc]`` pair, or a doc missing required keys."""

    reason = "malformed_document"


class UnknownDocumentName(StreamError, ValueError):
    reason = "unknown_document_name"


class UnknownDescriptor(StreamError, KeyError):
    """An event (or page) whose descriptor this consumer has not seen."""

    reason = "unknown_descriptor"


class UnknownRun(StreamError, KeyError):
    """A descriptor or stop whose start this consumer has not seen."""

    reason = "unknown_run"


class BadSpectrum(StreamError, ValueError):
    """NaN/inf values, non-monotonic or duplicated energies, mismatched lengths."""

    reason = "bad_spectrum"


class TooFewPoints(StreamError, ValueError):
    reason = "too_few_points"


class UnknownElement(StreamError, ValueError):
    """No element/edge in the metadata and none matches the measured edge energy."""

    reason = "unknown_element"


class MissingChannel(StreamError, KeyError):
    """No energy axis or no intensity channel could be identified in the descriptor."""

    reason = "missing_channel"


class PluginFailure(StreamError, RuntimeError):
    reason = "plugin_failure"


class OutputTooLarge(StreamError, ValueError):
    """An output message (annotation or derived document) larger than the broker takes."""

    reason = "output_too_large"


class BadReference(StreamError, ValueError):
    """The reference-foil channel shows no usable edge.

    Not a reason to drop the spectrum: it is annotated uncalibrated (or with the configured
    shift), with this message in its ``energy_calibration``, and counted in the metrics.
    """

    reason = "bad_reference"


class ExternalDataUnavailable(StreamError, OSError):
    """Detector data written to a file (HDF5 via resource/datum or stream_resource/
    stream_datum) that could not be read: the file or frame did not appear within
    ``external_data_timeout_s``, the path is not mounted here (see ``data_roots``), or the
    file format is not one edgestream reads. The context names the path."""

    reason = "external_data_unavailable"


def internal_error(exc: BaseException) -> StreamError:
    """Wrap an unexpected exception (a bug) so it is dead-lettered as ``internal``."""
    err = StreamError(f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


REASONS = sorted(
    {
        cls.reason
        for cls in (
            StreamError,
            MalformedDocument,
            UnknownDocumentName,
            UnknownDescriptor,
            UnknownRun,
            BadSpectrum,
            TooFewPoints,
            UnknownElement,
            MissingChannel,
            PluginFailure,
            BadReference,
            ExternalDataUnavailable,
        )
    }
)
