"""The committed archives of finished FEFF10 runs: packed byte-reproducibly from the cache,
seeded back into a fresh one (``models/edgestream_models/data/feff10_<set>_runs.tar.xz``)."""

from __future__ import annotations

import json
from pathlib import Path

from edgestream_models.feff10.inputs import matches_settings
from edgestream_models.feff10.runs import cache_root, entry_state

# Files of a finished entry worth keeping: FEFF's input is rebuilt from POSCAR and settings,
# its console log only explains failures.
ARCHIVED_FILES = ("meta.json", "POSCAR", "xmu.dat", "labels.json")
# A FEFF stage that crashed on this input (e.g. xsph exit 29 on ~16 % of OmniXAS sites for
# L3) crashes again on the same input, which the folder's hash fixes: archived as error.txt
# so that a fresh machine does not spend ~35 CPU-s per such site to learn it again
# (``--retry-failed`` still recomputes them, e.g. after a feff10-rs upgrade). Other failures
# (a killed worker, a full disk) are not archived.
DETERMINISTIC_FAILURE = "FeffPipelineError"


def _archived_failure(path: Path) -> bool:
    error = path / "error.txt"
    return (entry_state(path) == "failed" and (path / "POSCAR").exists()
            and DETERMINISTIC_FAILURE in error.read_text(errors="replace"))


def pack_entries(edge: str, out: Path | str, root: Path | str | None = None) -> int:
    """Write the finished entries of ``edge`` (or set, ``Fe_K``) made with today's settings
    to a tar.xz.

    Byte-reproducible (sorted names, zero times and owners), so re-packing an unchanged
    cache changes nothing in git. Deterministic FEFF failures go in too (POSCAR and
    error.txt, ``DETERMINISTIC_FAILURE``). Returns the number of finished entries packed;
    with none, ``out`` is left as it was.
    """
    import io
    import tarfile

    base = cache_root(root) / edge
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    n = 0
    with tarfile.open(tmp, "w:xz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            failed = _archived_failure(path)
            if not failed and entry_state(path) != "done":
                continue
            if not failed and not matches_settings(
                    json.loads((path / "meta.json").read_text()), edge):
                continue
            for name in ("POSCAR", "error.txt") if failed else ARCHIVED_FILES:
                if not (path / name).exists():
                    continue
                data = (path / name).read_bytes()
                info = tarfile.TarInfo(f"{path.name}/{name}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
            n += not failed
    if n:
        tmp.replace(out)
    else:  # an empty cache must not replace a committed archive
        tmp.unlink()
    return n


def seed_entries(archive: Path | str, edge: str, root: Path | str | None = None) -> dict[str, int]:
    """Put the archive's entries into the cache where the cache lacks them.

    An entry already done in the cache is left alone; members that are not plain files named
    ``<16 hex digits>/<one of ARCHIVED_FILES or error.txt>`` are refused. ``{"seeded",
    "present", "failed"}`` (failed: archived deterministic failures put in as failed
    entries, which ``run_jobs`` skips unless ``retry_failed``).
    """
    import re
    import tarfile

    base = cache_root(root) / edge
    names = (*ARCHIVED_FILES, "error.txt")
    valid = re.compile(r"^[0-9a-f]{16}/(" + "|".join(map(re.escape, names)) + r")$")
    seeded, present = set(), set()
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if not (member.isfile() and valid.match(member.name)):
                raise ValueError(f"{archive}: unexpected member {member.name!r}")
            entry, name = member.name.split("/")
            path = base / entry
            if entry in present or (entry not in seeded and entry_state(path) == "done"):
                present.add(entry)
                continue
            path.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            # meta.json last in the archive's order is not guaranteed: write it atomically
            # and only after the spectrum, so a killed seed never leaves a "done" half-entry
            target = path / (name + ".part" if name == "meta.json" else name)
            target.write_bytes(data)
            seeded.add(entry)
    failed = 0
    for entry in seeded:
        part = base / entry / "meta.json.part"
        if part.exists() and (base / entry / "xmu.dat").exists():
            part.replace(base / entry / "meta.json")
        failed += entry_state(base / entry) == "failed"
    return {"seeded": len(seeded) - failed, "present": len(present), "failed": failed}
