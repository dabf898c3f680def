"""Read the slices that resource/datum and stream_resource/stream_datum documents point at.

One small reader per spec, in the spirit of databroker's handlers and Tiled's HDF5 adapters
(written here from their documented layouts, not copied):

- ``AD_HDF5`` / ``AD_HDF5_SWMR`` (ophyd's area-detector HDF5 plugin): dataset
  ``/entry/data/data``; ``resource_kwargs.frame_per_point``; datum ``point_number``.
- ``XSP3`` (NSLS-II Xspress3, ``nslsii.areadetector.xspress3``): dataset
  ``entry/instrument/detector/data`` of shape [frame, channel, bin]; datum ``frame`` and
  ``channel`` (1-based): one MCA spectrum per channel and frame.
- ``application/x-hdf5`` (ophyd-async, event-model >= 1.22: ``uri`` + ``parameters.dataset``,
  ``multiplier``) and the older ophyd-async layout (``spec`` ``AD_HDF5_SWMR_SLICE`` /
  ``AD_HDF5_SWMR_STREAM``, ``root`` + ``resource_path``, ``resource_kwargs.path``).

A file, dataset or frame that is not there *yet* raises :class:`NotYetAvailable` (the caller
retries); a document that can never be read raises a :class:`StreamError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import h5py
import numpy as np

from edgestream.errors import ExternalDataUnavailable, MalformedDocument

AD_DATASET = "/entry/data/data"
XSP3_DATASET = "entry/instrument/detector/data"
AD_SPECS = {"AD_HDF5", "AD_HDF5_SWMR", "AD_HDF5_TS", "AD_HDF5_SWMR_TS"}
STREAM_SPECS = {"AD_HDF5_SWMR_SLICE", "AD_HDF5_SWMR_STREAM", "application/x-hdf5"}
XSP3_SPECS = {"XSP3"}


class NotYetAvailable(Exception):
    """The data is not (yet) on disk: a missing file, dataset or frame. Retry later."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def map_path(path: str, data_roots: Mapping[str, str]) -> str:
    """The local path of a path written by the detector, through the longest matching root.

    ``data_roots`` maps a prefix as the documents spell it ("/nsls2/data") to where that
    tree is mounted here ("/mnt/nsls2"); prefixes match whole path components only.
    """
    best, target = "", ""
    for prefix, local in data_roots.items():
        p = prefix.rstrip("/") or "/"
        inside = p == "/" or path == p or path.startswith(p + "/")
        if inside and len(p) > len(best):
            best, target = p, local
    if not best:
        return path
    rest = path[len(best):].lstrip("/") if best != "/" else path.lstrip("/")
    return str(PurePosixPath(target, rest)) if rest else target


@dataclass(frozen=True)
class Source:
    """Where one resource's data lives and how its rows map to datum indices."""

    spec: str
    path: str  # as the document gives it
    dataset: str
    swmr: bool = False
    rows_per_index: int = 1  # frame_per_point (ophyd) or multiplier (ophyd-async)

    def local(self, data_roots: Mapping[str, str]) -> str:
        return map_path(self.path, data_roots)


def _join(root: Any, resource_path: Any) -> str:
    if not isinstance(resource_path, str) or not resource_path:
        raise MalformedDocument("resource has no resource_path")
    root = root if isinstance(root, str) else ""
    return str(PurePosixPath(root, resource_path)) if root else resource_path


def _uri_path(uri: Any) -> str:
    if not isinstance(uri, str) or not uri:
        raise MalformedDocument("stream_resource has no uri")
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ExternalDataUnavailable(f"stream_resource uri scheme {parsed.scheme!r} is not a "
                                      "file: only local or mounted files are read", uri=uri)
    return unquote(parsed.path) if parsed.scheme else uri


def _positive_int(value: Any, what: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise MalformedDocument(f"{what} is not an integer: {value!r}") from None
    if n < 1:
        raise MalformedDocument(f"{what} must be at least 1, not {n}")
    return n


def source_of(name: str, doc: Mapping[str, Any]) -> Source:
    """The :class:`Source` of a ``resource`` or ``stream_resource`` document.

    Raises ExternalDataUnavailable for a spec that is not read here (the dead letter names
    it), MalformedDocument for a document missing what its spec needs.
    """
    spec = doc.get("mimetype") if name == "stream_resource" and "mimetype" in doc \
        else doc.get("spec")
    kwargs = doc.get("parameters") if "parameters" in doc else doc.get("resource_kwargs")
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    if spec == "application/x-hdf5":
        path = _uri_path(doc.get("uri"))
    else:
        path = _join(doc.get("root"), doc.get("resource_path"))
    if spec in AD_SPECS:
        return Source(spec, path, AD_DATASET, swmr="SWMR" in spec,
                      rows_per_index=_positive_int(kwargs.get("frame_per_point", 1),
                                                   "frame_per_point"))
    if spec in XSP3_SPECS:
        return Source(spec, path, str(kwargs.get("key", XSP3_DATASET)))
    if spec in STREAM_SPECS:
        dataset = kwargs.get("dataset", kwargs.get("path"))
        if not isinstance(dataset, str) or not dataset:
            raise MalformedDocument(f"{name} of spec {spec} names no dataset",
                                    uid=doc.get("uid"))
        return Source(spec, path, dataset, swmr=bool(kwargs.get("swmr", "SWMR" in spec)),
                      rows_per_index=_positive_int(kwargs.get("multiplier", 1), "multiplier"))
    raise ExternalDataUnavailable(
        f"{name} spec {spec!r} is not one edgestream reads (AD_HDF5, AD_HDF5_SWMR, XSP3, "
        "application/x-hdf5)", path=path, uid=doc.get("uid"))


class Files:
    """HDF5 files opened for one filling step, each at most once; closed on exit.

    A file is opened read-only without HDF5 file locking (beamline file systems such as NFS
    and GPFS often refuse locks, and a lock must never stall the detector's writer).
    """

    def __init__(self, data_roots: Mapping[str, str]) -> None:
        self.data_roots = data_roots
        self._open: dict[str, h5py.File] = {}

    def __enter__(self) -> Files:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

    def dataset(self, source: Source) -> h5py.Dataset:
        path = source.local(self.data_roots)
        f = self._open.get(path)
        if f is None:
            if not os.path.exists(path):
                raise NotYetAvailable(path, "no such file (yet)")
            try:
                f = h5py.File(path, "r", swmr=source.swmr, locking=False)
            except OSError as exc:  # truncated, being created, or not HDF5 yet
                raise NotYetAvailable(path, f"cannot open as HDF5 (yet): {exc}") from None
            self._open[path] = f
        try:
            ds = f[source.dataset]
        except KeyError:
            raise NotYetAvailable(path, f"no dataset {source.dataset} (yet)") from None
        if not isinstance(ds, h5py.Dataset):
            raise ExternalDataUnavailable(f"{source.dataset} in {path} is a group, not a "
                                          "dataset", path=path)
        if source.swmr:
            ds.refresh()
        return ds

    def rows(self, source: Source, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) of the dataset in index units (× rows_per_index rows each).

        Returns shape [stop - start, rows_per_index, ...] when rows_per_index > 1, else
        [stop - start, ...].
        """
        ds = self.dataset(source)
        m = source.rows_per_index
        lo, hi = start * m, stop * m
        if lo < 0 or hi <= lo:
            raise MalformedDocument(f"bad index range [{start}, {stop}) for {source.path}")
        if ds.shape[0] < hi:
            raise NotYetAvailable(source.local(self.data_roots),
                                  f"{source.dataset} holds {ds.shape[0]} frames, "
                                  f"{hi} needed (not flushed yet?)")
        data = np.asarray(ds[lo:hi])
        return data.reshape(stop - start, m, *data.shape[1:]) if m > 1 else data

    def datum(self, source: Source, kwargs: Mapping[str, Any]) -> np.ndarray:
        """The array one ``datum`` document refers to (by its ``datum_kwargs``)."""
        if source.spec in XSP3_SPECS:
            try:
                frame, channel = int(kwargs["frame"]), int(kwargs["channel"])
            except (KeyError, TypeError, ValueError):
                raise MalformedDocument("XSP3 datum needs integer frame and channel",
                                        datum_kwargs=dict(kwargs)) from None
            block = self.rows(source, frame, frame + 1)[0]
            if not 1 <= channel <= block.shape[0]:
                raise ExternalDataUnavailable(
                    f"XSP3 channel {channel} not in the file's {block.shape[0]} channels",
                    path=source.local(self.data_roots))
            return block[channel - 1]
        point = kwargs.get("point_number", kwargs.get("index"))
        if point is None:
            raise MalformedDocument(f"{source.spec} datum needs point_number",
                                    datum_kwargs=dict(kwargs))
        try:
            point = int(point)
        except (TypeError, ValueError):
            raise MalformedDocument(f"point_number is not an integer: {point!r}") from None
        return self.rows(source, point, point + 1)[0]
