"""The plugins' batch-native hot path: a batch predicts what its spectra predict one by one,
the screening search finds exactly the brute-force ranking, column rounding is ``rounded``
to the bit, and the ONNX sessions get the documented options."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgestream.documents.spectrum import RawSpectrum, SpectrumIds
from edgestream.normalize import normalized_batch
from edgestream.physics import elements_in, mu_transmission
from edgestream.plugin.api import ONNX_THREADS_ENV, SpectrumBatch, onnx_threads, session_options
from edgestream.plugin.base import rounded, rounded_list
from edgestream_plugins.cu_k.search import ProfileShifts, WhitenedSearch
from edgestream_plugins.cu_k.similarity import SHIFTS_EV, profile, shifted
from edgestream_plugins.cu_l import CuLValence
from edgestream_plugins.edge_features import EdgeFeatures
from edgestream_plugins.motif import CuKMotif
from edgestream_plugins.screening import CuKScreening
from edgestream_plugins.valence import CuKValence
from edgestream_sim.spectra import (
    EelsAxis,
    EelsSimulator,
    XasConditions,
    XasSimulator,
    load_fixture,
)

CU_K = (CuKValence, CuKMotif, CuKScreening, EdgeFeatures)


@pytest.fixture(scope="module")
def xas_batch() -> SpectrumBatch:
    """Simulated Cu K transmission spectra of the fixture's references, varied conditions;
    one row has a composition (screening filters its candidates by it)."""
    refs = load_fixture()
    energy = np.concatenate([np.arange(8880, 8970, 5.0), np.arange(8970, 9010, 0.5),
                             np.arange(9010, 9300, 4.0)])
    raws = []
    for i in range(24):
        rng = np.random.default_rng(i)
        sim = XasSimulator(refs[i % len(refs)], XasConditions.draw(rng), rng)
        counts = sim.measure(energy, np.arange(energy.size, dtype=float))
        mu = mu_transmission(counts["I0"], counts["It"])
        meta = {"composition": ["Cu", "O"]} if i == 3 else {}
        raws.append(RawSpectrum(SpectrumIds("run", "d", "primary", (i, i)),
                                "xas_transmission", energy, mu, "Cu", "K", metadata=meta))
    return normalized_batch(raws)


@pytest.fixture(scope="module")
def eels_batch() -> SpectrumBatch:
    sim = EelsSimulator(EelsAxis(), np.random.default_rng(0))
    loss = EelsAxis().loss()
    raws = [RawSpectrum(SpectrumIds("r", "d", "primary", (1, 1), i), "eels", loss,
                        sim.spectrum(c, thickness=t).astype(float), "Cu", "L2,3")
            for i, (c, t) in enumerate([(c, t) for c in ("Cu", "Cu2O", "CuO")
                                        for t in (0.5, 1.0, 1.5)])]
    return normalized_batch(raws)


def row(batch: SpectrumBatch, i: int) -> SpectrumBatch:
    """Spectrum ``i`` of ``batch`` as a batch of one."""
    return replace(batch, norm=batch.norm[i:i + 1], e0=batch.e0[i:i + 1],
                   edge_step=batch.edge_step[i:i + 1], energy=batch.energy[i:i + 1],
                   measured=batch.measured[i:i + 1],
                   metadata=None if batch.metadata is None else batch.metadata[i:i + 1])


def agree(a, b, where: str = "") -> None:
    """Same structure and strings/bools/ids; floats within one unit of their last rounded
    digit (ONNX and BLAS may sum in another order at another batch size)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            agree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            agree(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=1.5e-3), where
    else:
        assert a == b and type(a) is type(b), where


@pytest.mark.parametrize("cls", [*CU_K, CuLValence], ids=lambda c: c.__name__)
def test_a_batch_predicts_what_its_spectra_predict_one_by_one(cls, xas_batch, eels_batch):
    batch = eels_batch if cls is CuLValence else xas_batch
    model = cls()
    model.load(("CPUExecutionProvider",))
    together = model.predict(batch)
    assert len(together) == len(batch)
    for i in range(len(batch)):
        (alone,) = model.predict(row(batch, i))
        agree(together[i], alone, f"{cls.__name__}[{i}]")


def test_the_screening_composition_applies_to_its_row_only(xas_batch):
    model = CuKScreening()
    model.load(("CPUExecutionProvider",))
    out = model.predict(xas_batch)
    assert out[3]["composition"]["elements"] == ["Cu", "O"]
    assert all("composition" not in o for i, o in enumerate(out) if i != 3)
    allowed = {m for m, f in zip(model.ids, model.formulas, strict=True)
               if elements_in(f) <= {"Cu", "O"}}
    assert {c["material_id"] for c in out[3]["candidates"]} <= allowed


@pytest.fixture(scope="module")
def screening():
    model = CuKScreening()
    model.load(("CPUExecutionProvider",))
    return model


def brute_force(model: CuKScreening, x: np.ndarray, bonus: np.ndarray, m: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate at every shift (``Whitening.scores``), then the m best."""
    scale = float(model.manifest["ranking"]["distance_scale"])
    total = model.whitening.scores(x, model.whitened, model.grid) / np.float32(scale) + bonus
    order = np.argsort(-total, axis=1, kind="stable")[:, :m]
    return order, np.take_along_axis(total, order, 1)


@pytest.mark.parametrize("rank,examined", [(32, 32), (2, 6)], ids=["shipped", "fallback"])
def test_the_screening_search_finds_the_brute_force_ranking(screening, xas_batch, rank,
                                                            examined):
    """(2, 6): a bound so loose that most queries take the fallback: still exact."""
    x, idx, _, _ = screening.inputs(xas_batch)
    bonus, _ = screening.bonus(xas_batch, idx, screening.run("model", x))
    bonus[0, ::3] = -np.inf  # a composition that excludes a third of the library
    search = WhitenedSearch(screening.whitening, screening.library["spectrum"],
                            screening.grid, rank=rank)
    scale = float(screening.manifest["ranking"]["distance_scale"])
    top, total = search.top(x, bonus, scale, 6, examined=examined)
    want_top, want_total = brute_force(screening, x, bonus, 6)
    np.testing.assert_allclose(total, want_total, rtol=0, atol=2e-5)
    # equal totals may swap places; the sets of the best five agree
    assert all(set(a[:5]) == set(b[:5]) for a, b in zip(top, want_top, strict=True))
    assert not (top[0] % 3 == 0).any()
    bound = search.upper_bounds(search.queries(x), bonus, scale)
    exact = screening.whitening.scores(x, search.candidates, screening.grid) / scale + bonus
    assert (bound >= exact - 1e-6).all()


def test_a_small_library_is_searched_exhaustively(screening, xas_batch):
    x, _, _, _ = screening.inputs(xas_batch)
    few = screening.library["spectrum"][:5]
    search = WhitenedSearch(screening.whitening, few, screening.grid)
    bonus = np.zeros((len(x), 5), dtype=np.float32)
    top, total = search.top(x, bonus, 1.0, 6)
    full = screening.whitening.scores(x, search.candidates, screening.grid)
    assert top.shape == (len(x), 5)
    # float32 |q|² + |c|² - 2 q·c: ~1e-6 of |q|² + |c|² (~2,000 here) either way
    np.testing.assert_allclose(total, -np.sort(-full, axis=1), rtol=0, atol=2e-3)


def test_profile_shifts_is_the_profile_of_the_shifted_query(screening, xas_batch):
    x, _, _, _ = screening.inputs(xas_batch)
    top = np.random.default_rng(0).integers(0, len(screening.ids), (len(x), 6))
    sims, shifts = ProfileShifts(screening.profiles, screening.grid).best(x, top)
    q = profile(shifted(x, screening.grid), screening.grid)  # [n, S, 2w]
    want = np.einsum("nsw,nmw->nsm", q, screening.profiles[top])
    np.testing.assert_allclose(sims, want.max(axis=1), atol=2e-5)
    near = np.isclose(np.sort(want, axis=1)[:, -1], np.sort(want, axis=1)[:, -2], atol=1e-5)
    assert (shifts == SHIFTS_EV[want.argmax(axis=1)])[~near].all()


def test_rounded_list_is_rounded_to_the_bit():
    rng = np.random.default_rng(1)
    for digits in (2, 3, 4):
        x = np.concatenate([rng.normal(0, 10.0, 5000), rng.normal(0, 1e-3, 5000),
                            (rng.integers(-10**6, 10**6, 5000) + 0.5) / 10**digits,
                            np.round(rng.normal(0, 3, 5000), digits + 1),
                            [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e-300, 2.675]])
        want = [rounded(v, digits) for v in x]
        got = rounded_list(x, digits)
        assert [str(v) for v in got] == [str(v) for v in want]  # str: -0.0 and None too
        grid = rounded_list(x[:300].reshape(100, 3), digits)
        assert grid == [want[i:i + 3] for i in range(0, 300, 3)]
        for start in range(0, len(x), 7):  # small arrays take the one-by-one path
            got = rounded_list(x[start:start + 7], digits)
            assert [str(v) for v in got] == [str(v) for v in want[start:start + 7]]
        assert rounded_list(x[-6:].reshape(2, 3), digits) == [want[-6:-3], want[-3:]]
    with pytest.raises(ValueError):
        rounded_list(np.zeros((2, 2, 2)))


def test_onnx_sessions_use_one_thread_unless_told(monkeypatch):
    monkeypatch.delenv(ONNX_THREADS_ENV, raising=False)
    assert onnx_threads() == 1 and session_options().intra_op_num_threads == 1
    monkeypatch.setenv(ONNX_THREADS_ENV, "0")
    assert onnx_threads() == 0
    monkeypatch.setenv(ONNX_THREADS_ENV, "many")
    assert onnx_threads() == 1
    assert session_options(3).intra_op_num_threads == 3
