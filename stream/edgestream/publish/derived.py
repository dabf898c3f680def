"""Annotations as Bluesky documents: a derived run per original run, for document consumers.

Each annotation becomes one event whose data keys are typed columns (numbers with units,
strings, booleans, the normalized spectrum as a fixed-shape array), so a table of the derived
run's stream (in Tiled, a DataFrame) can be filtered on valence, motif, e0, ... directly. The
full prediction record stays in ``predictions`` (JSON) for what has no column.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from event_model import compose_run, pack_event_page, unpack_event_page

from edgestream.publish import compact
from edgestream.publish.annotation import ANNOTATION_NAMESPACE

Document = tuple[str, dict[str, Any]]

STREAM = "annotations"  # the derived run's one event stream (its descriptor's name)
PLAN_NAME = "edgestream_annotation"
# Derived runs held open at once: a run whose end is never seen (its stop failed) must not
# hold memory for the rest of a beamtime; the oldest is dropped, unclosed, beyond this.
MAX_OPEN_RUNS = 10_000
NAN = float("nan")


@dataclass(frozen=True)
class Column:
    """One data key of the derived stream: event-model dtype, numpy dtype, units, meaning."""

    dtype: str  # "number", "integer", "string", "boolean"
    units: str | None
    doc: str

    @property
    def missing(self) -> Any:
        """What a column holds when the annotation has no such value (a fixed type per
        column, so every page of a run, and every run, has the same table schema)."""
        return {"number": NAN, "integer": -1, "string": "", "boolean": False}[self.dtype]


NUMPY_DTYPES = {"number": "<f8", "integer": "<i8", "boolean": "|b1"}

COLUMNS: dict[str, Column] = {
    "annotation_id": Column("string", None, "id of the annotation on the annotations topic"),
    "kind": Column("string", None, "final, or partial when the run expired without a stop"),
    "source_stream": Column("string", None, "stream of the original run the spectrum is from"),
    "source_seq_num": Column("integer", None, "last event seq_num of the original run used"),
    "index_in_event": Column("integer", None, "spectrum index in the event (image rows)"),
    "sample": Column("string", None, "sample name from the run or file"),
    "element": Column("string", None, "absorbing element"),
    "edge": Column("string", None, "absorption edge (K, L3, L2,3, ...)"),
    "modality": Column("string", None, "xas_transmission, xas_fluorescence, xas_mu or eels"),
    "e0": Column("number", "eV", "edge energy (XAS: photon energy; EELS: energy loss)"),
    "edge_step": Column("number", None, "edge step of the measured signal"),
    "energy_shift_ev": Column("number", "eV", "shift added to the measured energy axis"),
    "calibration_source": Column("string", None, "none, settings, metadata or reference"),
    "valence": Column("number", None, "formal valence of the absorber (a *_valence plugin)"),
    "valence_uncertainty": Column("number", None, "spread of the valence model's members"),
    "valence_plugin": Column("string", None, "plugin that gave the valence"),
    "motif": Column("string", None, "most probable local motif / coordination (*_motif)"),
    "motif_probability": Column("number", None, "its probability"),
    "motif_family": Column("string", None, "most probable motif family"),
    "top_candidate": Column("string", None, "best screening candidate's material id"),
    "top_candidate_formula": Column("string", None, "its formula"),
    "top_candidate_score": Column("number", None, "its ranking score"),
    "edge_shift_ev": Column("number", "eV", "e0 minus the tabulated edge (edge_features)"),
    "white_line_offset_ev": Column("number", "eV", "white line minus e0 (edge_features)"),
    "ood": Column("boolean", None, "a model flagged the spectrum out of its distribution"),
    "flags": Column("string", None, "comma-separated, the words of the live table: "
                    "ood:<plugin>, failed:<plugin>, partial, ref-rejected"),
    "predictions": Column("string", None, "every plugin's outputs, JSON"),
}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NAN
    return float(value)  # NaN stays NaN: the table's "no value"


def _string(value: Any) -> str:
    return "" if value is None else str(value)


def _prediction(annotation: dict[str, Any], role: str) -> tuple[str, dict[str, Any]] | None:
    """The first prediction of a plugin family: plugins are named ``<family>`` or
    ``<element>_<edge>_<family>`` (cu_k_valence, cu_l_valence), so the role is the suffix."""
    for p in annotation.get("predictions") or []:
        name = str(p.get("plugin", ""))
        outputs = p.get("outputs")
        if (name == role or name.endswith(f"_{role}")) and isinstance(outputs, dict):
            return name, outputs
    return None


def _candidates(annotation: dict[str, Any]) -> dict[str, Any]:
    for p in annotation.get("predictions") or []:
        cands = (p.get("outputs") or {}).get("candidates")
        if isinstance(cands, list) and cands and isinstance(cands[0], dict):
            return cands[0]
    return {}


def columns(annotation: dict[str, Any]) -> dict[str, Any]:
    """The typed column values of one annotation (every key of ``COLUMNS``, missing values
    as NaN / -1 / "" / False)."""
    ids = annotation.get("ids") or {}
    cal = annotation.get("energy_calibration") or {}
    seq = ids.get("seq_range") or [-1, -1]
    row: dict[str, Any] = {
        "annotation_id": _string(annotation.get("annotation_id")),
        "kind": _string(annotation.get("kind")),
        "source_stream": _string(ids.get("stream")),
        "source_seq_num": int(seq[-1]),
        "index_in_event": int(ids.get("index_in_event", 0)),
        "sample": _string(annotation.get("sample")),
        "element": _string(annotation.get("element")),
        "edge": _string(annotation.get("edge")),
        "modality": _string(annotation.get("modality")),
        "e0": _number(annotation.get("e0")),
        "edge_step": _number(annotation.get("edge_step")),
        "energy_shift_ev": _number(cal.get("shift_ev")),
        "calibration_source": _string(cal.get("source")),
    }
    flags = [f"ood:{p.get('plugin')}" for p in annotation.get("predictions") or []
             if (p.get("outputs") or {}).get("ood") is True]
    if (found := _prediction(annotation, "valence")) is not None:
        name, out = found
        row.update(valence=_number(out.get("value")),
                   valence_uncertainty=_number(out.get("uncertainty")), valence_plugin=name)
    if (found := _prediction(annotation, "motif")) is not None:
        _, out = found
        row.update(motif=_string(out.get("value")),
                   motif_probability=_number(out.get("probability")),
                   motif_family=_string(out.get("family")))
    best = _candidates(annotation)
    row.update(top_candidate=_string(best.get("material_id")),
               top_candidate_formula=_string(best.get("formula")),
               top_candidate_score=_number(best.get("score")))
    if (found := _prediction(annotation, "edge_features")) is not None:
        _, out = found
        row.update(edge_shift_ev=_number(out.get("edge_shift_ev")),
                   white_line_offset_ev=_number(out.get("white_line_offset_ev")))
    flags += [f"failed:{p.get('plugin')}" for p in annotation.get("predictions") or []
              if p.get("error")]
    if annotation.get("kind") not in (None, "final"):
        flags.append(str(annotation["kind"]))
    if cal.get("reference_rejected"):
        flags.append("ref-rejected")
    row.update(ood=any(f.startswith("ood:") for f in flags), flags=",".join(flags),
               predictions=json.dumps(annotation.get("predictions", [])))
    return {k: row.get(k, c.missing) for k, c in COLUMNS.items()}


def data_keys(n_norm: int) -> dict[str, dict[str, Any]]:
    """The descriptor's data keys: typed scalar columns and the ``norm`` array."""
    keys: dict[str, dict[str, Any]] = {}
    for name, c in COLUMNS.items():
        key: dict[str, Any] = {"source": "edgestream", "dtype": c.dtype, "shape": []}
        if c.dtype in NUMPY_DTYPES:
            key["dtype_numpy"] = NUMPY_DTYPES[c.dtype]
        if c.units is not None:
            key["units"] = c.units
        keys[name] = key
    keys["norm"] = {"source": "edgestream", "dtype": "array", "dtype_numpy": "<f8",
                    "shape": [n_norm], "dims": ["energy_from_e0"], "units": "normalized"}
    return keys


def derived_uid(original_run_uid: str) -> str:
    """Deterministic, so a redelivered run produces the same derived run uid."""
    return str(uuid.uuid5(ANNOTATION_NAMESPACE, f"derived/{original_run_uid}"))


def split_event_page(page: dict[str, Any], pieces: int) -> list[dict[str, Any]]:
    """``page`` as ``pieces`` event pages of consecutive events, as even as they can be
    (at most one per event)."""
    events = list(unpack_event_page(page))
    bounds = np.linspace(0, len(events), max(1, min(pieces, len(events))) + 1).astype(int)
    return [pack_event_page(*events[a:b]) for a, b in itertools.pairwise(bounds)]


def _joined(pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Event pages of one descriptor as one (the policy splits it when over the limit)."""
    if len(pages) == 1:
        return pages[0]
    first = pages[0]
    return {"descriptor": first["descriptor"],
            **{k: [x for p in pages for x in p[k]] for k in ("uid", "time", "seq_num")},
            **{k: {key: [x for p in pages for x in p[k][key]] for key in first[k]}
               for k in ("data", "timestamps", "filled")}}


def _grid_points(grid: dict[str, Any]) -> int:
    return int(np.arange(grid["start"], grid["stop"] + grid["step"] / 2, grid["step"]).size)


def _norm(annotation: dict[str, Any], n: int) -> np.ndarray:
    """The normalized spectrum as ``n`` floats (None, JSON's NaN, becomes nan; a spectrum of
    another length, which the shared grid never makes, is cut or NaN-padded to the shape;
    no spectrum, a compact annotation read without them, all NaN)."""
    norm = np.array(annotation["spectrum"]["norm"] or [], dtype=float)
    out = np.full(n, np.nan)
    out[: min(n, len(norm))] = norm[:n]
    return out


class DerivedRuns:
    """Turn the annotations of each original run into start/descriptor/event/stop documents."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Any, Any, int]] = {}

    def on_annotations(self, annotations: list[dict[str, Any]]
                       ) -> list[tuple[str, str, dict[str, Any]]]:
        """``(original run uid, name, document)`` for a batch of annotations (JSON ones and
        compact blocks): per run (in order of first appearance), start and descriptor when
        the run is new, then one ``event_page`` with its events (one Kafka message per run
        and batch instead of one per spectrum)."""
        by_run: dict[str, list[Document]] = {}
        for a in annotations:  # compact blocks (publish.compact) come as event pages
            docs = self.on_block(a) if compact.is_block(a) else self.on_annotation(a)
            by_run.setdefault(a["ids"]["run_uid"], []).extend(docs)
        out: list[tuple[str, str, dict[str, Any]]] = []
        for run_uid, run_docs in by_run.items():
            out += [(run_uid, name, d) for name, d in run_docs
                    if name not in ("event", "event_page")]
            pages: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for name, d in [*run_docs, ("end", {})]:  # in order: consecutive events, a page
                if name in ("event_page", "end") and events:
                    pages.append(pack_event_page(*events))
                    events = []
                if name == "event":
                    events.append(d)
                elif name == "event_page":
                    pages.append(d)
            out.append((run_uid, "event_page", _joined(pages)))
        return out

    def _open_run(self, run_uid: str, beamline: Any, software: Any, grid: dict[str, Any],
                  n: int) -> list[Document]:
        """Start and descriptor of the derived run of ``run_uid`` when it is new."""
        if run_uid in self._open:
            return []
        bundle = compose_run(
            validate=False,
            uid=derived_uid(run_uid),
            metadata={
                "original_run_uid": run_uid,
                "plan_name": PLAN_NAME,
                "beamline_id": beamline,
                "software": software,
                # the energy axis of every event's ``norm``: e0 + start + i * step
                "norm_grid": grid,
            },
        )
        desc = bundle.compose_descriptor(name=STREAM, data_keys=data_keys(n), validate=False)
        self._open[run_uid] = (bundle, desc, n)
        while len(self._open) > MAX_OPEN_RUNS:
            del self._open[next(iter(self._open))]
        return [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]

    def on_block(self, block: dict[str, Any]) -> list[Document]:
        """Start and descriptor when the run is new, then one event page with an event per
        spectrum of a compact block: the events ``on_annotation`` makes of its spectra's
        annotations, without building those annotations."""
        run_uid, n = block["ids"]["run_uid"], int(block["n"])
        spec = block["spectrum"]
        norm = compact.as_array(spec["norm"]) if "norm" in spec else None
        docs = self._open_run(run_uid, block.get("beamline"), block["software"], spec["grid"],
                              norm.shape[1] if norm is not None else _grid_points(spec["grid"]))
        _, desc, width = self._open[run_uid]
        ids, seq = block["ids"], list(block["ids"]["seq_range"])
        aids = compact.annotation_ids(block)
        index = compact.values(block["index_in_event"], n)
        e0 = compact.values(block["e0"], n)
        step = compact.values(block["edge_step"], n)
        cal = compact.values(block["energy_calibration"], n)
        preds = [({k: p[k] for k in ("plugin", "version", "model_sha256", "provider")},
                  compact.values(p["outputs"], n)) for p in block["predictions"]]
        shared = {k: block.get(k) for k in ("kind", "sample", "element", "edge", "modality")}
        rows = [columns({  # what columns() reads of an annotation, and no more
            "annotation_id": aids[i], **shared, "e0": e0[i], "edge_step": step[i],
            "ids": {"stream": ids["stream"], "seq_range": seq, "index_in_event": index[i]},
            "energy_calibration": cal[i],
            "predictions": [p | {"outputs": outs[i]} for p, outs in preds]}) for i in range(n)]
        data: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in COLUMNS}
        grid = np.full((n, width), np.nan)
        if norm is not None:
            grid[:, :min(width, norm.shape[1])] = norm[:, :width]
        data["norm"] = list(grid)
        published = block["timing"]["published_at"]
        if published and math.isfinite(published):
            ts = [published] * n
        else:
            ts = [t[1] for t in compact.values(block["timing"]["event_time"], n)]
        uids = [str(uuid.uuid5(ANNOTATION_NAMESPACE, f"derived-event/{a}")) for a in aids]
        page = desc.compose_event_page(data=data, timestamps=dict.fromkeys(data, ts), uid=uids,
                                       validate=False)
        return [*docs, ("event_page", page)]

    def on_annotation(self, annotation: dict[str, Any]) -> list[Document]:
        """Start and descriptor when the run is new, then the annotation's event."""
        run_uid = annotation["ids"]["run_uid"]
        spec = annotation["spectrum"]
        docs = self._open_run(run_uid, annotation.get("beamline"), annotation["software"],
                              spec["grid"], len(spec["norm"]) if spec["norm"] is not None
                              else _grid_points(spec["grid"]))
        _, desc, n = self._open[run_uid]
        data = columns(annotation)
        data["norm"] = _norm(annotation, n)
        published = annotation["timing"]["published_at"]
        ts = published if published and math.isfinite(published) else \
            annotation["timing"]["event_time"][1]
        # Schema validation cost ~5 ms per event (jsonschema formats the norm array while
        # checking) and ~9 ms per run: these documents are built by this class alone, the
        # same way every time, and tests/test_derived.py validates every kind against the
        # event-model schemas.
        uid = str(uuid.uuid5(ANNOTATION_NAMESPACE, f"derived-event/{annotation['annotation_id']}"))
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, ts),
                                                 uid=uid, validate=False)))
        return docs

    def on_run_end(self, run_uid: str, exit_status: str = "success") -> list[Document]:
        """Close the derived run when the original run stops (or expires)."""
        opened = self._open.pop(run_uid, None)
        if opened is None:
            return []
        return [("stop", opened[0].compose_stop(exit_status=exit_status, validate=False))]
