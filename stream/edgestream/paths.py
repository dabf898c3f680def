"""Where things are: the cache, the checkout (when running from one) and ``../shared`` beside it.

One resolver for every part of the repository (service, lab, training, tests, benchmarks),
each overridable from the environment: ``EDGESTREAM_CACHE`` (default
``~/.cache/edgestream``), ``EDGESTREAM_SHARED`` (default the checkout's ``../shared``).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def cache_root() -> Path:
    """``$EDGESTREAM_CACHE`` or ``~/.cache/edgestream`` (not created)."""
    env = os.environ.get("EDGESTREAM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgestream"


@cache
def checkout_root() -> Path | None:
    """The git checkout this code runs from, or None in an installed wheel."""
    here = Path(__file__).resolve()
    # stream/edgestream/paths.py -> the folder holding pyproject.toml, stream/ and plugins/
    root = here.parents[2]
    marks = ("pyproject.toml", "stream/pyproject.toml", "plugins/edgestream_plugins")
    return root if all((root / m).exists() for m in marks) else None


def require_checkout(what: str) -> Path:
    """The checkout, or a RuntimeError saying that ``what`` runs only from one."""
    root = checkout_root()
    if root is None:
        raise RuntimeError(f"{what} runs from a checkout of the edgestream repository, "
                           "not from an installed wheel")
    return root


def shared_root() -> Path:
    """``$EDGESTREAM_SHARED`` or the checkout's ``../shared`` (may not exist: users clone
    without it, and what needs it skips or says so)."""
    env = os.environ.get("EDGESTREAM_SHARED")
    if env:
        return Path(env).expanduser()
    return require_checkout("../shared").parent / "shared"
