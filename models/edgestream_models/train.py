"""Shared training machinery of the Cu K-edge models: data set, networks, ensemble loop.

The labelled data set (``cu_k_dataset.npz``, built by ``edgestream_models.dataset``) is read
as it is on disk, so a rebuilt or extended data set (FEFF10 sites added) is picked up by
simply training again.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from edgestream.paths import cache_root, require_checkout, shared_root
from edgestream_models.augment import AugmentConfig, augment, clean, to_work_axis
from edgestream_models.site_geometry import structure_input
from edgestream_plugins.cu_k import GRID

REPO = require_checkout("Training")
SHARED = shared_root()
CACHE = cache_root()
DATASET = CACHE / "datasets" / "cu_k_dataset.npz"
PLUGINS = REPO / "plugins" / "edgestream_plugins"


def set_threads() -> None:
    """One torch thread unless ``EDGESTREAM_TORCH_THREADS`` says otherwise: these nets are
    small, and on a shared machine two OpenMP threads spin-wait (measured 18x slower)."""
    torch.set_num_threads(int(os.environ.get("EDGESTREAM_TORCH_THREADS", "1")))


@dataclass
class CuKData:
    """The data set, one row per absorbing site, plus the derived training arrays."""

    key: np.ndarray
    material: np.ndarray
    source: np.ndarray
    split: np.ndarray
    formula: np.ndarray
    valence: np.ndarray
    valence_method: np.ndarray
    motif: np.ndarray
    cn: np.ndarray
    features: np.ndarray  # [n, 64] raw M3GNet gc_3 node features
    geometry: np.ndarray  # [n, N_GEOMETRY] the absorber's radial distribution
    work: np.ndarray  # [n, len(WORK_AXIS)] calibrated spectra on the augmentation axis
    valid: np.ndarray  # [n, len(GRID)] inside the computed FEFF range
    weight: np.ndarray  # [n] site multiplicity within its material (1 when unknown)
    path: Path

    @property
    def structure_x(self) -> np.ndarray:
        """The forward model's and site encoder's input: features then geometry."""
        return structure_input(self.features, self.geometry)

    def rows(self, split: str) -> np.ndarray:
        return np.nonzero(self.split == split)[0]

    def summary(self) -> dict:
        out = {"path": str(self.path), "sites": len(self.key),
               "materials": len(set(self.material))}
        for s in ("train", "val", "test"):
            rows = self.rows(s)
            out[f"{s}_sites"] = len(rows)
            out[f"{s}_materials"] = len(set(self.material[rows]))
        names, counts = np.unique(self.source, return_counts=True)
        out["sources"] = {str(k): int(v) for k, v in zip(names, counts, strict=True)}
        return out


def load_dataset(path: Path | None = None) -> CuKData:
    """Read the labelled data set; its energy axis is the calibrated absolute one (eV)."""
    path = Path(path or DATASET)
    if not path.exists():
        raise FileNotFoundError(f"{path}: build it first (python -m edgestream_models.dataset)")
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    if "site_geometry" not in d:
        raise ValueError(f"{path} predates site_geometry (models 1.3.0): rebuild it "
                         "(python -m edgestream_models.dataset build)")
    energy = np.asarray(d.get("energy", d.get("grid")), dtype=float)
    mu = np.asarray(d["mu"], dtype=float)
    keep = np.isfinite(mu).sum(axis=1) >= 20
    n = int(keep.sum())
    first = np.array([energy[np.isfinite(r)][0] for r in mu[keep]])
    last = np.array([energy[np.isfinite(r)][-1] for r in mu[keep]])
    weight = d.get("multiplicity", d.get("weight", np.ones(len(mu))))
    return CuKData(
        key=d["key"][keep].astype(str), material=d["material"][keep].astype(str),
        source=d["source"][keep].astype(str), split=d["split"][keep].astype(str),
        formula=d["formula"][keep].astype(str) if "formula" in d else np.full(n, ""),
        valence=np.asarray(d["valence"], dtype=float)[keep],
        valence_method=d["valence_method"][keep].astype(str),
        motif=d["motif"][keep].astype(str), cn=np.asarray(d["cn"], dtype=float)[keep],
        features=np.asarray(d["site_features"], dtype=np.float32)[keep],
        geometry=np.asarray(d["site_geometry"], dtype=np.float32)[keep],
        work=to_work_axis(energy, mu[keep]),
        valid=(GRID[None] >= first[:, None] - 0.25) & (GRID[None] <= last[:, None] + 0.25),
        weight=np.asarray(weight, dtype=float)[keep], path=path,
    )


# ------------------------------------------------------------------------------ networks

class MLP(nn.Module):
    """Standardize → [Linear → BatchNorm → SiLU → Dropout] × len(hidden) → Linear."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, n_out: int,
                 hidden: tuple[int, ...] = (256, 256), dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))
        layers: list[nn.Module] = []
        n = len(mean)
        for h in hidden:
            layers += [nn.Linear(n, h), nn.BatchNorm1d(h), nn.SiLU(), nn.Dropout(dropout)]
            n = h
        layers.append(nn.Linear(n, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Ensemble(nn.Module):
    """Members stacked on axis 1: ``[n, members, *out]``; ``head`` post-processes each
    ("softmax", "squeeze", "median": :func:`class_median` of the softmax, "unit")."""

    def __init__(self, members: list[nn.Module], head: str = "identity") -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [m(x) for m in self.members]
        if self.head == "softmax":
            outs = [torch.softmax(o, dim=-1) for o in outs]
        elif self.head == "squeeze":
            outs = [o[:, 0] for o in outs]
        elif self.head == "median":
            outs = [class_median(torch.softmax(o, dim=-1)) for o in outs]
        elif self.head == "unit":
            outs = [o / torch.linalg.vector_norm(o, dim=-1, keepdim=True).clamp_min(1e-6)
                    for o in outs]
        return torch.stack(outs, dim=1)


def class_median(p: torch.Tensor) -> torch.Tensor:
    """Continuous median of class probabilities ``p`` [n, K] over classes 0..K-1, each a
    unit-wide bin centred on its index: where the cumulative probability reaches 1/2. A sure
    class reads its index; a 50/50 split of neighbours reads half-way; unlike the mean, a
    90/10 split reads 0.06 from the majority, not 0.1."""
    above = torch.cumsum(p, dim=-1)
    below = above - p
    return torch.clamp((0.5 - below) / p.clamp_min(1e-9), 0.0, 1.0).sum(dim=-1) - 0.5


def round_weights_to_half(model: nn.Module) -> nn.Module:
    """Round every weight matrix of ``model`` to the nearest float16 value, in place.

    For models exported with float16 weight storage (``export_onnx(half_weights=True)``):
    the network that is evaluated and shipped is then exactly the one in the file, so the
    card's metrics and the ONNX parity hold for it. Biases and BatchNorm stay float32."""
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.copy_(p.half().float())
    return model


class EnsembleMean(nn.Module):
    """The ensemble's mean over members as one net (validation of a whole ensemble)."""

    def __init__(self, ensemble: Ensemble) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ensemble(x).mean(dim=1)
        return out[:, None] if out.ndim == 1 else out


def predict(model: nn.Module, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(
            x[i:i + chunk], dtype=np.float32))).numpy() for i in range(0, len(x), chunk)])


def train_member(
    net: nn.Module,
    draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validate: Callable[[nn.Module], float],
    *, epochs: int, seed: int, lr: float = 2e-3, batch: int = 256, weight_decay: float = 1e-4,
    bar: tqdm | None = None,
) -> tuple[nn.Module, list[float]]:
    """Adam + cosine schedule; ``draw`` makes each epoch's (x, y, sample weight) afresh (new
    augmentation); the state with the best ``validate`` score (lower is better) is kept."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs,
                                                pct_start=0.1)
    best, best_state, history = np.inf, copy.deepcopy(net.state_dict()), []
    for _ in range(epochs):
        x, y, w = draw(rng)
        net.train()
        order = rng.permutation(len(x))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        wt = None if w is None else torch.from_numpy(w.astype(np.float32))
        for i in range(0, len(order) - 1, batch):
            idx = torch.from_numpy(order[i:i + batch])
            if len(idx) < 2:
                continue
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss = (loss * wt[idx]).sum() / wt[idx].sum() if wt is not None else loss.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        score = validate(net)
        history.append(score)
        if score < best:
            best, best_state = score, copy.deepcopy(net.state_dict())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(val=f"{score:.4f}", best=f"{best:.4f}")
    net.load_state_dict(best_state)
    net.eval()
    return net, history


def train_ensemble(
    make_net: Callable[[], nn.Module],
    draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validate: Callable[[nn.Module], float],
    *, members: int, epochs: int, seed: int, head: str = "identity", desc: str = "train",
    **member_options: float,
) -> Ensemble:
    """``members`` nets from ``make_net``, each trained by :func:`train_member` with its own
    seed (``seed + 1000 * m``, for the initial weights too), as one :class:`Ensemble`."""
    nets = []
    with tqdm(total=members * epochs, desc=desc) as bar:
        for m in range(members):
            torch.manual_seed(seed + 1000 * m)  # the init too, whatever ran before
            net, _ = train_member(make_net(), draw, loss_fn, validate, epochs=epochs,
                                  seed=seed + 1000 * m, bar=bar, **member_options)
            nets.append(net)
    return Ensemble(nets, head=head).eval()


def material_mean(values: np.ndarray, material: np.ndarray, weight: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    """Multiplicity-weighted mean of per-site rows per material: (materials, [m, ...])."""
    names, inverse = np.unique(material, return_inverse=True)
    out = np.zeros((len(names), *values.shape[1:]))
    np.add.at(out, inverse, values * weight.reshape((-1,) + (1,) * (values.ndim - 1)))
    total = np.zeros(len(names))
    np.add.at(total, inverse, weight)
    return names, out / total.reshape((-1,) + (1,) * (values.ndim - 1))


@dataclass
class Pool:
    """Augmented model inputs drawn once and shared by the spectrum → label models: ``x``
    [N, len(GRID)] and ``row`` [N], the data-set row each came from (``row`` < 0: none)."""

    x: np.ndarray
    row: np.ndarray

    @classmethod
    def build(cls, data: CuKData, rows: np.ndarray, copies: int, seed: int,
              with_clean: bool = True, cfg: AugmentConfig | None = None,
              desc: str = "augment") -> Pool:
        rng = np.random.default_rng(seed)
        xs, idx = [], []
        if with_clean:
            xs.append(clean(data.work[rows]))
            idx.append(rows)
        for _ in tqdm(range(copies), desc=desc, leave=False):
            for part in np.array_split(rows, max(1, len(rows) // 2048)):
                xs.append(augment(data.work[part], rng, cfg or AugmentConfig()))
                idx.append(part)
        return cls(np.concatenate(xs).astype(np.float32), np.concatenate(idx))
