"""An acquisition plan that waits for its own annotation and branches on the valence.

The edgestream callback runs the service's analysis inside the RunEngine's process
(``RE.subscribe(callback)``): no Kafka. The plan measures a spot, waits for that scan's
annotation with ``wait_for_annotations`` (it sleeps through ``bps.sleep``, so the RunEngine
stays responsive to pause and abort), and then

- Cu(II) (valence ≥ 1.5): measures the spot again with a longer dwell, for a better EXAFS;
- otherwise: moves on.

The valence comes from the ``valence`` plugin when it is installed; until then the edge
shift of the ``edge_features`` plugin stands in for it (Cu K: e0 ≥ 3 eV above the metal
edge is taken as Cu(II), ≥ 0.75 eV as Cu(I); a crude rule, stated as such).

Run it on the simulated gradient sample::

    python examples/valence_branching.py
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky import RunEngine

from edgestream.config.settings import Settings
from edgestream.doors.callback import AnnotatingCallback, wait_for_annotations
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import discover
from edgestream_agent.gradient import GradientSample, GradientStage, gradient_xas_scan
from edgestream_sim.devices import EnergyAxis, IonChambers, PhotonBeam

OXIDIZED = 1.5  # valence at and above which a spot counts as Cu(II)


def valence_of(annotation: dict[str, Any]) -> tuple[float | None, str]:
    """The annotation's valence and where it came from."""
    outputs = {p["plugin"]: p["outputs"] for p in annotation["predictions"]}
    v = outputs.get("valence", {}).get("value")
    if isinstance(v, int | float) and not outputs["valence"].get("ood"):
        return float(v), "valence plugin"
    shift = outputs.get("edge_features", {}).get("edge_shift_ev")
    if isinstance(shift, int | float):
        return (2.0 if shift >= 3.0 else 1.0 if shift >= 0.75 else 0.0), "edge shift rule"
    return None, "none"


def measure_and_branch(callback: AnnotatingCallback, ic: Any, mono: Any, stage: Any,
                       x: float, timeout: float = 60.0) -> Any:
    """Measure at ``x`` (mm); if the spot is Cu(II), measure it again with 3x the dwell."""
    uid = yield from gradient_xas_scan(ic, mono, stage, x)
    annotations = yield from wait_for_annotations(callback, uid, timeout=timeout)
    if not annotations:
        return {"x": x, "branch": "no annotation", "runs": [uid]}
    valence, source = valence_of(annotations[0])
    if valence is not None and valence >= OXIDIZED:
        dwell = ic.dwell.get()
        yield from bps.mv(ic.dwell, 3 * dwell)
        again = yield from gradient_xas_scan(ic, mono, stage, x, md={"repeat_of": uid})
        yield from bps.mv(ic.dwell, dwell)
        return {"x": x, "branch": "oxidized: measured again", "valence": valence,
                "source": source, "runs": [uid, again]}
    return {"x": x, "branch": "reduced: moved on", "valence": valence, "source": source,
            "runs": [uid]}


def main() -> None:
    rng = np.random.default_rng(0)
    beam = PhotonBeam()
    stage = GradientStage(sample=GradientSample((20.0, 40.0), (0.3, 0.3)), rng=rng)
    ic, mono = IonChambers(stage=stage, beam=beam), EnergyAxis(beam=beam)
    callback = AnnotatingCallback(Pipeline(Settings(), discover()))
    RE = RunEngine({}, context_managers=[])
    RE.subscribe(callback)
    results: list[dict[str, Any]] = []

    def spots() -> Any:
        for x in (5.0, 55.0):
            results.append((yield from measure_and_branch(callback, ic, mono, stage, x)))

    RE(spots())
    callback.close()
    for r in results:
        print(r)


if __name__ == "__main__":
    main()
