"""Runs shaped as NSLS-II BMM records them, from a real RunEngine: the sample stage
(``xafs_linx``/``xafs_liny`` in BMM's profile, whose readings are named ``xafs_x``/
``xafs_y``) and the reference stage ``xafs_linxs`` in the **baseline** stream, read once
before and once after each run; nothing about the position in the start document."""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
from bluesky import RunEngine
from bluesky.preprocessors import SupplementalData
from ophyd.sim import SynAxis, det

Docs = list[tuple[str, dict[str, Any]]]


class BMMStage:
    """A RunEngine with BMM's sample stages in its baseline; ``run`` returns the documents."""

    def __init__(self) -> None:
        self.xafs_x = SynAxis(name="xafs_x")
        self.xafs_y = SynAxis(name="xafs_y")
        self.xafs_linxs = SynAxis(name="xafs_linxs")
        self.RE = RunEngine({}, context_managers=[])
        self.RE.preprocessors.append(
            SupplementalData(baseline=[self.xafs_x, self.xafs_y, self.xafs_linxs]))
        self.docs: Docs = []
        self.RE.subscribe(lambda name, doc: self.docs.append((name, doc)))

    def plan(self, x: float, y: float = 95.0, *, move_during: float | None = None,
             md: dict[str, Any] | None = None) -> Any:
        """Move the stage, then one run; ``move_during`` moves x inside the run (so the
        baseline's first and last readings differ)."""
        yield from bps.mv(self.xafs_x, x, self.xafs_y, y)
        md = {"sample_name": "PdCuCr film", "XDI": {"Element": {"symbol": "Cu"}}, **(md or {})}

        @bpp.run_decorator(md={"plan_name": "scan_nd", **md})
        def inner() -> Any:
            yield from bps.trigger_and_read([det])
            if move_during is not None:
                yield from bps.mv(self.xafs_x, move_during)
            yield from bps.trigger_and_read([det])

        return (yield from inner())

    def run(self, x: float, y: float = 95.0, **kw: Any) -> Docs:
        self.docs = []
        self.RE(self.plan(x, y, **kw))
        return self.docs

    def scan(self, xs: list[float]) -> Docs:
        """A scan over the stage itself: the positions are in the primary stream."""
        self.docs = []
        self.RE(bp.list_scan([det], self.xafs_x, xs))
        return self.docs


def run_uid(docs: Docs) -> str:
    return next(d["uid"] for n, d in docs if n == "start")
