"""bench/ lives at the repository root, outside the installed package, and pytest does not put
the root on sys.path; this folder's own name would otherwise be taken for the package."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if "bench" in sys.modules and getattr(sys.modules["bench"], "__file__", None) is None:
    del sys.modules["bench"]  # a namespace package made of tests/bench: not ours
