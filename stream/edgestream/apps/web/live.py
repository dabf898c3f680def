"""The service with its live page: the Kafka door feeding ``LiveState``, served over HTTP."""

from __future__ import annotations

import logging

from edgestream.apps.web.server import LiveServer
from edgestream.apps.web.state import LiveState, TappedPipeline
from edgestream.config.settings import Settings
from edgestream.doors.kafka.service import AnnotationService
from edgestream.metrics import Metrics
from edgestream.plugin.api import discover

log = logging.getLogger(__name__)


def build_live_service(settings: Settings, host: str = "127.0.0.1", port: int = 8765
                       ) -> tuple[AnnotationService, LiveState, LiveServer]:
    """``build_service`` plus the page: raw spectra come from the pipeline, annotations
    from the service once the broker has acknowledged them. The server is started."""
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    live = LiveState(metrics)
    models = discover(settings.plugins)
    pipeline = TappedPipeline(settings, models, metrics, on_raw=live.on_raw)
    service = AnnotationService(settings, pipeline, on_annotation=live.on_annotation)
    server = LiveServer(live, host, port).start()
    return service, live, server
