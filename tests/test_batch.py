"""One builder of SpectrumBatch (edgestream.normalize): the pipeline batches with it, and so
do the tests, the benchmarks and the model cards, so a model sees in a test what it sees in
the service."""

from __future__ import annotations

import numpy as np
import pytest
from test_pipeline import scan_docs

from edgestream import pipeline as pipeline_module
from edgestream.config.settings import GridSettings, Settings
from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.normalize import annotation_grid, batch_of, normalized_batch, spectrum_batch
from edgestream.pipeline import Pipeline
from edgestream.plugin.api import SpectrumModel


class Recorder(SpectrumModel):
    """Keeps every batch it is given."""

    name = "recorder"

    def __init__(self) -> None:
        self.batches: list = []

    def predict(self, batch):
        self.batches.append(batch)
        return [{} for _ in range(len(batch))]


def test_the_pipeline_batches_with_the_shared_builder(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return batch_of(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "batch_of", spy)
    grid = GridSettings(start=-10.0, stop=40.0, step=0.25)
    recorder = Recorder()
    p = Pipeline(Settings(grid=grid), [recorder])
    out = [p(name, doc) for name, doc in scan_docs(md={"element": "Cu", "edge": "K"})]
    assert sum(len(o.annotations) for o in out) == 1 and len(calls) == 1
    (batch,) = recorder.batches
    np.testing.assert_array_equal(batch.grid, annotation_grid(grid))
    np.testing.assert_array_equal(p.grid, annotation_grid(grid))
    assert (batch.element, batch.edge, batch.modality) == ("Cu", "K", "xas_transmission")
    assert batch.norm.shape == (1, annotation_grid(grid).size)
    assert len(batch.energy) == len(batch.measured) == len(batch.metadata) == len(batch) == 1
    assert batch.metadata[0]["scan_id"] == 1


def test_normalized_batch_is_the_pipelines_batch_of_the_same_spectra():
    e = np.linspace(8900, 9200, 301)
    mu = 0.5 + np.arctan((e - 8984.0) / 1.5) / np.pi
    raw = [RawSpectrum(SpectrumIds("run", "desc", "primary", (i, i)), "xas_mu", e, mu * (i + 1),
                       "Cu", "K", metadata={"i": i}) for i in range(3)]
    batch = normalized_batch(raw)
    np.testing.assert_array_equal(batch.grid, annotation_grid(Settings().grid))
    assert len(batch) == 3 and [m["i"] for m in batch.metadata] == [0, 1, 2]
    np.testing.assert_allclose(batch.norm[0], batch.norm[2], atol=1e-9)  # scale drops out
    np.testing.assert_allclose(batch.edge_step / batch.edge_step[0], [1.0, 2.0, 3.0])
    assert all(x is e or np.array_equal(x, e) for x in batch.energy)


def test_arrays_alone_make_a_batch_with_one_entry_per_spectrum_in_every_field():
    grid = annotation_grid()
    norm = np.stack([np.clip(grid / 4.0, 0, 1), np.full(grid.size, np.nan)])
    batch = spectrum_batch("Fe", "K", "xas_mu", grid, norm, np.array([7112.0, 7113.0]))
    assert len(batch) == 2 and batch.edge_step.tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(batch.energy[1], 7113.0 + grid)
    np.testing.assert_array_equal(batch.measured[0], norm[0])
    with pytest.raises(ValueError, match="one row per e0"):
        spectrum_batch("Fe", "K", "xas_mu", grid, norm, np.array([7112.0]))


def test_a_batch_holds_one_element_edge_and_modality():
    e = np.linspace(8900, 9200, 301)
    mu = 0.5 + np.arctan((e - 8984.0) / 1.5) / np.pi
    raw = [RawSpectrum(SpectrumIds("run", "desc", "primary", (1, 1)), "xas_mu", e, mu, el, "K")
           for el in ("Cu", "Ni")]
    with pytest.raises(ValueError, match="one element, edge and modality"):
        normalized_batch(raw)
