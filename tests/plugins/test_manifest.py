"""The plugin contract: plugin.toml validated one way, classes made from it, typed outputs held
to it on real spectra (measured Cu K standards, simulated Cu L2,3 EELS through Pipeline)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

import edgestream_plugins
from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file
from edgestream.plugin.api import SpectrumModel, discover, read_plugin_toml
from edgestream.plugin.base import ManifestModel
from edgestream.plugin.manifest import (
    ManifestError,
    check_outputs,
    read_manifest,
    sha256_of,
    write_manifest,
)
from edgestream.publish import annotation

PLUGINS = Path(edgestream_plugins.__file__).parent
FOLDERS = sorted(p.parent.name for p in PLUGINS.glob("*/plugin.toml"))
MEASURED = Path(__file__).resolve().parents[1] / "data" / "measured-cu-k"


def test_every_builtin_manifest_is_valid_and_makes_its_class():
    assert set(FOLDERS) == {"cu_l", "edge_features", "motif", "screening", "valence"}
    builtin = {type(m).__module__.split(".")[1]: type(m) for m in discover(
        ["edge_features", "cu_k_valence", "cu_k_motif", "cu_k_screening", "cu_l_valence"])}
    assert set(builtin) == set(FOLDERS)
    for folder, cls in builtin.items():
        manifest = read_manifest(PLUGINS / folder)
        assert cls.manifest == manifest and read_plugin_toml(PLUGINS / folder) == manifest
        assert (cls.name, cls.version, cls.opt_in) == (manifest.name, manifest.version,
                                                       manifest.opt_in)
        for key in ("elements", "edges", "modalities"):
            assert getattr(cls, key) == (frozenset(manifest[key]) or None)
        for entry in manifest.files.values():
            assert sha256_of(manifest.folder / entry["path"]) == entry["sha256"]


def test_the_cu_l_plugin_takes_the_edges_eels_metadata_uses():
    cu_l = next(m for m in discover(["cu_l_valence"]))
    for edge in ("L3", "L2,3", "L23", "L2"):
        assert cu_l.applies_to("Cu", edge, "eels")
    assert not cu_l.applies_to("Cu", "K", "eels") and not cu_l.applies_to("Fe", "L3", "eels")


def test_the_valence_words_say_median_as_the_code_does():
    for folder in ("valence", "cu_l"):
        words = read_manifest(PLUGINS / folder).outputs["value"].description
        assert "median" in words and "mean)" not in words


@pytest.fixture
def plugin_dir(tmp_path):
    """A copy of the valence plugin's folder (manifest and files) to break."""
    folder = tmp_path / "valence"
    shutil.copytree(PLUGINS / "valence", folder, ignore=shutil.ignore_patterns("__*"))
    return folder


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / "plugin.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old,new,field", [
    ('name = "cu_k_valence"\n', "", "name"),
    ('version = "1.3.0"', "version = 1.3", "version"),
    ("opt_in = false", 'opt_in = "no"', "opt_in"),
    ('edges = ["K"]', 'edges = "K"', "edges"),
    ('edges = ["K"]', "edges = [1]", "edges"),
    ('type = "float"\nunit = "formal', 'type = "real"\nunit = "formal', "outputs.value.type"),
    ("range = [0.0, 3.0]", "range = [3.0, 0.0]", "outputs.value.range"),
    ('items = "float"\n', "", "outputs.members.items"),
    ('path = "valence.onnx"', 'path = "missing.onnx"', "files.model.path"),
    ('sha256 = "f3b2', 'sha256 = "zz', "files.model.sha256"),
    ("step = 0.5", "step = -0.5", "grid"),
    ('description = "each member', 'colour = "blue"\ndescription = "each member',
     "outputs.members"),
    ("[outputs]\n", "[outputs]\nvalue = 1\n", "(syntax)"),  # redefines a table: not TOML
])
def test_an_invalid_manifest_is_refused_naming_file_and_field(plugin_dir, old, new, field):
    edit(plugin_dir, old, new)
    with pytest.raises(ManifestError) as err:
        read_manifest(plugin_dir)
    assert err.value.field == field
    assert str(err.value).startswith(f"{plugin_dir / 'plugin.toml'}: {field}: ")


def test_a_manifest_without_outputs_is_refused(plugin_dir):
    text = (plugin_dir / "plugin.toml").read_text()
    start, end = text.index("[outputs]"), text.index("[ood]")
    (plugin_dir / "plugin.toml").write_text(text[:start] + text[end:])
    with pytest.raises(ManifestError, match=r"plugin.toml: outputs: missing"):
        read_manifest(plugin_dir)


def test_a_class_that_disagrees_with_its_manifest_is_refused(plugin_dir):
    with pytest.raises(TypeError, match=r"edges = frozenset\(\{'L3'\}\) but .*plugin.toml"):
        type("Wrong", (ManifestModel,), {"folder": plugin_dir, "edges": frozenset({"L3"}),
                                         "predict": lambda self, batch: []})
    ok = type("Right", (ManifestModel,), {"folder": plugin_dir, "edges": frozenset({"K"}),
                                          "predict": lambda self, batch: []})
    assert ok.name == "cu_k_valence" and issubclass(ok, SpectrumModel)


def test_the_writer_validates_before_writing_and_reads_back(plugin_dir):
    data = tomllib.loads((plugin_dir / "plugin.toml").read_text())
    files = {k: v["path"] for k, v in data.pop("files").items()}
    before = (plugin_dir / "plugin.toml").read_bytes()
    bad = data | {"outputs": data["outputs"] | {"value": {"type": "float", "range": [1]}}}
    with pytest.raises(ManifestError, match=r"outputs\.value\.range"):
        write_manifest(plugin_dir, bad, files)
    assert (plugin_dir / "plugin.toml").read_bytes() == before  # the old file stays
    written = write_manifest(plugin_dir, data | {"version": "9.9.9"}, files, writer="a test")
    assert written.version == "9.9.9" and dict(written.files) == dict(
        read_manifest(PLUGINS / "valence").files)
    assert written.outputs == read_manifest(PLUGINS / "valence").outputs
    assert (plugin_dir / "plugin.toml").read_text().startswith("# Written by a test;")


def test_outputs_are_checked_for_keys_types_ranges_and_choices():
    motif = read_manifest(PLUGINS / "motif")
    classes = motif["classes"]
    good = {"value": classes[0], "probability": 0.9,
            "probabilities": dict.fromkeys(classes, 1 / len(classes)), "uncertainty": 0.1,
            "entropy": 1.2, "ood": False, "ood_score": 0.4, "family": "planar",
            "family_probability": 0.95}
    assert check_outputs(motif, good) == []
    assert check_outputs(motif, good | {"ood_score": None}) == []  # null: not readable
    bad = {"value": "hexagonal", "probability": 1.5, "ood": "no", "extra": 1,
           "probabilities": {classes[0]: 1.0}}
    problems = check_outputs(motif, {**good, **bad})
    assert [p.split(":")[0] for p in problems] == [
        "extra", "value", "probability", "probabilities", "ood"]
    assert check_outputs(motif, {k: v for k, v in good.items() if k != "entropy"}) == [
        "entropy: missing"]
    screening = read_manifest(PLUGINS / "screening")
    row = {"material_id": "mp-1", "formula": "CuO", "score": 1.0, "similarity": 0.9,
           "shift_ev": 0.5}
    out = {"value": "mp-1", "candidates": [row], "uncertainty": 0.01, "margin": 0.2,
           "ood": False, "ood_score": 0.3}
    assert check_outputs(screening, out) == []  # composition: only when the run names one
    assert check_outputs(screening, out | {"candidates": [row | {"score": "high"}]}) == [
        "candidates: [0].score: 'high' is not a float"]


@pytest.fixture(scope="module")
def loaded():
    models = discover(["edge_features", "cu_k_valence", "cu_k_motif", "cu_k_screening",
                       "cu_l_valence"])
    for m in models:
        m.load(("CPUExecutionProvider",))
    return {m.name: m for m in models}


def held_to_manifests(annotations, loaded) -> int:
    """Every prediction's outputs checked against its plugin's manifest (and each annotation
    against the annotation schema); how many."""
    n = 0
    for a in annotations:
        annotation.validate(a)
        for p in a["predictions"]:
            assert "error" not in p, p
            assert check_outputs(loaded[p["plugin"]].manifest, p["outputs"]) == [], p
            n += 1
    return n


def test_cu_k_outputs_match_their_manifests_on_measured_standards(loaded):
    """Every Cu K plugin and edge_features on the measured standards (a real batch each)."""
    entries = [e for e in json.loads((MEASURED / "manifest.json").read_text())
               if not e["file"].startswith("ref_")]
    models = [m for m in loaded.values() if m.name != "cu_l_valence"]
    seen = set()
    for entry in entries:
        result = annotate_file(MEASURED / entry["file"], Settings(), models, element="Cu",
                               edge="K",
                               energy_shift_ev=entry["shift_to_put_reference_at_8979_eV"])
        assert result.failures == []
        assert held_to_manifests(result.annotations, loaded) == len(models)
        seen |= {p["plugin"] for a in result.annotations for p in a["predictions"]}
    assert seen == {m.name for m in models}


def test_cu_l_outputs_match_the_manifest_on_simulated_eels(loaded):
    from bluesky import RunEngine

    from edgestream.pipeline import Pipeline
    from edgestream_sim.beamline import SimBeamline
    from edgestream_sim.plans import eels_acquisition

    pipeline = Pipeline(Settings(plugins=["cu_l_valence", "edge_features"]),
                        [loaded["cu_l_valence"], loaded["edge_features"]])
    bl = SimBeamline.build(seed=5)
    docs = []
    RunEngine({}, context_managers=[])(eels_acquisition(bl.eels, bl.eels_stage, "CuO",
                                                        n_events=3),
                                       lambda n, d: docs.append((n, d)))
    annotations = [a for name, doc in docs for a in pipeline(name, doc).annotations]
    assert len(annotations) == 3
    assert held_to_manifests(annotations, loaded) == 6


def test_the_cu_k_training_writes_typed_outputs_through_the_one_writer(plugin_dir):
    """``edgestream_models.export.write_manifest`` (what train_all calls with its outputs in
    words) gives the shipped manifest back, and refuses an output it has no type for."""
    export = pytest.importorskip("edgestream_models.export")
    shipped = read_manifest(PLUGINS / "valence")
    spec = {k: v for k, v in shipped.items()
            if k not in ("files", "outputs", "elements", "edges", "modalities", "grid")}
    spec |= {"value_range": list(shipped.outputs["value"].range),
             "outputs": {k: o.description for k, o in shipped.outputs.items()
                         if k not in ("ood", "ood_score")}}
    files = {k: v["path"] for k, v in shipped.files.items()}
    written = export.write_manifest(plugin_dir, spec, files)
    assert written == dict(shipped)
    before = (plugin_dir / "plugin.toml").read_bytes()
    with pytest.raises(ValueError, match=r"\['colour'\] have no type"):
        export.write_manifest(plugin_dir, spec | {"outputs": spec["outputs"] | {
            "colour": "a new output"}}, files)
    assert (plugin_dir / "plugin.toml").read_bytes() == before


def test_the_annotation_schema_takes_the_manifests_output_shapes_only():
    """Scalars, lists, maps, records and objects of scalars or lists pass; deeper nesting,
    which no manifest type describes, is refused."""
    import jsonschema

    outputs = annotation.schema()["properties"]["predictions"]["items"]["properties"]["outputs"]
    good = {"a": None, "b": 1.5, "c": [1.0, None], "d": {"Cu(0)": 0.2},
            "e": [{"material_id": "mp-1", "score": 1.0}], "f": {"elements": ["Cu", "O"]}}
    jsonschema.validate(good, outputs)
    for bad in ({"x": [[1.0]]}, {"x": {"y": {"z": 1}}}, {"x": [{"y": [1]}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, outputs)


def test_a_plugin_with_a_broken_manifest_is_left_out_with_the_reason(plugin_dir, monkeypatch,
                                                                     caplog):
    """The service starts without it and logs which file and field are wrong."""
    from edgestream.plugin import api

    edit(plugin_dir, 'edges = ["K"]', 'edges = "K"')

    class Broken:
        name = "broken"

        def load(self):
            return type("Broken", (ManifestModel,), {"folder": plugin_dir,
                                                     "predict": lambda self, batch: []})

    class Fine(Broken):
        name = "edge_features"

        def load(self):
            from edgestream_plugins.edge_features import EdgeFeatures
            return EdgeFeatures

    monkeypatch.setattr(api, "entry_points", lambda group: [Broken(), Fine()])
    with caplog.at_level("ERROR"):
        assert [m.name for m in api.discover(["broken", "edge_features"])] == ["edge_features"]
    assert f"{plugin_dir / 'plugin.toml'}: edges: expected a list" in caplog.text
