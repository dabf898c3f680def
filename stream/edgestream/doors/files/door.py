"""The files door: a spectrum file becomes Bluesky runs, then takes the stream's own path.

XDI and column files hold one spectrum; an Athena project one per μ(E) group; a SPEC file
one per scan; a Gatan .dm3/.dm4 file one run per EELS data set, one spectrum per pixel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
from event_model import compose_run

from edgestream.config.settings import Settings
from edgestream.documents.assemble import average_repeats, xas_signal
from edgestream.doors.files.athena import is_athena, read_athena
from edgestream.doors.files.columns import Resolution, resolve
from edgestream.doors.files.gatan import is_gatan, read_gatan
from edgestream.doors.files.readers import (
    ColumnFile,
    read_spec_scans,
    read_spectrum_file,
    spec_scan_errors,
)
from edgestream.errors import MissingChannel, StreamError
from edgestream.physics.calibration import ReferenceCalibration, reference_calibration
from edgestream.physics.edges import identify_edge
from edgestream.pipeline import Failure, Outcome, Pipeline
from edgestream.plugin.api import SpectrumModel
from edgestream.publish.policy import PublishPolicy

Document = tuple[str, dict[str, Any]]
log = logging.getLogger(__name__)


class FileOptions(TypedDict, total=False):
    """What ``file_documents`` takes besides the path (``annotate_file`` passes them on)."""

    element: str | None
    edge: str | None
    energy_shift_ev: float | None
    eels: bool
    reference: Path | None
    reference_e0_ev: float | None
    composition: str | None


def _resolve(data: ColumnFile) -> Resolution:
    """The file's channels (``edgestream.doors.files.columns``): by name, else inferred."""
    others = {k: v for k, v in data.columns.items() if v is not data.energy}
    try:
        near = float(data.meta("Scan.edge_energy") or "nan")
    except ValueError:
        near = float("nan")
    return resolve(others, data.energy, data.path, near if np.isfinite(near) else None)


def _signals(data: ColumnFile) -> dict[str, np.ndarray]:
    """Transmission (I0, It), fluorescence (I0 and If, summed over detector elements) or a
    stored μ, whichever shows the clearest edge, with the reference foil's channel when the
    file has one."""
    return _resolve(data).signals


def _mu(data: ColumnFile) -> np.ndarray:
    """μ(E) of a file's spectrum (ln(I0/It), If/I0 or stored), as the stream forms it."""
    columns = {key.lower(): values for key, values in _signals(data).items()}
    modality = ("xas_transmission" if "it" in columns else
                "xas_fluorescence" if "if" in columns else "xas_mu")
    return xas_signal(modality, columns)


def foil_on_axis(path: Path, energy: np.ndarray) -> np.ndarray:
    """μ of a reference foil stored in its own file, interpolated onto ``energy`` (eV).

    The foil must come from the same scan as the sample (the same mono axis): a foil scan
    from another time carries that time's calibration, not this scan's.
    """
    foil = read_spectrum_file(path)
    order = np.argsort(foil.energy)
    return np.interp(energy, foil.energy[order], _mu(foil)[order])


def foil_scan_calibration(
    foil: str, files: list[Path], element: str | None = None, edge: str | None = None,
    reference_e0_ev: float | None = None,
) -> ReferenceCalibration:
    """The session's energy calibration from a foil scanned on its own (the day's foil scan).

    ``foil``: a spectrum file, or the label of a group in one of ``files``' Athena projects.
    Its edge goes to the tabulated one (or ``reference_e0_ev``), as a reference channel's
    would; the shift then holds for every scan of that session. Raises BadReference when the
    foil has no usable edge, MissingChannel when no file or group of that name exists.
    """
    path = Path(foil)
    if path.is_file():
        records = read_records(path)
    else:
        records = [g for f in files if is_athena(f) for g in read_athena(f).groups
                   if g.meta("Sample.name") == foil]
    if len(records) != 1:
        raise MissingChannel(f"foil scan {foil!r}: {len(records)} spectra by that name (a file "
                             "with one spectrum, or one Athena group label, is needed)")
    data = records[0]
    return reference_calibration(data.energy, _mu(data), element or data.element,
                                 edge or data.edge, reference_e0=reference_e0_ev)


def read_records(path: Path) -> list[ColumnFile]:
    """The spectra in a file: every μ(E) group of an Athena project, every scan of a SPEC
    file, else the one spectrum."""
    if is_athena(path):
        return read_athena(path).groups
    data = read_spectrum_file(path)
    if data.meta("Scan.spec_scan") is None:
        return [data]
    return read_spec_scans(path)


def file_documents(
    path: Path,
    element: str | None = None,
    edge: str | None = None,
    energy_shift_ev: float | None = None,
    eels: bool = False,
    reference: Path | None = None,
    reference_e0_ev: float | None = None,
    composition: str | None = None,
) -> list[Document]:
    """start, descriptor, one array event and stop for each spectrum in ``path`` (one for
    XDI and column files, one per μ(E) group for an Athena project).

    ``eels``: the first column is energy loss (eV) and the other one counts. ``reference``:
    a file holding the reference foil measured in the same scan (its μ becomes ``mu_ref``);
    ``reference_e0_ev``: where that reference's edge belongs when it is not the element's
    foil (default: the tabulated edge). ``composition``: what the sample is made of (a formula
    or element symbols), else the XDI ``Sample.stoichiometry`` or ``Sample.formula``.
    Gatan ``.dm3``/``.dm4`` files are EELS: one run per data set, one event per row of a
    spectrum image (``gatan_documents``)."""
    if is_gatan(path):
        return gatan_documents(path, element, edge, composition)
    docs: list[Document] = []
    for data in read_records(path):
        md: dict[str, Any] = {"sample": data.meta("Sample.name") or path.stem,
                              "source_file": data.path, "plan_name": "edgestream_file"}
        if data.meta("Scan.spec_scan"):
            md["spec_scan"] = data.meta("Scan.spec_scan")
        hint = _edge_hint(data) if not (element or data.element) else None
        found = None if eels else _resolve(data)
        if hint is None and found is not None and not (element or data.element):
            hint = found.line_edge(data.energy)  # an ROI named for its element's line
        if element or data.element or hint:
            md["element"] = element or data.element or hint[0]
        if edge or data.edge or hint:
            md["edge"] = edge or data.edge or hint[1]
        if energy_shift_ev is not None:
            md["energy_shift_ev"] = energy_shift_ev
        if reference_e0_ev is not None:
            md["reference_e0_ev"] = reference_e0_ev
        formula = (composition or data.meta("Sample.stoichiometry")
                   or data.meta("Sample.formula"))
        if formula:
            md["composition"] = formula
        if eels:
            md["modality"] = "eels"
            (counts,) = [v for v in data.columns.values() if v is not data.energy][:1] or [None]
            if counts is None:
                raise MissingChannel("an EELS file needs an energy-loss and a counts column")
            signals = {"energy_loss": data.energy, "eels_counts": counts}
            # a spectrum digitized from a figure, or two files pasted together, can step
            # back in loss: ordered and averaged like a step scan's points
            signals, repeats = _step_points(signals, "energy_loss")
            if repeats:
                md["repeated_points_averaged"] = repeats
        else:
            found = found or _resolve(data)
            signals = {"energy": data.energy, **found.signals}
            md["channels"] = found.used
            md["channels_source"] = found.source
            if found.notes:
                md["channel_notes"] = found.notes
            if data.meta("Edgestream.energy"):
                md["energy_note"] = data.meta("Edgestream.energy")
            if reference is not None:
                signals["mu_ref"] = foil_on_axis(reference, data.energy)
            signals, repeats = _step_points(signals)
            if repeats:
                md["repeated_points_averaged"] = repeats
        docs += _run(md, signals)
    return docs


def _edge_hint(data: ColumnFile) -> tuple[str, str] | None:
    """The element and edge a scan was set up for, from the edge energy its header gives
    (``E0= 6540.00``, ``exafs_edge_energy 6.539``, XDI ``Scan.edge_energy``): beamline
    software takes it from the same tables, so it names the edge where the measured e0 of
    an oxidised sample, 10-15 eV higher, could be nearer another element's L1 or M edge."""
    try:
        value = float(data.meta("Scan.edge_energy") or "nan")
        if not np.isfinite(value):
            return None
        element, edge, _ = identify_edge(value, tolerance=3.0)
    except (ValueError, StreamError):
        return None
    return element, edge


def _step_points(signals: dict[str, np.ndarray], axis: str = "energy",
                 ) -> tuple[dict[str, np.ndarray], int]:
    """A file's rows are step-scan points: put them in order of ``signals[axis]`` (photon
    energy, or energy loss) and average the points measured at one energy (as the stream's
    step assembler does); returns how many rows were merged. A reversed scan is left as it
    is (the assembler turns it round)."""
    energy = signals[axis]
    step = np.diff(energy)
    if np.all(step > 0) or np.all(step < 0) or not np.all(np.isfinite(energy)):
        return signals, 0
    keys = [k for k in signals if k != axis]
    merged, values = average_repeats(energy, np.stack([signals[k] for k in keys]))
    return {axis: merged} | dict(zip(keys, values, strict=True)), energy.size - merged.size


def gatan_documents(path: Path, element: str | None = None, edge: str | None = None,
                    composition: str | None = None) -> list[Document]:
    """A run for each EELS data set of a Gatan file: the energy-loss axis from its
    calibration, and one event per row of counts (a spectrum image's scan line; a single
    spectrum is one row of one), so each spectrum's annotation carries its row (the event)
    and column (``index_in_event``)."""
    gatan = read_gatan(path)
    for image, why in gatan.skipped.items():  # a survey image beside the spectrum image
        log.info("%s: %s left out: %s", path, image, why)
    docs: list[Document] = []
    for i, image in enumerate(gatan.images):
        md: dict[str, Any] = {"sample": image.title or path.stem, "source_file": str(path),
                              "plan_name": "edgestream_file", "modality": "eels",
                              "eels_dispersion_ev": image.metadata["dispersion_ev"],
                              "spectrum_image_shape": list(image.counts.shape[:2]),
                              "dm_image_index": i}
        if element:
            md["element"] = element
        if edge:
            md["edge"] = edge
        if composition:
            md["composition"] = composition
        bundle = compose_run(metadata=md)
        n = image.loss.size
        width = image.counts.shape[1]
        shape = [n] if width == 1 else [width, n]
        keys = {"energy_loss": {"source": "file", "dtype": "array", "shape": [n], "units": "eV"},
                "eels_counts": {"source": "file", "dtype": "array", "shape": shape,
                                "units": "counts"}}
        desc = bundle.compose_descriptor(name="primary", data_keys=keys)
        docs += [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
        for row, counts in enumerate(image.counts):
            data = {"energy_loss": image.loss, "eels_counts": counts[0] if width == 1 else counts}
            docs.append(("event", desc.compose_event(
                data=data, timestamps=dict.fromkeys(data, 0.0), seq_num=row + 1)))
        docs.append(("stop", bundle.compose_stop()))
    return docs


def _run(md: dict[str, Any], signals: dict[str, np.ndarray]) -> list[Document]:
    """One run of one array event holding ``signals``."""
    bundle = compose_run(metadata=md)
    keys = {
        k: {"source": "file", "dtype": "array", "shape": [int(v.size)],
            "units": "eV" if k in ("energy", "energy_loss") else ""}
        for k, v in signals.items()
    }
    desc = bundle.compose_descriptor(name="primary", data_keys=keys)
    event = desc.compose_event(data={k: np.asarray(v, dtype=float) for k, v in signals.items()},
                               timestamps=dict.fromkeys(signals, 0.0), seq_num=1)
    return [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc), ("event", event),
            ("stop", bundle.compose_stop())]


def annotate_file(path: Path, settings: Settings, models: list[SpectrumModel],
                  **options: Unpack[FileOptions]) -> Outcome:
    """Annotate one file with exactly the code the stream uses, and the stream's publishing
    policy (``edgestream.publish.policy``) without a broker: the annotations come back
    stamped as published, the failures for the caller to report."""
    try:
        docs = file_documents(path, **options)
    except StreamError as exc:
        return Outcome(failures=[Failure(exc)])
    pipeline = Pipeline(settings, models)
    policy = PublishPolicy(settings, pipeline.metrics, None, quiet=True)
    out = Outcome()
    if not is_athena(path) and not is_gatan(path):  # an aborted scan of a SPEC file
        out.failures += [Failure(exc) for exc in spec_scan_errors(path)]
    for name, doc in docs:
        result = pipeline(name, doc)
        batch = policy.publish(result, [doc["run_start"]] if name == "stop" else [])
        policy.delivered(batch)
        out.annotations += batch.annotations
        out.failures += result.failures
    return out
