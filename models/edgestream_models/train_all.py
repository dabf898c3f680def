"""One command rebuilds every Cu K-edge model file and card from the data set, on CPU:

    python -m edgestream_models.train_all [--dataset PATH] [--members 5] [--quick]

Reads ``${EDGESTREAM_CACHE:-~/.cache/edgestream}/datasets/cu_k_dataset.npz`` (re-read on every
run, so FEFF10 sites added to it are used), trains the valence, motif and forward ensembles,
exports them to ONNX (parity-checked against torch), builds the screening library, and writes
into plugins/valence, plugins/motif, plugins/screening: the .onnx files, ood.npz, plugin.toml
(with sha256s), card.json and card.png. Torch weights go to the cache (parity tests).
The steps: :mod:`edgestream_models.train_steps` (valence, motif),
:mod:`edgestream_models.train_steps_screening`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from edgestream_models.train import CACHE, PLUGINS, Pool, load_dataset, set_threads
from edgestream_models.train_steps import run_motif, run_valence
from edgestream_models.train_steps_screening import run_screening
from edgestream_plugins.cu_k import OodReference


def main(argv: list[str] | None = None) -> int:
    """CLI: train the selected families (``--only``) and print their metrics as JSON."""
    parser = argparse.ArgumentParser(prog="python -m edgestream_models.train_all")
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--forward-epochs", type=int, default=400)
    parser.add_argument("--inverse-epochs", type=int, default=300)
    parser.add_argument("--copies", type=int, default=8, help="augmented copies per spectrum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="valence,motif,screening")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 members, few epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.epochs, args.forward_epochs, args.copies = 2, 4, 6, 1
        args.inverse_epochs = 4
    t0 = time.time()
    set_threads()
    (CACHE / "models").mkdir(parents=True, exist_ok=True)
    data = load_dataset(args.dataset)
    base = {"data": data.summary(), "members": args.members,
            "split_rule": "by material (the data set's split column)",
            "representation": "flattened normalized mu on 8970-9040 eV (0.5 eV, absolute, "
                              "calibrated), edgestream_plugins.cu_k.represent",
            "augmentation": "edgestream_models.augment.AugmentConfig defaults"}
    pools = {"train": Pool.build(data, data.rows("train"), args.copies, args.seed,
                                 desc="augment train"),
             "val": Pool.build(data, data.rows("val"), 2, args.seed + 1, desc="augment val")}
    ref = OodReference.fit(pools["train"].x, pools["val"].x)
    summary = {}
    only = set(args.only.split(","))
    if "valence" in only:
        summary["valence"] = run_valence(data, pools, ref, args, base)["metrics"]
    if "motif" in only:
        summary["motif"] = run_motif(data, pools, ref, args, base)["metrics"]
    if "screening" in only:
        summary["screening"] = run_screening(data, ref, args, base)["metrics"]
    summary["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(summary, indent=1, default=float))
    shutil.rmtree(PLUGINS / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
