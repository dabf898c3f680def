"""Where the time goes, per kind of run, without a broker: the service's work stage by stage.

The workload's messages are cut into poll-sized batches (at most ``max_poll_records``
messages and the consumer's 4 MiB partition fetch) and go through what
``AnnotationService.process`` does with them: ``decode``, ``Pipeline.ingest`` (routing and
assembly), ``Pipeline.annotate`` (normalization and plugins, timed by the pipeline's own
metrics), the annotation messages' bytes (JSON, or compact msgpack blocks for spectrum-image
rows: ``annotations.form``) and the derived documents (of a block: one event page). No
Kafka I/O: the broker measurements show that part. Stage times are wall seconds (the
pipeline's own metrics are); each kind runs twice and the faster run is kept. A kind whose
spectra go compact is also measured with ``annotations.form = "json"`` (``json_form``:
bytes and CPU per spectrum before compact annotations), and the annotation stage alone, on
the same normalized spectra and predictions, both forms alternated (``annotation_cpu_ms``:
the comparison that the shared machine's noise leaves standing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.documents import Run, encoded
from edgestream.config.settings import AnnotationSettings, Settings
from edgestream.documents.wire import decode, encode
from edgestream.metrics import Metrics
from edgestream.pipeline import Outcome, Pipeline
from edgestream.plugin.api import SpectrumModel
from edgestream.publish import compact
from edgestream.publish.annotation import count, records, to_json
from edgestream.publish.derived import DerivedRuns

FETCH_BYTES = 4 * 1024 * 1024  # max_partition_fetch_bytes of edgestream.doors.kafka.clients


def poll_batches(values: list[bytes], max_records: int) -> list[list[bytes]]:
    """Messages grouped as one partition's polls would return them (records and bytes)."""
    out: list[list[bytes]] = [[]]
    size = 0
    for v in values:
        if out[-1] and (len(out[-1]) >= max_records or size + len(v) > FETCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(v)
        size += len(v)
    return out


def breakdown_kind(runs: list[Run], models: list[SpectrumModel], form: str = "auto"
                   ) -> dict[str, Any]:
    """Seconds per stage for one kind's runs, spectra per CPU second overall, and the bytes
    of the annotation messages (``form``: the ``annotations.form`` setting)."""
    settings = Settings(annotations=AnnotationSettings(form=form))  # type: ignore[arg-type]
    metrics = Metrics()
    pipeline = Pipeline(settings, models, metrics)
    derived = DerivedRuns()
    stages = dict.fromkeys(("decode", "assemble", "annotate", "encode", "derived"), 0.0)
    values = [v for _, v in encoded(runs)]
    n = messages = size = 0
    c0 = time.process_time()
    w0 = time.perf_counter()
    for batch in poll_batches(values, settings.kafka.max_poll_records):
        spectra = []
        for value in batch:
            t = time.perf_counter()
            name, doc = decode(value)
            t1 = time.perf_counter()
            spectra += pipeline.ingest(name, doc)
            stages["decode"] += t1 - t
            stages["assemble"] += time.perf_counter() - t1
        t = time.perf_counter()
        out = pipeline.annotate(spectra)
        t1 = time.perf_counter()
        for a in out.annotations:  # what PublishPolicy.publish sends
            value = compact.pack(a) if compact.is_block(a) else to_json(a)
            size += len(value)
        t2 = time.perf_counter()
        for _, dname, ddoc in derived.on_annotations(out.annotations):  # as the policy does
            encode(dname, ddoc)
        stages["annotate"] += t1 - t
        stages["encode"] += t2 - t1
        stages["derived"] += time.perf_counter() - t2
        n += sum(count(a) for a in out.annotations)
        messages += len(out.annotations)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    reg = metrics.registry
    normalize = reg.get_sample_value("edgestream_processing_seconds_sum",
                                     {"stage": "normalize"}) or 0.0
    plugins = {m.name: reg.get_sample_value("edgestream_model_inference_seconds_sum",
                                            {"model": m.name}) or 0.0 for m in models}
    parts = {"decode": stages["decode"], "assemble": stages["assemble"],
             "normalize": normalize} | {f"plugin:{k}": v for k, v in plugins.items() if v} | {
        "annotation build": stages["annotate"] - normalize - sum(plugins.values()),
        "encode": stages["encode"], "derived docs": stages["derived"]}
    return {"spectra": n, "messages": len(values), "form": form,
            "annotation_messages": messages, "bytes_per_spectrum": size / max(1, n),
            "cpu_s": cpu, "wall_s": wall,
            "spectra_per_cpu_s": n / cpu if cpu > 0 else None,
            "ms_per_spectrum": {k: 1e3 * v / max(1, n) for k, v in parts.items()},
            "share": {k: v / wall for k, v in parts.items()}}


class _Captured(Pipeline):
    """The pipeline, keeping what the annotation stage is built from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.captured: list[tuple[list, list, float]] = []

    def _blocks(self, items: list, predictions: list, processing_s: float, out: Any
                ) -> list[int]:
        self.captured.append((items, predictions, processing_s))
        return super()._blocks(items, predictions, processing_s, out)


def annotation_cost(runs: list[Run], models: list[SpectrumModel], repeats: int = 5
                    ) -> dict[str, Any]:
    """CPU ms per spectrum of the annotation stage, JSON per spectrum against compact blocks,
    on the same normalized spectra and predictions (each form's fastest of ``repeats``,
    alternated): building and the message bytes, then with the derived documents; and what
    reading the blocks back per spectrum costs a consumer."""
    from edgestream.publish import annotation as ann

    settings = Settings(annotations=AnnotationSettings(form="json"))
    pipeline = _Captured(settings, models, Metrics())
    for batch in poll_batches([v for _, v in encoded(runs)], settings.kafka.max_poll_records):
        spectra = [s for value in batch for s in pipeline.ingest(*decode(value))]
        pipeline.annotate(spectra)
    n = sum(len(items) for items, _, _ in pipeline.captured)
    # the pipeline's own block builder, grouping by event as it does (models loaded again)
    blocks_of = Pipeline(Settings(annotations=AnnotationSettings(form="compact")), models,
                         Metrics())._blocks

    def as_json() -> tuple[float, float]:
        t0 = time.process_time()
        out = [ann.build(s, r, p, dt, settings.grid) for items, preds, dt in pipeline.captured
               for (s, r), p in zip(items, preds, strict=True)]
        for a in out:
            to_json(a)
        t1 = time.process_time()
        for _, name, doc in DerivedRuns().on_annotations(out):
            encode(name, doc)
        return t1 - t0, time.process_time() - t0

    def as_blocks() -> tuple[float, float]:
        t0 = time.process_time()
        blocks: list[dict[str, Any]] = []
        for items, preds, dt in pipeline.captured:
            out = Outcome()
            blocks_of(items, preds, dt, out)
            blocks += out.annotations
        for b in blocks:
            compact.pack(b)
        t1 = time.process_time()
        for _, name, doc in DerivedRuns().on_annotations(blocks):
            encode(name, doc)
        t2 = time.process_time()
        for b in blocks:  # what a consumer (watch, the agent) does with a block
            records(b)
        records_s.append(time.process_time() - t2)
        return t1 - t0, t2 - t0

    times: dict[str, list[tuple[float, float]]] = {"json": [], "compact": []}
    records_s: list[float] = []
    for _ in range(repeats):
        times["json"].append(as_json())
        times["compact"].append(as_blocks())
    return {form: {"build_and_bytes": 1e3 * min(t[0] for t in ts) / n,
                   "with_derived_documents": 1e3 * min(t[1] for t in ts) / n}
            for form, ts in times.items()} | {
        "spectra": n, "consumer_records_of_blocks": 1e3 * min(records_s) / n}


def breakdown(runs_by_kind: dict[str, list[Run]], models: list[SpectrumModel],
              progress: Callable[[str], None] = print) -> dict[str, Any]:
    out = {}
    for kind, runs in runs_by_kind.items():
        progress(f"stage breakdown: {kind}")
        breakdown_kind(runs[:2], models)  # warm-up: first-call costs out of the figures
        # twice, keeping the run that got the most CPU: wall times on a shared core are noisy
        out[kind] = min((breakdown_kind(runs, models) for _ in range(2)),
                        key=lambda r: r["wall_s"])
        if out[kind]["annotation_messages"] < out[kind]["spectra"]:  # compact blocks
            before = min((breakdown_kind(runs, models, "json") for _ in range(2)),
                         key=lambda r: r["wall_s"])
            out[kind]["json_form"] = {k: before[k] for k in (
                "annotation_messages", "bytes_per_spectrum", "spectra_per_cpu_s",
                "ms_per_spectrum")}
            out[kind]["annotation_cpu_ms"] = annotation_cost(runs, models)
    return out
