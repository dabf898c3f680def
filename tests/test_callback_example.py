"""The documented example plan runs: it waits for its annotation and branches on it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

EXAMPLE = Path(__file__).parents[1] / "examples" / "valence_branching.py"


def test_example_plan_branches_on_the_valence(capsys) -> None:
    spec = importlib.util.spec_from_file_location("valence_branching", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    lines = [ast.literal_eval(line) for line in capsys.readouterr().out.strip().splitlines()]
    metal, oxide = lines
    assert metal["x"] == 5.0 and metal["branch"] == "reduced: moved on"
    assert len(metal["runs"]) == 1 and metal["valence"] < 1.5
    assert oxide["x"] == 55.0 and oxide["branch"] == "oxidized: measured again"
    assert len(oxide["runs"]) == 2 and oxide["valence"] >= 1.5
