"""Committed copies of the structure-label and M3GNet-feature caches.

Labelling the 2,483 OmniXAS structures (bond valence, CrystalNN motifs) and featurizing them
with M3GNet costs ~30 CPU-minutes that every fresh machine would spend before ``make train``
reaches the data set. ``pack`` writes each JSON-lines cache (``labels/<name>.jsonl``,
``features/<name>.jsonl`` under ``${EDGESTREAM_CACHE:-~/.cache/edgestream}``) to
``models/edgestream_models/data/<kind>_<name>.jsonl.xz``, one record per structure sorted by id
(byte-reproducible); ``seed`` appends to a cache the archived records it lacks. A seeded
record is used only while its structure's POSCAR hash matches (``cache.cached_map``), so a
changed structure is recomputed, and deleting the archive recomputes everything.

    python -m edgestream_models.cache_archive pack
    python -m edgestream_models.cache_archive seed
"""

from __future__ import annotations

import argparse
import json
import lzma
from pathlib import Path

from edgestream_models.cache import ARCHIVE_DIR, cache_dir, read_cache

# (cache kind, cache name): what make train and make train-ledge compute from ../shared
CACHES = (("labels", "omnixas_cu_k"), ("labels", "feff10_cu_k"),
          ("labels", "omnixas_cu_k_valence"), ("features", "omnixas_cu_k"),
          ("features", "feff10_cu_k"))


def archive_path(kind: str, name: str, root: Path = ARCHIVE_DIR) -> Path:
    return root / f"{kind}_{name}.jsonl.xz"


def pack(kind: str, name: str, root: Path = ARCHIVE_DIR) -> int | None:
    """Write the cache's records (sorted by id, failed ones too) to its archive; returns the
    count, or None when there is no cache."""
    records = read_cache(cache_dir(kind) / f"{name}.jsonl")
    if not records:
        return None
    text = "".join(json.dumps(records[k], sort_keys=True) + "\n" for k in sorted(records))
    root.mkdir(parents=True, exist_ok=True)
    out = archive_path(kind, name, root)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(lzma.compress(text.encode(), preset=9))
    tmp.replace(out)
    return len(records)


def read_archive(kind: str, name: str, root: Path = ARCHIVE_DIR) -> dict[str, dict]:
    path = archive_path(kind, name, root)
    if not path.exists():
        return {}
    lines = lzma.decompress(path.read_bytes()).decode().splitlines()
    return {rec["id"]: rec for rec in map(json.loads, lines)}


def seed(kind: str, name: str, root: Path = ARCHIVE_DIR) -> int:
    """Append the archived records the cache lacks (by id); returns how many."""
    archived = read_archive(kind, name, root)
    path = cache_dir(kind) / f"{name}.jsonl"
    have = read_cache(path)
    missing = [archived[k] for k in sorted(archived) if k not in have]
    if missing:
        with path.open("a") as fh:
            fh.writelines(json.dumps(rec) + "\n" for rec in missing)
    return len(missing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.cache_archive")
    parser.add_argument("action", choices=("pack", "seed"))
    args = parser.parse_args(argv)
    for kind, name in CACHES:
        if args.action == "pack":
            n = pack(kind, name)
            where = archive_path(kind, name)
            print(f"{kind}/{name}: " + ("no cache, archive left as it is" if n is None else
                  f"{n} records → {where.name} ({where.stat().st_size / 1e3:.0f} kB)"))
        else:
            print(f"{kind}/{name}: {seed(kind, name)} records seeded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
