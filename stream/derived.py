"""Annotations as Bluesky documents: a derived run per original run, for document consumers."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import numpy as np
from event_model import compose_run, pack_event_page, unpack_event_page

from edgestream.annotation import ANNOTATION_NAMESPACE

Document = tuple[str, dict[str, Any]]

SCALARS = {
    "e0": "number",
    "edge_step": "number",
    "element": "string",
    "edge": "string",
    "modality": "string",
    "kind": "string",
    "annotation_id": "string",
}


def derived_uid(original_run_uid: str) -> str:
    """Deterministic, so a redelivered run produces the same derived run uid."""
    return str(uuid.uuid5(ANNOTATION_NAMESPACE, f"derived/{original_run_uid}"))


def split_event_page(page: dict[str, Any], pieces: int) -> list[dict[str, Any]]:
    """``page`` as ``pieces`` event pages of consecutive events, as even as they can be
    (at most one per event)."""
    events = list(unpack_event_page(page))
    bounds = np.linspace(0, len(events), max(1, min(pieces, len(events))) + 1).astype(int)
    return [pack_event_page(*events[a:b]) for a, b in itertools.pairwise(bounds)]


class DerivedRuns:
    """Turn the annotations of each original run into start/descriptor/event/stop documents."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Any, Any]] = {}

    def on_annotations(self, annotations: list[dict[str, Any]]
                       ) -> list[tuple[str, str, dict[str, Any]]]:
        """``(original run uid, name, document)`` for a batch of annotations: per run (in
        order of first appearance), start and descriptor when the run is new, then one
        ``event_page`` with its events (one Kafka message per run and batch instead of one
        per spectrum)."""
        by_run: dict[str, list[Document]] = {}
        for a in annotations:
            by_run.setdefault(a["ids"]["run_uid"], []).extend(self.on_annotation(a))
        out: list[tuple[str, str, dict[str, Any]]] = []
        for run_uid, run_docs in by_run.items():
            out += [(run_uid, name, d) for name, d in run_docs if name != "event"]
            events = [d for name, d in run_docs if name == "event"]
            out.append((run_uid, "event_page", pack_event_page(*events)))
        return out

    def on_annotation(self, annotation: dict[str, Any]) -> list[Document]:
        """Start and descriptor when the run is new, then the annotation's event."""
        run_uid = annotation["ids"]["run_uid"]
        docs: list[Document] = []
        if run_uid not in self._open:
            bundle = compose_run(
                validate=False,
                uid=derived_uid(run_uid),
                metadata={
                    "original_run_uid": run_uid,
                    "plan_name": "edgestream_annotation",
                    "beamline_id": annotation.get("beamline"),
                    "software": annotation["software"],
                },
            )
            n = len(annotation["spectrum"]["norm"])
            keys = {
                k: {"source": "edgestream", "dtype": t, "shape": []} for k, t in SCALARS.items()
            }
            keys["norm"] = {"source": "edgestream", "dtype": "array", "shape": [n]}
            keys["predictions"] = {"source": "edgestream", "dtype": "string", "shape": []}
            desc = bundle.compose_descriptor(name="annotations", data_keys=keys, validate=False)
            self._open[run_uid] = (bundle, desc)
            docs += [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
        _, desc = self._open[run_uid]
        data = {k: annotation[k] for k in SCALARS}
        norm = annotation["spectrum"]["norm"]
        data["norm"] = np.array(norm, dtype=float)  # None (JSON's NaN) becomes nan
        data["predictions"] = json.dumps(annotation["predictions"])
        ts = annotation["timing"]["published_at"] or annotation["timing"]["event_time"][1]
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
