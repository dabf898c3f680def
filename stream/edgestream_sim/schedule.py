"""Which run comes next on the simulated beamline: step, other-element, fly, EELS and
fluorescence runs in turn, cycling samples and variants, the EELS runs alternating Cu and Mn
L2,3 (:class:`RunSchedule`)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .plans import Plan, eels_acquisition, fluorescence_scan, fly_scan, xas_step_scan

if TYPE_CHECKING:
    from .beamline import SimBeamline

# "other_k": K-edge runs of samples of other elements than Cu (FEFF10: Fe), step and fly
# scans in turn; second in each turn, so a short demo measures one early.
RUN_KINDS = ("step", "other_k", "fly", "eels", "fluor")
DEFAULT_COUNTS = {"step": 6, "other_k": 0, "fly": 3, "eels": 3, "fluor": 0}
# The elements whose L2,3 edges the EELS runs measure, in turn (``EelsSpecimenStage``):
# each element's spectrum image, then each one's single spectra, so two EELS runs already
# map both Cu and Mn. ("Cu",) is the Cu-only microscope of before.
EELS_ELEMENTS = ("Cu", "Mn")

# Step-scan variants, cycled: units, direction, repeated points, element/edge metadata.
STEP_VARIANTS: tuple[dict[str, Any], ...] = (
    {"units": "eV"},
    {"units": "keV"},
    {"units": "eV", "descending": True},
    {"units": "eV", "repeat_every": 7},
    {"units": "keV", "descending": True, "with_edge_md": False},
    {"units": "eV", "with_edge_md": False},
)
# Variants of the other elements' runs, cycled: scan type, units, direction, element/edge
# metadata. Six variants over five Fe samples: each sample meets every variant in turn.
OTHER_VARIANTS: tuple[dict[str, Any], ...] = (
    {"scan": "step", "units": "eV"},
    {"scan": "fly"},
    {"scan": "step", "units": "keV"},
    {"scan": "fly", "with_edge_md": False},
    {"scan": "step", "units": "eV", "descending": True},
    {"scan": "step", "units": "eV", "with_edge_md": False},
)


class RunSchedule:
    """Which plan comes next: step, other-element (``other_k``), fly, EELS and fluorescence
    runs in turn, cycling samples and variants."""

    def __init__(
        self,
        bl: SimBeamline,
        beamline_id: str,
        counts: dict[str, int | None],
        n_sweeps: int = 4,
        n_eels_events: int = 4,
        si_rows: int | None = None,
        eels_elements: tuple[str, ...] = EELS_ELEMENTS,
    ) -> None:
        unknown = set(eels_elements) - set(bl.eels_stage.BY_ELEMENT)
        if not eels_elements or unknown:
            raise ValueError(f"EELS elements must be some of {sorted(bl.eels_stage.BY_ELEMENT)}"
                             f", not {list(eels_elements)}")
        self.bl = bl
        self.beamline_id = beamline_id
        self.remaining = {k: counts.get(k, 0) for k in RUN_KINDS}
        self.n_sweeps = n_sweeps
        self.n_eels_events = n_eels_events
        self.si_rows = si_rows or n_eels_events
        self.eels_elements = tuple(eels_elements)
        self.done: Counter[str] = Counter()
        self._turn = 0

    def next_kind(self) -> str | None:
        """The next kind of run with count left, in turn; None when every count is reached."""
        for _ in RUN_KINDS:
            kind = RUN_KINDS[self._turn % len(RUN_KINDS)]
            self._turn += 1
            limit = self.remaining[kind]
            if limit is None or self.done[kind] < limit:
                return kind
        return None

    def plan(self, kind: str) -> Plan:
        """The plan for the next run of ``kind`` (counts it as done)."""
        plan = getattr(self, f"_{kind}")(self.done[kind])
        self.done[kind] += 1
        return plan

    def _step(self, i: int) -> Plan:
        v = dict(STEP_VARIANTS[i % len(STEP_VARIANTS)])
        motor = self.bl.dcm_energy_kev if v.pop("units") == "keV" else self.bl.dcm_energy
        mid = self.bl.materials[i % len(self.bl.materials)]
        name = None if v.get("with_edge_md", True) else f"unknown-{i:03d}"
        return xas_step_scan(
            self.bl.ic,
            motor,
            self.bl.xas_stage,
            mid,
            sample_name=name,
            beamline_id=self.beamline_id,
            **v,
        )

    def _fly(self, i: int) -> Plan:
        mid = self.bl.materials[(3 * i + 1) % len(self.bl.materials)]
        with_md = i % 3 != 2
        return fly_scan(
            self.bl.qexafs,
            self.bl.xas_stage,
            mid,
            n_sweeps=self.n_sweeps,
            with_edge_md=with_md,
            sample_name=None if with_md else f"fly-{i:03d}",
            beamline_id=self.beamline_id,
        )

    def _other_k(self, i: int) -> Plan:
        """A step or fly scan of the next sample of another element (``OTHER_VARIANTS``)."""
        others = self.bl.other_materials
        if not others:
            raise ValueError("no samples of other elements than Cu on this beamline")
        mid = others[i % len(others)]
        v = dict(OTHER_VARIANTS[i % len(OTHER_VARIANTS)])
        name = None if v.get("with_edge_md", True) else f"unknown-k-{i:03d}"
        if v.pop("scan") == "fly":
            return fly_scan(self.bl.qexafs, self.bl.xas_stage, mid, n_sweeps=self.n_sweeps,
                            sample_name=name, beamline_id=self.beamline_id, **v)
        motor = self.bl.dcm_energy_kev if v.pop("units") == "keV" else self.bl.dcm_energy
        return xas_step_scan(self.bl.ic, motor, self.bl.xas_stage, mid, sample_name=name,
                             beamline_id=self.beamline_id, **v)

    def _fluor(self, i: int) -> Plan:
        mid = self.bl.materials[(2 * i + 1) % len(self.bl.materials)]
        return fluorescence_scan(self.bl.fl_chambers, self.bl.fluor, self.bl.dcm_energy,
                                 self.bl.xas_stage, mid, beamline_id=self.beamline_id)

    def _eels(self, i: int) -> Plan:
        """EELS run ``i``: the elements in turn; per element, a spectrum image across its
        layered lamella, then single spectra of its compounds in turn, and so on."""
        n = len(self.eels_elements)
        element, j = self.eels_elements[i % n], i // n  # j: this element's j-th EELS run
        singles, layered = self.bl.eels_stage.BY_ELEMENT[element]
        if j % 2 == 0:  # spectrum-image rows across its layers (Cu | Cu2O | CuO, ...)
            return eels_acquisition(
                self.bl.eels_si,
                self.bl.eels_stage,
                layered,
                n_events=self.si_rows,
                beamline_id=self.beamline_id,
            )
        specimen = singles[(j // 2) % len(singles)]
        return eels_acquisition(
            self.bl.eels,
            self.bl.eels_stage,
            specimen,
            n_events=self.n_eels_events,
            with_edge_md=j % 4 != 3,
            beamline_id=self.beamline_id,
        )
