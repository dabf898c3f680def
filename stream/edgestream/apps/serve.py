"""Wire the service together from Settings: plugins, pipeline, metrics, Kafka door."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgestream.config.settings import Settings
from edgestream.doors.kafka.service import AnnotationService
from edgestream.metrics import Metrics
from edgestream.normalize import keep_freed_memory
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover

log = logging.getLogger(__name__)


def build_pipeline(settings: Settings, metrics: Metrics | None = None) -> Pipeline:
    models = discover(settings.plugins)
    for m in models:
        log.info("plugin %s %s", m.name, m.version)
    return Pipeline(settings, models, metrics)


def build_service(
    settings: Settings, on_annotation: Callable[[dict[str, Any]], None] | None = None
) -> AnnotationService:
    # the service owns its process: keep freed batch memory for reuse (normalize's docstring)
    keep_freed_memory()
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return AnnotationService(settings, build_pipeline(settings, metrics), on_annotation)
