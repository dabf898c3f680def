"""The training runs from a checkout and, from an installed copy, says so in one sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env=os.environ | env)


def test_installed_copy_says_training_runs_from_a_checkout(tmp_path: Path) -> None:
    # an installed copy: the service and the training packages without the checkout around
    site = tmp_path / "site-packages"
    skip = shutil.ignore_patterns("__pycache__", "data")
    shutil.copytree(REPO / "stream" / "edgestream", site / "edgestream", ignore=skip)
    shutil.copytree(REPO / "models" / "edgestream_models", site / "edgestream_models",
                    ignore=skip)
    for module in ("generate_feff10", "labels", "train", "dataset"):
        res = _run(["-m", f"edgestream_models.{module}", "--help"], PYTHONPATH=str(site))
        assert res.returncode == 1, (module, res.stdout, res.stderr)
        assert "runs from a checkout of the edgestream repository" in res.stderr, module
        assert "Traceback" not in res.stderr, (module, res.stderr)
    # a plain import (what an entry point does) is left alone
    res = _run(["-c", "import edgestream_models, edgestream.paths as p; "
                "print(p.checkout_root())"], PYTHONPATH=str(site))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "None"


def test_checkout_runs_the_training_cli() -> None:
    res = _run(["-m", "edgestream_models.generate_feff10", "--help"])
    assert res.returncode == 0, res.stderr
    assert "k3d" in res.stdout
