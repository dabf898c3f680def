"""Gatan DigitalMicrograph ``.dm3``/``.dm4`` EELS files, read with RosettaSciIO.

RosettaSciIO (PyPI ``rosettasciio``, the optional extra ``gatan``) parses the tag tree; here
each image of the file becomes an energy-loss axis (from its dimension calibration:
``offset + scale * i``, the axis whose units are eV, or keV times 1000) and its counts as
``[rows, columns, channels]``: a single spectrum is one row of one, a line scan one row, a
spectrum image one row per scan line. Thumbnails and images without an energy axis (a
survey image, an X-ray map) are left out and named in ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.doors.files.contents import FileContents
from edgestream.errors import BadSpectrum

__all__ = ["GATAN_SUFFIXES", "GatanFile", "GatanImage", "is_gatan", "read_gatan"]

GATAN_SUFFIXES = (".dm3", ".dm4")


@dataclass(frozen=True)
class GatanImage:
    """One EELS data set: ``loss`` (eV, ascending), ``counts`` [rows, columns, channels]."""

    title: str
    loss: np.ndarray
    counts: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


class GatanFile(FileContents[GatanImage]):
    """The EELS data sets of one file, in its order, and the images left out."""

    @property
    def images(self) -> list[GatanImage]:
        return self.records


def is_gatan(path: Path) -> bool:
    return Path(path).suffix.lower() in GATAN_SUFFIXES


def _loss_axis(axes: list[dict[str, Any]]) -> int | None:
    """Index of the energy-loss axis: units eV (or keV), the signal axis when several."""
    energy = [i for i, a in enumerate(axes) if str(a.get("units", "")).strip() in ("eV", "keV")]
    if not energy:
        return None
    signal = [i for i in energy if not axes[i].get("navigate", True)]
    return (signal or energy)[-1]


def _image(entry: dict[str, Any]) -> GatanImage | str:
    """One entry of RosettaSciIO's reader as a GatanImage, or why it is not EELS."""
    axes = entry["axes"]
    title = str(entry.get("metadata", {}).get("General", {}).get("title", "") or "")
    signal_type = entry.get("metadata", {}).get("Signal", {}).get("signal_type", "")
    index = _loss_axis(axes)
    if index is None:
        units = [str(a.get("units", "")) for a in axes]
        return f"no energy-loss axis (axis units {units}, signal type {signal_type!r})"
    if signal_type and signal_type != "EELS":
        return f"signal type {signal_type!r}, not EELS"
    axis = axes[index]
    scale = float(axis["scale"]) * (1000.0 if axis["units"].strip() == "keV" else 1.0)
    offset = float(axis["offset"]) * (1000.0 if axis["units"].strip() == "keV" else 1.0)
    data = np.asarray(entry["data"], dtype=float)
    counts = np.moveaxis(data, index, -1)
    loss = offset + scale * np.arange(counts.shape[-1])
    if scale < 0:  # a calibration running downwards: put the axis in ascending order
        loss, counts = loss[::-1], counts[..., ::-1]
    if scale == 0:
        return "energy-loss calibration has a zero dispersion"
    counts = counts.reshape((-1, counts.shape[-1]) if counts.ndim < 3
                            else (-1, counts.shape[-2], counts.shape[-1]))
    if counts.ndim == 2:  # a spectrum or a line scan: one row
        counts = counts[np.newaxis]
    meta = {"dispersion_ev": scale, "offset_ev": offset, "signal_type": signal_type}
    return GatanImage(title=title, loss=loss, counts=counts, metadata=meta)


def read_gatan(path: str | Path) -> GatanFile:
    """The EELS data sets of a ``.dm3``/``.dm4`` file. Raises BadSpectrum when the file
    cannot be read (or RosettaSciIO is not installed) or holds no EELS data."""
    path = Path(path)
    if not path.is_file():
        raise BadSpectrum(f"cannot read {path}: no such file", path=str(path))
    try:
        from rsciio.digitalmicrograph import file_reader
    except ImportError:
        raise BadSpectrum(f"{path}: reading Gatan .dm3/.dm4 files needs RosettaSciIO: "
                          "pip install 'edgestream[gatan]'", path=str(path)) from None
    try:
        entries = file_reader(str(path))
    except Exception as exc:  # a damaged or foreign file: its reader's own words
        raise BadSpectrum(f"{path}: not a readable DigitalMicrograph file: "
                          f"{type(exc).__name__}: {exc}", path=str(path)) from None
    images, skipped = [], {}
    for i, entry in enumerate(entries):
        result = _image(entry)
        if isinstance(result, str):
            skipped[f"image {i}"] = result
        else:
            images.append(result)
    if not images:
        raise BadSpectrum(f"{path}: no EELS spectrum in the file: {skipped}", path=str(path),
                          skipped=skipped)
    return GatanFile(path=str(path), records=images, skipped=skipped)
