"""Build ``stream/edgestream_agent/data/cu_k_gradient.npz``: the end members of the gradient sample.

Three measured Cu K-edge transmission spectra of one session (APS 13-BM-D, 2008, from the
xraylarch examples, MIT licence): Cu foil, Cu2O and CuO. Energies are moved by the session's
foil calibration (-2.0 eV puts the foil's e0 at 8979.0 eV) and μ(E) is normalized with the
project's own ``pre_edge`` (flattened). Run from the repository root::

    python -m edgestream_agent.make_fixture \
        --source tests/data/measured-cu-k --out stream/edgestream_agent/data
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from edgestream.physics import pre_edge

FIXTURE_NAME = "cu_k_gradient.npz"
# (file, phase name, formal valence)
END_MEMBERS = (
    ("cu0_Cu_foil_APS13BMD_2008.txt", "Cu", 0),
    ("cu1_Cu2O_cuprite_APS13BMD_2008.txt", "Cu2O", 1),
    ("cu2_CuO_tenorite_APS13BMD_2008.txt", "CuO", 2),
)


def build(source: Path, out: Path) -> Path:
    """Write the fixture (and the source licence) into ``out``; return the fixture path."""
    manifest = {m["file"]: m for m in json.loads((source / "manifest.json").read_text())}
    grid = None
    flats, names, valences = [], [], []
    for file, phase, valence in END_MEMBERS:
        energy, mu = np.loadtxt(source / file, comments="#").T
        energy = energy + float(manifest[file]["shift_to_put_reference_at_8979_eV"])
        flat = pre_edge(energy, mu).flat[0]
        grid = energy if grid is None else grid
        flats.append(np.interp(grid, energy, flat))
        names.append(phase)
        valences.append(valence)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FIXTURE_NAME
    np.savez_compressed(
        path,
        energy=np.asarray(grid, dtype=np.float64),
        mu=np.asarray(flats, dtype=np.float32),
        phase=np.asarray(names),
        valence=np.asarray(valences, dtype=np.int64),
        source=np.asarray([f for f, _, _ in END_MEMBERS]),
    )
    shutil.copy(source / "LICENSE.xraylarch", out / "LICENSE.xraylarch")
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=Path("tests/data/measured-cu-k"))
    p.add_argument("--out", type=Path, default=Path("stream/agent/data"))
    args = p.parse_args(argv)
    print(build(args.source, args.out))


if __name__ == "__main__":
    main()
