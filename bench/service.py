"""The service under test, as its own process: ``python -m bench.service --config FILE``.

The same objects ``edgestream serve`` builds (Settings → Metrics → Pipeline → AnnotationService,
``edgestream.apps.serve.build_service``), with one difference: the model list is
``bench.models.bench_models`` — the installed plugins plus those in plugins/ that are not
registered as entry points yet — so the full path runs every model the repository ships.
``--plugins installed`` gives exactly what ``edgestream serve`` would load. SIGTERM stops it
cleanly (flush, commit, close).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from bench.models import bench_models
from edgestream.config.settings import load_settings
from edgestream.doors.kafka.service import AnnotationService
from edgestream.metrics import Metrics
from edgestream.pipeline import Pipeline


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--plugins", choices=("all", "installed"), default="all")
    a = p.parse_args(argv)
    settings = load_settings(a.config, facility_file=Path(os.devnull))
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # as edgestream.apps.cli does
    models = bench_models(a.plugins)
    logging.getLogger("bench.service").info("plugins: %s", ", ".join(m.name for m in models))
    service = AnnotationService(settings, Pipeline(settings, models, Metrics()))
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    service.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
