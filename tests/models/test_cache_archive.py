"""The committed label/feature caches: pack is byte-reproducible, seed fills only gaps."""

from __future__ import annotations

import json

import pytest

from edgestream_models import cache_archive
from edgestream_models.labels import poscar_hash, read_cache


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_pack_then_seed_a_fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESTREAM_CACHE", str(tmp_path / "here"))
    recs = [{"id": "mp-2", "sha1": poscar_hash("b"), "sites": {"0": {"motif": "linear"}}},
            {"id": "mp-1", "sha1": poscar_hash("a"), "sites": {"3": {"motif": "octahedral"}}},
            {"id": "mp-9", "sha1": poscar_hash("c"), "error": "ValueError: no Cu"}]
    _write(tmp_path / "here" / "labels" / "x.jsonl", recs)
    archives = tmp_path / "archive"
    assert cache_archive.pack("labels", "x", archives) == 3
    first = cache_archive.archive_path("labels", "x", archives).read_bytes()
    assert cache_archive.pack("labels", "x", archives) == 3
    assert cache_archive.archive_path("labels", "x", archives).read_bytes() == first
    assert cache_archive.pack("labels", "absent", archives) is None

    monkeypatch.setenv("EDGESTREAM_CACHE", str(tmp_path / "fresh"))
    _write(tmp_path / "fresh" / "labels" / "x.jsonl", [recs[0]])
    assert cache_archive.seed("labels", "x", archives) == 2
    assert cache_archive.seed("labels", "x", archives) == 0
    cached = read_cache(tmp_path / "fresh" / "labels" / "x.jsonl")
    assert cached == {r["id"]: r for r in recs}
    assert cache_archive.seed("labels", "absent", archives) == 0


@pytest.mark.parametrize(("kind", "name"), [("labels", "omnixas_cu_k"),
                                            ("features", "omnixas_cu_k")])
def test_committed_archives_cover_the_omnixas_structures(kind, name):
    """Every OmniXAS structure has a record whose POSCAR hash matches the shared set."""
    from edgestream_models.labels import OMNIXAS_ROOT, omnixas_items

    archived = cache_archive.read_archive(kind, name)
    assert archived, f"{cache_archive.archive_path(kind, name)} missing (cache_archive pack)"
    if not (OMNIXAS_ROOT / "spectra.npz").exists():
        pytest.skip("../shared/data/omnixas-cu-k is absent")
    items = omnixas_items()
    assert {sid for sid, _, _ in items} <= set(archived)
    for sid, text, sites in items:
        rec = archived[sid]
        assert rec["sha1"] == poscar_hash(text)
        assert "error" in rec or {str(s) for s in sites} <= set(rec["sites"])
