"""A small writer of Gatan DigitalMicrograph files (DM3 and DM4), for tests only.

No openly licensed .dm3/.dm4 EELS file could be copied here (RosettaSciIO's test files are
GPL-3.0; Gatan's samples carry no licence), and RosettaSciIO only reads the format, so the
tests write their own. The layout is the published one (big-endian header: version, file
length, byte-order flag; a tree of tag groups and data tags, each data tag ``%%%%``, an
info array of types and its value in the file's byte order; DM4 widens lengths and counts
to 8 bytes and gives each tag its size). Enough of the tree is written for a reader to find
the image, its calibrations and the EELS signal type, as DigitalMicrograph writes them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_SIMPLE = {"h": 2, "i": 3, "H": 4, "I": 5, "f": 6, "d": 7, "?": 8, "b": 9, "q": 11, "Q": 12}
_DM_DATA_TYPE = {np.dtype("float32"): 2, np.dtype("int16"): 1, np.dtype("int32"): 7,
                 np.dtype("float64"): 12, np.dtype("uint16"): 10, np.dtype("uint32"): 11}


class _Writer:
    def __init__(self, version: int) -> None:
        self.version = version
        self.long = ">q" if version == 4 else ">l"

    def number(self, value: int) -> bytes:
        return struct.pack(self.long, value)

    def data_tag(self, name: str, info: list[int], payload: bytes) -> bytes:
        body = b"%%%%" + self.number(len(info)) + b"".join(self.number(i) for i in info)
        body += payload
        return self._tag(21, name, body)

    def group_tag(self, name: str, tags: list[bytes]) -> bytes:
        return self._tag(20, name, self.group(tags))

    def group(self, tags: list[bytes]) -> bytes:
        return b"\x00\x01" + self.number(len(tags)) + b"".join(tags)

    def _tag(self, kind: int, name: str, body: bytes) -> bytes:
        label = name.encode("latin-1")
        head = struct.pack(">bH", kind, len(label)) + label
        if self.version == 4:
            head += struct.pack(">q", len(body))
        return head + body

    def scalar(self, name: str, code: str, value: float) -> bytes:
        return self.data_tag(name, [_SIMPLE[code]], struct.pack("<" + code, value))

    def text(self, name: str, value: str) -> bytes:
        # DigitalMicrograph stores text as an array of 16-bit characters
        chars = [ord(c) for c in value]
        return self.data_tag(name, [20, 4, len(chars)], struct.pack(f"<{len(chars)}H", *chars))

    def array(self, name: str, values: np.ndarray) -> bytes:
        code = {np.dtype("float32"): "f", np.dtype("float64"): "d", np.dtype("int16"): "h",
                np.dtype("int32"): "i", np.dtype("uint16"): "H", np.dtype("uint32"): "I"}
        c = code[values.dtype]
        return self.data_tag(name, [20, _SIMPLE[c], values.size],
                             values.astype(values.dtype.newbyteorder("<")).tobytes())


def write_dm(path: Path, counts: np.ndarray, offset_ev: float, dispersion_ev: float,
             version: int = 3, title: str = "EELS", signal: str = "EELS",
             spatial_nm: float = 2.0) -> Path:
    """Write ``counts`` (``[channels]``, ``[x, channels]`` or ``[y, x, channels]``) as a DM
    file whose first (X) dimension is energy loss: ``offset_ev + dispersion_ev * i``."""
    w = _Writer(version)
    counts = np.asarray(counts)
    dims = counts.shape[::-1]  # DM lists dimensions fastest first: channels, x, y
    calibrations = [w.group_tag("", [w.scalar("Origin", "f", -offset_ev / dispersion_ev),
                                     w.scalar("Scale", "f", dispersion_ev),
                                     w.text("Units", "eV")])]
    for _ in dims[1:]:
        calibrations.append(w.group_tag("", [w.scalar("Origin", "f", 0.0),
                                             w.scalar("Scale", "f", spatial_nm),
                                             w.text("Units", "nm")]))
    image_data = w.group_tag("ImageData", [
        w.group_tag("Calibrations", [
            w.group_tag("Brightness", [w.scalar("Origin", "f", 0.0),
                                       w.scalar("Scale", "f", 1.0), w.text("Units", "")]),
            w.group_tag("Dimension", calibrations),
            w.scalar("DisplayCalibratedUnits", "?", True),
        ]),
        w.array("Data", counts.ravel()),
        w.scalar("DataType", "i", _DM_DATA_TYPE[counts.dtype]),
        w.group_tag("Dimensions", [w.scalar("", "I", d) for d in dims]),
        w.scalar("PixelDepth", "i", counts.dtype.itemsize),
    ])
    fmt = "Spectrum image" if counts.ndim > 1 else "Spectrum"
    image_tags = w.group_tag("ImageTags", [
        w.group_tag("Meta Data", [w.text("Format", fmt), w.text("Signal", signal)]),
        w.group_tag("Microscope Info", [w.scalar("Voltage", "f", 200000.0)]),
    ])
    image = w.group_tag("", [image_data, image_tags, w.text("Name", title)])
    root = w.group([w.group_tag("ImageList", [image])])
    body = root + b"\x00" * 8  # DigitalMicrograph ends its files with eight zero bytes
    length = struct.pack(">q" if version == 4 else ">l", len(body))
    path.write_bytes(struct.pack(">l", version) + length + struct.pack(">l", 1) + body)
    return path
