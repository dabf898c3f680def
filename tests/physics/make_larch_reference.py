"""Generate tests/data/larch_pre_edge_reference.npz with xraylarch's own ``pre_edge``.

Run once, in a separate environment that has xraylarch (never in the project's venv)::

    python -m venv ../venv-larch && ../venv-larch/bin/pip install xraylarch
    ../venv-larch/bin/python tests/physics/make_larch_reference.py

The parity tests read the .npz with plain numpy and never import larch. Parsing here is
deliberately independent of ``edgestream.doors.files.readers`` so the reference does not
inherit its bugs.
For each spectrum the archive holds, under ``<set>/<file>/<key>``: Larch's resolved scalars
(e0, edge_step, pre1, pre2, norm1, norm2, nnorm) and, over [e0 - 20, e0 + 80] eV only (to keep
the archive small), the first index ``i0`` of that window and Larch's ``norm`` and ``flat``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import larch
import numpy as np
from larch.xafs import pre_edge

DATA = Path(__file__).resolve().parents[1] / "data"
OUT = DATA / "larch_pre_edge_reference.npz"
WINDOW = (-20.0, 80.0)  # eV relative to e0, the span the parity tests compare


def _xdi_mu(path: Path) -> tuple[np.ndarray, np.ndarray]:
    labels: dict[int, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"#\s*Column\.(\d+):\s*(\S+)", line)
        if match:
            labels[int(match.group(1)) - 1] = match.group(2).lower()
    data = np.loadtxt(path, comments="#")
    col = {name: data[:, i] for i, name in labels.items()}
    return col["energy"], np.log(col["i0"] / col["itrans"])


def _two_column(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, comments="#")
    return data[:, 0], data[:, 1]


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    sets = {"experimental": _xdi_mu, "measured-cu-k": _two_column}
    for set_name, reader in sets.items():
        manifest = json.loads((DATA / set_name / "manifest.json").read_text())
        for entry in manifest:
            energy, mu = reader(DATA / set_name / entry["file"])
            group = larch.Group(energy=energy, mu=mu)
            pre_edge(group)
            details = group.pre_edge_details
            lo = np.searchsorted(energy, group.e0 + WINDOW[0])
            hi = np.searchsorted(energy, group.e0 + WINDOW[1], side="right")
            key = f"{set_name}/{entry['file']}"
            arrays[f"{key}/scalars"] = np.array(
                [group.e0, group.edge_step, details.pre1, details.pre2,
                 details.norm1, details.norm2, details.nnorm]
            )
            arrays[f"{key}/i0"] = np.array(lo)
            arrays[f"{key}/norm"] = group.norm[lo:hi]
            arrays[f"{key}/flat"] = group.flat[lo:hi]
            print(f"{key}: e0={group.e0:.3f} (manifest {entry['larch_e0']}), "
                  f"step={group.edge_step:.6g} (manifest {entry['larch_edge_step']})")
    arrays["larch_version"] = np.array(larch.__version__)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
