"""The soft signals the simulated devices are made of: ``SimSignal`` (describe() from the
value, with units) and ``_finished`` (a status that ends now or after an exposure)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from ophyd import Signal
from ophyd.status import DeviceStatus


class SimSignal(Signal):
    """A soft Signal whose describe() is derived from its value and carries units."""

    def __init__(
        self,
        *,
        units: str | None = None,
        precision: int | None = None,
        dims: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._units = units
        self._precision = precision
        self.dims = list(dims) if dims else None

    def describe(self) -> dict[str, dict[str, Any]]:
        value = np.asarray(self.get())
        if value.dtype.kind in "US":
            dtype = "string"
        elif value.ndim > 0:
            dtype = "array"
        elif value.dtype.kind == "b":
            dtype = "boolean"
        elif value.dtype.kind in "iu":
            dtype = "integer"
        else:
            dtype = "number"
        desc: dict[str, Any] = {
            "source": self.source_name,
            "dtype": dtype,
            "dtype_numpy": value.dtype.str,
            "shape": list(value.shape),
        }
        if self._units is not None:
            desc["units"] = self._units
        if self._precision is not None:
            desc["precision"] = self._precision
        if self.dims:
            desc["dims"] = self.dims
        return {self.name: desc}


def _finished(device: Any, delay_s: float = 0.0) -> DeviceStatus:
    """A status that finishes now, or after ``delay_s`` (simulated exposure)."""
    st = DeviceStatus(device=device)
    if delay_s > 0:
        threading.Timer(delay_s, st.set_finished).start()
    else:
        st.set_finished()
    return st
