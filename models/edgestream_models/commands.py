"""``edgestream library`` (entry point ``edgestream.commands`` in models/pyproject.toml): add
your own candidate structures to a Cu K screening library, or list one. Light to import:
featurizing needs matgl and torch (the ``torch`` extra) and a checkout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgestream.apps.cli import Command


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "show"))
    p.add_argument("paths", nargs="+", type=Path,
                   help="add: CIF/POSCAR files; show: the library .npz")
    p.add_argument("--library", type=Path, help="add: library .npz to append to (created)")


def _run(args: argparse.Namespace) -> int:
    """Featurize structures with M3GNet and append them (``edgestream_models.library``)."""
    try:
        from edgestream_models.library import main as library_main
    except (ImportError, RuntimeError) as exc:  # no matgl/torch, or not from a checkout
        print(f"edgestream library needs the training extra from a checkout "
              f"(pip install -e './models[torch]'): {exc}", file=sys.stderr)
        return 2
    if args.action == "show":
        return library_main(["show", str(args.paths[0])])
    if args.library is None:
        print("edgestream library add: --library PATH is required", file=sys.stderr)
        return 2
    return library_main(["add", *map(str, args.paths), "--library", str(args.library)])


LIBRARY = Command("add your own candidate structures to a Cu K screening library "
                  "(CIF/POSCAR; needs the training extra for matgl)", _flags, _run)
