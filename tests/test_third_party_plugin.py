"""A third-party plugin (examples/third_party_plugin: a ~50-line class and a manifest) loaded
through the plugin API from its folder, as declared in its pyproject.toml, and run on the
measured Cu K standards and in the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.normalize import spectrum_batch
from edgestream.plugin.api import SpectrumModel, plugins_in
from edgestream.plugin.manifest import check_outputs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "third_party_plugin"
MEASURED = ROOT / "tests" / "data" / "measured-cu-k"


@pytest.fixture(scope="module")
def white_line():
    found = plugins_in(EXAMPLE)
    assert list(found) == ["white_line"]
    cls = found["white_line"]
    assert issubclass(cls, SpectrumModel) and cls.name == "white_line"
    assert cls.elements is None and cls.edges is None and not cls.opt_in
    model = cls()
    assert model.applies_to("Fe", "K", "xas_fluorescence")
    assert not model.applies_to("Cu", "L3", "eels")
    model.load()
    return model


def test_the_example_class_stays_small():
    lines = (EXAMPLE / "whiteline_plugin" / "__init__.py").read_text().splitlines()
    assert len(lines) <= 60


@pytest.mark.parametrize("compound,valence", [("Cu2O", 1), ("CuO", 2)])
def test_it_reads_measured_standards_and_keeps_to_its_manifest(white_line, compound, valence):
    (entry,) = [e for e in json.loads((MEASURED / "manifest.json").read_text())
                if e["file"].endswith(f"_{compound}_HASYLAB_2001.txt")]
    result = annotate_file(MEASURED / entry["file"], Settings(), [white_line], element="Cu",
                           edge="K", energy_shift_ev=entry["shift_to_put_reference_at_8979_eV"])
    assert result.failures == []
    (a,) = result.annotations
    (p,) = a["predictions"]
    assert p["plugin"] == "white_line" and "error" not in p
    out = p["outputs"]
    assert check_outputs(white_line.manifest, out) == []
    # oxidized Cu: the edge above the metal's 8979 eV, the white line above the edge
    assert 8979.0 < out["edge_ev"] < 8995.0 and out["edge_ev"] < out["white_line_ev"] < 9010.0
    assert out["has_white_line"] is True and out["white_line_area"] > 0.5


def test_an_unreadable_row_gives_nulls_not_a_crash(white_line):
    grid = np.arange(-20.0, 80.25, 0.5)
    edge = np.clip((grid + 2.0) / 4.0, 0.0, 1.0)
    norm = np.stack([edge, np.full(grid.size, np.nan)])
    batch = spectrum_batch("Fe", "K", "xas_mu", grid, norm, np.array([7112.0, 7112.0]))
    first, second = white_line.predict(batch)
    assert first["edge_ev"] == pytest.approx(7112.0) and first["has_white_line"] is False
    assert first["white_line_area"] == 0.0
    assert second == dict.fromkeys(white_line.manifest.outputs)
    assert check_outputs(white_line.manifest, first) == []
    assert check_outputs(white_line.manifest, second) == []
