"""Observations read from Tiled: the derived runs edgestream writes (edgestream.publish.tiled),
placed by their raw runs in the same catalog.

For each derived run (``start.plan_name == "edgestream_annotation"``, optionally only those
of given raw runs) the quantity is a column of its ``annotations`` table (``valence`` with
``valence_uncertainty`` by default; rows flagged ``ood`` or without a value are left out,
as the Kafka path leaves them out). The position comes from the raw run: its start document
(``sample_position`` or top-level keys), else the first row of its ``baseline`` stream (where
beamlines such as NSLS-II BMM keep the sample stage), else of its ``primary`` stream.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from edgestream.publish.derived import PLAN_NAME, STREAM
from edgestream.publish.tiled import read_table
from edgestream_agent.observation import Observation, Quantity

log = logging.getLogger(__name__)

TABLE = "internal"  # the table in a stream container, as bluesky's TiledWriter names it


@dataclass
class TiledSource:
    """Reads annotations' quantity and position for runs found in a Tiled container."""

    client: Any  # a tiled Container client: where the raw and derived runs are
    quantity: str = "valence"
    uncertainty: str | None = "valence_uncertainty"
    position_keys: tuple[str, ...] = ("x",)
    position_streams: tuple[str, ...] = ("baseline", "primary")

    @classmethod
    def from_uri(cls, uri: str, api_key: str | None = None, **kw: Any) -> TiledSource:
        from tiled.client import from_uri

        return cls(from_uri(uri, api_key=api_key), **kw)

    def derived_runs(self, original_run_uids: Sequence[str] | None = None) -> Iterator[Any]:
        """The derived runs' nodes, all of them or those of the given raw runs."""
        from tiled.queries import In, Key

        found = self.client.search(Key("start.plan_name") == PLAN_NAME)
        if original_run_uids is not None:
            found = found.search(In("start.original_run_uid", list(original_run_uids)))
        yield from found.values()

    def observations(self, original_run_uids: Sequence[str] | None = None
                     ) -> list[Observation]:
        """One Observation per usable annotation, in the order the runs are found."""
        out: list[Observation] = []
        for derived in self.derived_runs(original_run_uids):
            run_uid = derived.metadata["start"]["original_run_uid"]
            position, raw_sample = self.position(run_uid)
            if position is None:
                log.info("tiled: run %s has no position %s; its annotations are left out",
                         run_uid, self.position_keys)
                continue
            out += self._rows(derived, run_uid, position, raw_sample)
        return out

    def _rows(self, derived: Any, run_uid: str, position: tuple[float, ...],
              raw_sample: str | None) -> list[Observation]:
        if STREAM not in derived:
            return []
        table = _table(derived[STREAM])
        if table is None:
            return []
        wanted = ["annotation_id", "sample", "ood", "time", self.quantity]
        if self.uncertainty:
            wanted.append(self.uncertainty)
        df = read_table(table, [c for c in dict.fromkeys(wanted)
                                if c in table.structure().columns])
        if self.quantity not in df:
            return []
        out = []
        for i in range(len(df)):
            value = float(df[self.quantity].iloc[i])
            if not math.isfinite(value) or ("ood" in df and bool(df["ood"].iloc[i])):
                continue
            sigma = float(df[self.uncertainty].iloc[i]) if self.uncertainty in df else math.nan
            sample = raw_sample or (str(df["sample"].iloc[i]) if "sample" in df else None)
            out.append(Observation(
                annotation_id=str(df["annotation_id"].iloc[i]), run_uid=run_uid,
                sample=sample or None, position=position,
                quantity=Quantity(value, sigma if math.isfinite(sigma) else None,
                                  f"tiled:{self.quantity}"),
                time=float(df["time"].iloc[i]) if "time" in df else 0.0))
        return out

    def position(self, run_uid: str) -> tuple[tuple[float, ...] | None, str | None]:
        """(position, sample name) of a raw run in the catalog; (None, None) if not there."""
        try:
            raw = self.client[run_uid]
        except KeyError:
            return None, None
        start = raw.metadata.get("start", {})
        sample = start.get("sample") or start.get("sample_name")
        sample = None if sample is None else str(sample)
        pos = _numbers(start.get("sample_position") if isinstance(
            start.get("sample_position"), dict) else start, self.position_keys)
        for stream in self.position_streams:
            if pos is not None:
                break
            if stream in raw and (table := _table(raw[stream])) is not None:
                columns = table.structure().columns
                if all(k in columns for k in self.position_keys):
                    df = read_table(table, list(self.position_keys))
                    if len(df):
                        pos = _numbers({k: df[k].iloc[0] for k in self.position_keys},
                                       self.position_keys)
        return pos, sample


def _table(stream: Any) -> Any:
    """The stream's event table (bluesky TiledWriter's ``internal``), or None."""
    node = getattr(stream, "base", stream)
    return node.get(TABLE)


def _numbers(source: Any, keys: tuple[str, ...]) -> tuple[float, ...] | None:
    if not isinstance(source, dict):
        return None
    values = [source.get(k) for k in keys]
    try:
        out = tuple(float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if any(isinstance(v, bool) for v in values) or not all(math.isfinite(v) for v in out):
        return None
    return out
