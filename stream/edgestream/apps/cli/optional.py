"""Verbs of the optional parts, found through the ``edgestream.commands`` entry points.

The service imports neither the simulated beamline nor the agent nor the training code: their
distributions (edgestream-lab in stream/, edgestream-models in models/) declare their verbs
as entry points whose objects are ``Command``s. A verb of this repository whose distribution
is not installed still parses, and running it says what to install (exit 2) instead of
argparse's "invalid choice".
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.util import find_spec

from edgestream.apps.cli.common import EXIT_CONFIG

ENTRY_POINT_GROUP = "edgestream.commands"


@dataclass(frozen=True)
class Command:
    """A verb another distribution adds: its one-line help, its flags, and what it runs
    (returning the exit code). Its module should import little: every ``edgestream`` start
    loads it to build the parser; ``run`` imports the heavy parts. ``requires``: modules of
    an extra it cannot run without, checked first (``install`` says how to get them)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    requires: tuple[str, ...] = ()
    install: str = ""

    def __call__(self, args: argparse.Namespace) -> int:
        missing = [m for m in self.requires if find_spec(m) is None]
        if missing:
            print(f"edgestream {args.verb}: needs {', '.join(missing)}, not installed "
                  f"({self.install or 'pip install ' + ' '.join(missing)})", file=sys.stderr)
            return EXIT_CONFIG
        return self.run(args)


# The optional verbs of this repository and the distribution (with the extras they need)
# that brings each, in the order --help lists them; a checkout installs it from its folder.
PROVIDERS: dict[str, str] = {
    "demo": "edgestream-lab[beamline]",
    "agent": "edgestream-lab",
    "compare-agents": "edgestream-lab[beamline]",
    "library": "edgestream-models",
    "broker": "edgestream-lab[beamline]",
    "simulate": "edgestream-lab[beamline]",
}
CHECKOUT_FOLDERS = {"edgestream-lab": "./stream", "edgestream-models": "./models"}


def not_installed(verb: str) -> str:
    """The line that says what to install for ``verb``."""
    dist = PROVIDERS[verb]
    name, _, extras = dist.partition("[")
    folder = CHECKOUT_FOLDERS[name] + (f"[{extras}" if extras else "")
    return (f"edgestream {verb}: not installed; it comes with the {name} distribution "
            f"(pip install '{dist}'; from a checkout: pip install -e '{folder}')")


def commands() -> dict[str, Command | str]:
    """Every optional verb: its ``Command``, or the line saying why it cannot run."""
    found: dict[str, Command | str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except (ImportError, AttributeError) as exc:  # a broken or partial install
            dist = ep.dist.name if ep.dist else "its distribution"
            found[ep.name] = f"edgestream {ep.name}: cannot load {ep.value} ({exc}); " \
                f"reinstall {dist}"
            continue
        found[ep.name] = obj if isinstance(obj, Command) else \
            f"edgestream {ep.name}: {ep.value} is not an edgestream Command"
    ordered = {v: found.pop(v, None) or not_installed(v) for v in PROVIDERS}
    return ordered | dict(sorted(found.items()))


def _unavailable(message: str, args: argparse.Namespace) -> int:
    print(message, file=sys.stderr)
    return EXIT_CONFIG


def add_optional_verbs(add_verb: Callable[..., argparse.ArgumentParser]) -> None:
    """The installed optional verbs, and a stand-in for each one that is not."""
    for verb, command in commands().items():
        if isinstance(command, Command):
            p = add_verb(verb, help=command.help)
            command.add_arguments(p)
            p.set_defaults(func=command)
        else:
            p = add_verb(verb, help=f"(unavailable) {command.split(': ', 1)[1]}",
                         description=command)
            # whatever follows the verb is the missing verb's: do not call it a usage error
            p.set_defaults(func=functools.partial(_unavailable, command), accepts_extra=True)
