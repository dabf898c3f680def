import re

import numpy as np
import pytest

from edgestream.documents import assemble
from edgestream.documents.runs import RunRouter, eels_loss_axis, element_and_edge
from edgestream.errors import BadSpectrum, MalformedDocument, UnknownDescriptor, UnknownRun


def route(docs, router=None):
    router = router or RunRouter()
    spectra = []
    for name, doc in docs:
        spectra += router(name, doc)
    return spectra, router


def test_step_scan_assembles_transmission_mu(step_scan_docs, mu_model):
    energy = np.linspace(8900, 9100, 81)
    spectra, router = route(step_scan_docs(energy, md={"element": "Cu", "edge": "K"}))
    (s,) = spectra
    assert s.modality == "xas_transmission"
    assert (s.element, s.edge, s.element_source) == ("Cu", "K", "metadata")
    np.testing.assert_allclose(s.energy, energy)
    np.testing.assert_allclose(s.signal, mu_model(energy), rtol=1e-9)
    assert s.ids.seq_range == (1, 81)
    assert not router.runs, "run state is dropped at stop"


def test_step_scan_in_kev_descending_with_repeats(step_scan_docs):
    energy_kev = [9.1, 9.05, 9.0, 9.0, 8.98, 8.95, 8.9] * 4
    spectra, _ = route(step_scan_docs(energy_kev, units="keV"))
    (s,) = spectra
    np.testing.assert_allclose(s.energy, [8900, 8950, 8980, 9000, 9050, 9100])
    assert np.all(np.diff(s.energy) > 0)
    assert s.element is None, "no metadata: identified later from the edge energy"


def test_fly_scan_one_spectrum_per_event(fly_scan_docs, mu_model):
    spectra, _ = route(fly_scan_docs)
    assert len(spectra) == 3
    assert [s.ids.seq_range for s in spectra] == [(1, 1), (2, 2), (3, 3)]
    np.testing.assert_allclose(spectra[0].signal, mu_model(spectra[0].energy), rtol=1e-9)


def test_event_page_gives_the_same_spectra(fly_scan_docs):
    from event_model import pack_event_page

    events = [d for n, d in fly_scan_docs if n == "event"]
    paged = [(n, d) for n, d in fly_scan_docs if n != "event"]
    paged.insert(-1, ("event_page", pack_event_page(*events)))
    a, _ = route(fly_scan_docs)
    b, _ = route(paged)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.signal, y.signal)


def test_event_without_descriptor_is_a_typed_error(fly_scan_docs):
    router = RunRouter()
    event = next(d for n, d in fly_scan_docs if n == "event")
    with pytest.raises(UnknownDescriptor):
        router("event", event)
    stop = next(d for n, d in fly_scan_docs if n == "stop")
    with pytest.raises(UnknownRun):
        router("stop", stop)


def test_zigzag_fly_energy_is_bad_spectrum(fly_scan_docs):
    docs = []
    for name, doc in fly_scan_docs:
        if name == "event":
            doc = dict(doc, data=dict(doc["data"]))
            e = np.array(doc["data"]["qexafs_energy"], dtype=float)
            e[10], e[11] = e[11], e[10]
            doc["data"]["qexafs_energy"] = e
        docs.append((name, doc))
    router = RunRouter()
    with pytest.raises(BadSpectrum):
        route(docs, router)


def test_repeated_start_restarts_the_run(step_scan_docs):
    docs = step_scan_docs(np.linspace(8900, 9100, 30))
    n_head = 5
    spectra, _ = route(docs[:n_head] + docs)
    assert len(spectra) == 1
    assert spectra[0].energy.size == 30


def test_element_from_xdi_block():
    assert element_and_edge({"XDI": {"Element": {"symbol": "cu", "edge": "k"}}}) == ("Cu", "K")
    assert element_and_edge({}) == (None, None)


def test_eels_axis_from_descriptor_configuration():
    desc = {"configuration": {"eels": {"data": {"eels_offset": 900.0,
                                                "eels_dispersion": 0.25}}}}
    axis = eels_loss_axis({}, desc, 4)
    np.testing.assert_allclose(axis, [900, 900.25, 900.5, 900.75])
    assert eels_loss_axis({}, {}, 4) is None
    np.testing.assert_allclose(
        eels_loss_axis({"eels_offset": 10, "eels_dispersion": 1}, {}, 2), [10, 11]
    )


def test_eels_axis_is_corrected_by_a_measured_zero_loss():
    """Dual EELS: the zero-loss peak sat 1.3 eV above nominal zero, so every loss is 1.3 eV
    smaller than the nominal axis says."""
    desc = {"configuration": {"eels": {"data": {"eels_offset": 900.0, "eels_dispersion": 0.5,
                                                "eels_zero_loss": 1.3}}}}
    np.testing.assert_allclose(eels_loss_axis({}, desc, 2), [898.7, 899.2])
    start = {"eels_offset": 900.0, "eels_dispersion": 0.5, "eels_zero_loss_ev": -0.4}
    np.testing.assert_allclose(eels_loss_axis(start, {}, 2), [900.4, 900.9])


def test_fluorescence_and_configured_mapping(run_engine, mu_model):
    from bluesky.plans import list_scan
    from ophyd.sim import SynAxis, SynSignal

    mono = SynAxis(name="mono_theta_energy", value=8900.0)  # a name no pattern knows
    i0 = SynSignal(func=lambda: 2e5, name="ion0")
    fl = SynSignal(func=lambda: 2e5 * mu_model(mono.readback.get()), name="pips_roi1")
    docs = []
    run_engine(list_scan([i0, fl], mono, list(np.linspace(8900, 9100, 40))),
               lambda n, d: docs.append((n, d)))
    mapping = {"energy": "mono_theta_energy", "i0": "ion0", "if": "pips_roi1"}
    (s,), _ = route(docs, RunRouter(mapping_for=lambda start: mapping))
    assert s.modality == "xas_fluorescence"
    np.testing.assert_allclose(s.signal, mu_model(s.energy), rtol=1e-9)


def test_baseline_stream_is_ignored_not_an_error(step_scan_docs):
    docs = step_scan_docs(np.linspace(8900, 9100, 30))
    start = docs[0][1]
    baseline = {"uid": "bl-desc", "run_start": start["uid"], "name": "baseline", "time": 0.0,
                "data_keys": {"ring_current": {"source": "x", "dtype": "number", "shape": []}},
                "hints": {}, "configuration": {}, "object_keys": {}}
    event = {"uid": "bl-ev", "descriptor": "bl-desc", "seq_num": 1, "time": 0.0,
             "data": {"ring_current": 400.0}, "timestamps": {"ring_current": 0.0}}
    spectra, _ = route([docs[0], ("descriptor", baseline), ("event", event), *docs[1:]])
    assert len(spectra) == 1


def _replace(docs, name, change):
    """The documents with the first ``name`` document changed by ``change(doc) -> doc``."""
    i = next(i for i, (n, _) in enumerate(docs) if n == name)
    return [*docs[:i], (name, change(dict(docs[i][1]))), *docs[i + 1:]]


def _page(docs):
    from event_model import pack_event_page

    events = [d for n, d in docs if n == "event"]
    return [*(x for x in docs if x[0] not in ("event", "stop")),
            ("event_page", pack_event_page(*events)), docs[-1]]


def _short_column(page):
    data = dict(page["data"])
    data["qexafs_energy"] = data["qexafs_energy"][:-1]
    return dict(page, data=data)


# (document, change, words of the refusal): each a user's mistake the event model forbids
MALFORMED = [
    ("start", lambda d: dict(d, uid=12345), "uid is not a string"),
    ("start", lambda d: {k: v for k, v in d.items() if k != "uid"}, "lacks key 'uid'"),
    ("start", lambda d: dict(d, hints=["energy"]), "hints is not a mapping"),
    ("start", lambda d: dict(d, eels_offset="nine hundred"), "eels_offset is not a number"),
    ("descriptor", lambda d: dict(d, run_start=["a"]), "run_start is not a string"),
    ("descriptor", lambda d: dict(d, data_keys=["qexafs_energy"]), "data_keys is not a mapping"),
    ("descriptor", lambda d: dict(d, data_keys={"x": "number"}), "data_keys['x'] is not a "),
    ("descriptor", lambda d: dict(d, data_keys={"x": {"shape": "3"}}), "shape is not a list"),
    ("descriptor", lambda d: dict(d, configuration={"eels": 5}), "configuration['eels']"),
    ("event", lambda d: dict(d, descriptor=None), "descriptor is not a string"),
    ("event", lambda d: dict(d, data=5), "data is not a mapping"),
    ("event", lambda d: dict(d, seq_num="one"), "seq_num is not a whole number"),
    ("event", lambda d: dict(d, time=[0.0]), "time is not a number"),
    ("event_page", lambda d: dict(d, descriptor=3.5), "descriptor is not a string"),
    ("event_page", lambda d: {k: v for k, v in d.items() if k != "seq_num"}, "lacks key"),
    ("event_page", _short_column, "columns differ in length"),
    ("event_page", lambda d: dict(d, time=["noon"] * len(d["time"])),
     "time is not a list of numbers"),
    ("stop", lambda d: {k: v for k, v in d.items() if k != "run_start"}, "lacks key"),
]


@pytest.mark.parametrize(("name", "change", "words"), MALFORMED,
                         ids=[f"{n}-{w}" for n, _, w in MALFORMED])
def test_a_malformed_document_is_malformed_document_naming_what_is_wrong(
        fly_scan_docs, name, change, words):
    docs = _page(fly_scan_docs) if name == "event_page" else fly_scan_docs
    with pytest.raises(MalformedDocument, match=re.escape(words)):
        route(_replace(docs, name, change))


def test_eels_calibration_that_is_not_a_number_is_malformed():
    desc = {"configuration": {"eels": {"data": {"eels_offset": "n/a", "eels_dispersion": 1}}}}
    with pytest.raises(MalformedDocument, match="'eels_offset' is not a finite number"):
        eels_loss_axis({}, desc, 4)
    with pytest.raises(MalformedDocument, match="eels_dispersion is not a finite number"):
        eels_loss_axis({"eels_offset": 1, "eels_dispersion": float("inf")}, {}, 4)


@pytest.mark.parametrize("error", [KeyError("energy"), TypeError("unhashable"),
                                   AttributeError("no .get")])
def test_a_bug_in_an_assembler_is_internal_not_the_users_malformed_document(
        fly_scan_docs, monkeypatch, error):
    """These used to be reported as malformed_document: the user was told their documents
    were wrong when the code was."""
    def broken(self, event):
        raise error

    monkeypatch.setattr(assemble.ArrayAssembler, "add_event", broken)
    with pytest.raises(Exception) as caught:
        route(fly_scan_docs)
    err = caught.value
    assert err.reason == "internal" and not isinstance(err, MalformedDocument)
    assert err.__cause__ is error and type(error).__name__ in err.message
