"""FEFF10 XANES of absorbing sites: input, cached and resumable runs in parallel, xmu.dat.

Settings (``../shared/notes/feff-torch-models.md``): pymatgen ``MPXANESSet`` with cluster
radius ``radius`` (6.0 Å), ``FMS <fms> 0`` (5.0 Å), ``XANES 4 0.04 0.1`` and two cards of
that set removed from the written ``feff.inp`` (``DROPPED_CARDS``):

- ``SCF``: pymatgen's (4.5 Å) is replaced by ``K_SCF_RADIUS`` / ``L_SCF_RADIUS`` (3.5 Å; the
  note: 670 s with pymatgen's defaults); with ``scf=None`` the line is dropped, because
  ``"SCF": None`` writes ``SCF None``, which feff10 rejects;
- ``LDOS``: the l-projected DOS is not part of xmu.dat but costs as much as the FMS step
  (Cu fcc: ldos 41 s of 95 s). Checked: Cu fcc xmu.dat with and without it is bit-identical.

Absorbers: Cu by default; any element with ``absorber=`` (the 3d K-edge runs, Ti...Zn, with
the Cu K settings). Cu runs are cached under ``<edge>``, the others under ``<Element>_<edge>``
(:func:`cache_set`: ``Fe_K``), so the Cu K archive, data set and calibration never see them
and the Cu input texts, hashes and folders are what they always were.

Cache: one folder per input text, ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/feff10/<set>/
<hash>/`` with ``feff.inp``, ``POSCAR``, ``xmu.dat``, ``feff.log`` (FEFF's console output) and
``meta.json`` (key, labels, site index, FEFF parameters and versions, wall and CPU seconds),
written last; a failed run leaves ``error.txt`` instead. ``<hash>`` is the first 16 hex digits
of the SHA-256 of the input text, so the same structure, site and settings always land in the
same folder and a killed run resumes by skipping folders that have ``meta.json``.

Modules: :mod:`.inputs` (settings, ``feff.inp`` text, :class:`Job`), :mod:`.runs` (the cache,
running FEFF, reading ``xmu.dat``), :mod:`.archive` (the committed archives of finished runs).
Everything is importable from here, as ``feff10.<name>``.
"""

from __future__ import annotations

from edgestream_models.feff10.archive import (
    ARCHIVED_FILES,
    DETERMINISTIC_FAILURE,
    pack_entries,
    seed_entries,
)
from edgestream_models.feff10.inputs import (
    DEFAULT_ABSORBER,
    DROPPED_CARDS,
    EDGES,
    FMS_RADIUS,
    K_SCF_RADIUS,
    L_COREHOLE,
    L_FMS_RADIUS,
    L_SCF_RADIUS,
    L_XANES,
    RADIUS,
    XANES,
    Job,
    cache_set,
    feff_input,
    input_hash,
    make_job,
    matches_settings,
    set_edge,
    settings,
)
from edgestream_models.feff10.runs import (
    Runner,
    cache_root,
    entry_dir,
    entry_state,
    iter_entries,
    parse_xmu,
    refresh_labels,
    run_feff,
    run_job,
    run_jobs,
)

__all__ = [
    "ARCHIVED_FILES", "DEFAULT_ABSORBER", "DETERMINISTIC_FAILURE", "DROPPED_CARDS", "EDGES",
    "FMS_RADIUS", "K_SCF_RADIUS", "L_COREHOLE", "L_FMS_RADIUS", "L_SCF_RADIUS", "L_XANES",
    "RADIUS", "XANES", "Job", "Runner", "cache_root", "cache_set", "entry_dir", "entry_state",
    "feff_input", "input_hash", "iter_entries", "make_job", "matches_settings", "pack_entries",
    "parse_xmu", "refresh_labels", "run_feff", "run_job", "run_jobs", "seed_entries",
    "set_edge", "settings",
]
