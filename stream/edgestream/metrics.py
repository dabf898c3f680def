"""Prometheus metrics. Prefixed, units in names, no unbounded labels (never a run uid)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """The service's metrics, on their own registry so several services can share a process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.documents = Counter(
            "edgestream_documents_consumed_total", "Documents consumed", ["name"], registry=r
        )
        self.spectra = Counter(
            "edgestream_spectra_processed_total", "Spectra annotated",
            ["modality", "element"], registry=r,
        )
        self.errors = Counter(
            "edgestream_errors_total", "Documents or spectra that failed", ["reason"], registry=r
        )
        self.dead_letters = Counter(
            "edgestream_dead_letters_total", "Messages sent to the dead-letter topic",
            ["reason"], registry=r,
        )
        self.skipped_runs = Counter(
            "edgestream_runs_skipped_total",
            "Runs that ended with no spectrum and nothing wrong (not_spectroscopy: no "
            "energy-like axis or a fixed energy; no_events: an energy scan with no data)",
            ["reason"], registry=r,
        )
        self.energy_calibrations = Counter(
            "edgestream_energy_calibrations_total",
            "Spectra by the source of their energy shift (metadata, reference, settings, none)",
            ["source"], registry=r,
        )
        self.annotations = Counter(
            "edgestream_annotations_published_total", "Annotations acknowledged by the broker",
            ["kind"], registry=r,
        )
        self.latency = Histogram(
            "edgestream_end_to_end_latency_seconds",
            "Last event time of a spectrum to its annotation being published",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.processing = Histogram(
            "edgestream_processing_seconds", "Normalization and plugins per batch",
            ["stage"], registry=r,
        )
        self.inference = Histogram(
            "edgestream_model_inference_seconds", "Plugin predict() per batch",
            ["model"], registry=r,
        )
        self.batch_size = Histogram(
            "edgestream_batch_size_spectra", "Spectra per processing batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), registry=r,
        )
        self.lag = Gauge(
            "edgestream_consumer_lag_messages", "Messages behind the end of each partition",
            ["topic", "partition"], registry=r,
        )
        self.open_runs = Gauge("edgestream_open_runs", "Runs started but not stopped", registry=r)
        self.commits = Counter(
            "edgestream_offset_commits_total", "Offset commits", ["outcome"], registry=r
        )
        self.queue_depth = Gauge(
            "edgestream_queue_depth_items", "Items waiting in an in-process queue",
            ["queue"], registry=r,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics over HTTP (localhost unless configured otherwise)."""
        start_http_server(port, addr=host, registry=self.registry)

    def update_lag(self, consumer: Any) -> None:
        """Set the lag gauge of every assigned partition from the consumer's own view:
        the high-water mark of the last fetch minus its position (no broker round trip).
        Call it from the thread that polls, right after ``poll``."""
        for tp in consumer.assignment():
            try:
                high = consumer.highwater(tp)
                pos = consumer.position(tp, timeout_ms=0)
            except Exception:  # not fetched yet, or revoked meanwhile: next time
                continue
            if high is not None and pos is not None:
                self.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - pos))
