"""The training's caches under ``edgestream.paths.cache_root()``: folders, and JSON-lines
record files filled in parallel and resumed where they stopped.

Records are keyed by structure id and carry the POSCAR hash they were computed from, so a
changed structure is recomputed (labels under ``labels/``, M3GNet features under
``features/``: :mod:`edgestream_models.labels`, :mod:`edgestream_models.site_features`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from edgestream.paths import cache_root

Item = tuple[str, str, list[int]]   # (structure id, POSCAR text, absorbing site indices)
# the committed archives that seed a fresh cache (package data: FEFF10 runs, labels, features)
ARCHIVE_DIR = Path(__file__).resolve().parent / "data"


def cache_dir(kind: str) -> Path:
    """``${EDGESTREAM_CACHE:-~/.cache/edgestream}/<kind>``, created."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def poscar_hash(text: str) -> str:
    """Short sha1 of a POSCAR text (cache validity)."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Records of a JSON-lines cache by id (a torn last line is ignored)."""
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[rec["id"]] = rec
    return out


def cached_map(func: Callable[[Item], dict[str, Any]], items: Iterable[Item], path: Path, *,
               processes: int = 2, desc: str = "", initializer: Callable[[], None] | None = None,
               ) -> dict[str, dict[str, Any]]:
    """Apply ``func`` to the items not yet cached in ``path`` (JSON lines), in parallel.

    An item is cached when a record with its id, the same POSCAR hash and every requested site
    exists. New records are appended (and flushed) as they arrive, so an interrupted run
    resumes where it stopped. Returns all cached records by id.
    """
    from tqdm import tqdm

    items = list(items)
    done = read_cache(path)
    todo = [it for it in items
            if it[0] not in done or done[it[0]].get("sha1") != poscar_hash(it[1])
            or not {str(i) for i in it[2]} <= set(done[it[0]].get("sites", {}))]
    if not todo:
        return done
    # largest structures first: better load balance
    todo.sort(key=lambda it: -len(it[1]))
    with path.open("a") as fh, tqdm(total=len(todo), desc=desc or path.stem) as bar:
        if processes <= 1:
            if initializer:
                initializer()
            results: Iterator[dict[str, Any]] = map(func, todo)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(processes, initializer=initializer)
            results = pool.imap_unordered(func, todo, chunksize=1)
        try:
            for rec in results:
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                done[rec["id"]] = rec
                bar.update()
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return done

