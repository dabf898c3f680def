"""The valence read-out of the Cu K valence classifier (``train.class_median``). Needs torch
(the training environment); the shipped ONNX graph is pinned by the parity tests."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgestream_models.train import class_median  # noqa: E402


def median(p: list[list[float]]) -> np.ndarray:
    return class_median(torch.tensor(p, dtype=torch.float64)).numpy()


def test_a_sure_class_reads_its_index() -> None:
    np.testing.assert_allclose(median(np.eye(4).tolist()), [0, 1, 2, 3], atol=1e-9)


def test_an_even_split_reads_half_way() -> None:
    np.testing.assert_allclose(median([[0, 0.5, 0.5, 0], [0.5, 0.5, 0, 0]]), [1.5, 0.5])


def test_a_lopsided_split_leans_to_the_majority_more_than_the_mean() -> None:
    (m,) = median([[0, 0.9, 0.1, 0]])
    assert m == pytest.approx(0.5 + 0.5 / 0.9)  # 1.056
    assert 1.0 < m < 1.1  # the mean would read 1.1


def test_monotone_in_the_fraction() -> None:
    f = np.linspace(0, 1, 21)
    p = np.stack([np.zeros_like(f), 1 - f, f, np.zeros_like(f)], axis=1)
    m = median(p.tolist())
    assert np.all(np.diff(m) > 0)
    assert m[0] == pytest.approx(1.0) and m[-1] == pytest.approx(2.0)


def test_torch_and_numpy_read_outs_agree() -> None:
    """The K model's graph (torch → ONNX) and the L plugin's numpy read-out are one formula."""
    from edgestream_plugins.cu_l import class_median as numpy_median

    p = np.random.default_rng(0).dirichlet(np.full(4, 0.3), size=500)
    np.testing.assert_allclose(median(p.tolist()), numpy_median(p), atol=1e-9)
