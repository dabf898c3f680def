"""Inverse model for screening: spectrum → embedding, structure → embedding, trained together.

Two encoders map into one unit sphere: a spectrum encoder (model input on the Cu K grid →
``dim`` numbers) and a site encoder (raw M3GNet site features and the radial distribution,
``site_geometry`` → ``dim`` numbers; a material's embedding is the multiplicity-weighted mean
over its Cu sites, normalized). They are trained
with a symmetric InfoNCE loss (CLIP-style) on training materials: the augmented, site-
averaged FEFF spectrum of a material must lie nearest its own structure among the batch.
Candidates are then ranked by ``embedding similarity + weight × spectral similarity`` (the
forward model's predicted spectra, ``edgestream_plugins.cu_k.similarity``), with the weight
chosen on the validation materials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from edgestream_models.augment import augment
from edgestream_models.train import MLP, CuKData, Ensemble, material_mean, predict


@dataclass
class InverseModel:
    spectrum_encoder: Ensemble  # x [n, len(GRID)] → [n, members, dim], unit vectors
    site_encoder: Ensemble  # features [n, 64] → [n, members, dim], not normalized


def pool_sites(site_out: np.ndarray, material: np.ndarray, weight: np.ndarray,
               names: np.ndarray | None = None) -> np.ndarray:
    """Material embeddings ``[n_materials, members, dim]`` (unit vectors per member) from site
    encoder outputs, in the order of ``names`` (default: sorted unique materials)."""
    uniq, pooled = material_mean(site_out, material, weight)
    if names is not None:
        pooled = pooled[np.searchsorted(uniq, names)]
    return pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-9)


def embedding_similarity(query: np.ndarray, library: np.ndarray) -> np.ndarray:
    """Mean over members of the cosine similarity: ``[n, M, D] x [N, M, D] → [n, N]``."""
    return np.einsum("nmd,kmd->nk", query, library, optimize=True) / query.shape[1]


def _pooled(net: nn.Module, feats: torch.Tensor, site_mat: np.ndarray, site_w: torch.Tensor,
            batch_mats: np.ndarray) -> torch.Tensor:
    rows = np.nonzero(np.isin(site_mat, batch_mats))[0]
    local = np.searchsorted(batch_mats, site_mat[rows])
    emb = net(feats[rows]) * site_w[rows, None]
    out = torch.zeros(len(batch_mats), emb.shape[1]).index_add(0, torch.from_numpy(local), emb)
    return nn.functional.normalize(out, dim=1)


# Validation top-1 of 500 (embedding alone, 2 members): 0.20 with (128, 64) → 32 and 100
# epochs, 0.35 with (256, 128) → 64 and 300; 1,000 epochs or (512, 256) no better.
INVERSE_HIDDEN = (256, 128)
INVERSE_DIM = 64


def train_inverse(data: CuKData, *, members: int = 5, epochs: int = 300, dim: int = INVERSE_DIM,
                  copies: int = 12, tau: float = 0.05, batch: int = 256, seed: int = 0,
                  feature_noise: float = 0.05, hidden: tuple[int, ...] = INVERSE_HIDDEN
                  ) -> InverseModel:
    tr = data.rows("train")
    names, work = material_mean(data.work[tr], data.material[tr], data.weight[tr])
    rng = np.random.default_rng(seed + 31)
    pool = np.stack([augment(work, rng) for _ in tqdm(range(copies), desc="augment inverse",
                                                     leave=False)], axis=1)
    site_mat = data.material[tr]
    structure_x = data.structure_x[tr]
    feats = torch.from_numpy(structure_x)
    fstd = structure_x.std(0)
    site_w = torch.from_numpy(data.weight[tr].astype(np.float32))
    flat = pool.reshape(-1, pool.shape[-1])
    spec_nets, site_nets = [], []
    steps = int(np.ceil(len(names) / batch))
    with tqdm(total=members * epochs, desc="inverse") as bar:
        for m in range(members):
            torch.manual_seed(seed + 1000 * m)
            r = np.random.default_rng(seed + 1000 * m)
            f = MLP(flat.mean(0), flat.std(0), dim, hidden=hidden, dropout=0.1)
            g = MLP(structure_x.mean(0), fstd, dim, hidden=hidden, dropout=0.1)
            opt = torch.optim.AdamW([*f.parameters(), *g.parameters()], lr=1e-3,
                                    weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=epochs * steps)
            for _ in range(epochs):
                f.train()
                g.train()
                order = r.permutation(len(names))
                for i in range(0, len(order), batch):
                    idx = np.sort(order[i:i + batch])
                    if len(idx) < 8:
                        continue
                    x = torch.from_numpy(pool[idx, r.integers(0, copies, len(idx))])
                    noisy = feats + torch.randn_like(feats) * torch.from_numpy(
                        fstd.astype(np.float32)) * feature_noise
                    q = nn.functional.normalize(f(x), dim=1)
                    lib = _pooled(g, noisy, site_mat, site_w, names[idx])
                    logits = q @ lib.T / tau
                    label = torch.arange(len(idx))
                    loss = (nn.functional.cross_entropy(logits, label)
                            + nn.functional.cross_entropy(logits.T, label)) / 2
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            spec_nets.append(f.eval())
            site_nets.append(g.eval())
    return InverseModel(Ensemble(spec_nets, head="unit").eval(), Ensemble(site_nets).eval())


def library_embeddings(model: InverseModel, data: CuKData, names: np.ndarray) -> np.ndarray:
    """``[len(names), members, dim]`` material embeddings of the data set's materials."""
    return pool_sites(predict(model.site_encoder, data.structure_x), data.material, data.weight,
                      names)


def rank_metrics(score: np.ndarray, truth_idx: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)
                 ) -> dict[str, float]:
    """Top-k fractions: how often the true candidate is among the k highest scores."""
    rank = np.sum(score > score[np.arange(len(score)), truth_idx][:, None], axis=1)
    return {f"top{k}": float(np.mean(rank < k)) for k in ks}
