"""The service's wheel holds the service and its built-in plugins, nothing else: the service
imports none of the optional parts (the simulated beamline, the agent, the development
brokers, the training), and the wheel built from the root pyproject.toml lists exactly
edgestream and edgestream_plugins, with their package data."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE = (ROOT / "stream" / "edgestream", ROOT / "plugins" / "edgestream_plugins")
OPTIONAL = {"edgestream_sim", "edgestream_agent", "edgestream_dev", "edgestream_models"}


def imported_modules(tree: ast.AST) -> set[str]:
    """Every absolute module a file imports, at the top or inside a function, and every
    module named as a constant to ``import_module``/``__import__``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def test_imported_modules_sees_every_way_of_importing() -> None:
    src = ("import edgestream_sim.demo\nfrom edgestream_agent import app\n"
           "def f():\n    from edgestream_dev.tansu import EmbeddedTansu\n"
           "    importlib.import_module('edgestream_models.library')\nfrom . import x\n")
    assert {m.split(".")[0] for m in imported_modules(ast.parse(src))} == OPTIONAL


def test_the_service_imports_none_of_the_optional_parts() -> None:
    offenders = []
    files = [p for folder in SERVICE for p in sorted(folder.rglob("*.py"))]
    assert len(files) > 50
    for path in files:
        for module in imported_modules(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in OPTIONAL:
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, offenders


@pytest.mark.slow
def test_the_wheel_holds_the_service_and_the_plugins_only(tmp_path: Path) -> None:
    # Built from a copy of what the Dockerfile copies: no build/ or egg-info in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "stream", src / "stream", ignore=junk)
    shutil.copytree(ROOT / "plugins", src / "plugins", ignore=junk)
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("edgestream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    (info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
    assert {n.split("/")[0] for n in names} - {info} == {"edgestream", "edgestream_plugins"}
    assert not [n for n in names if n.split("/")[1:2] == ["tests"]]
    for data in ("edgestream/publish/schemas/annotation-v1.json", "edgestream/physics/edges.csv",
                 "edgestream/apps/web/static/index.html",
                 "edgestream/apps/web/static/app.js",
                 "edgestream_plugins/valence/plugin.toml"):
        assert data in names, data
    assert any(n.startswith("edgestream_plugins/") and n.endswith(".onnx") for n in names)
    assert any(n.startswith("edgestream_plugins/") and n.endswith(".npz") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "edgestream = edgestream.apps.cli:main" in entry_points
    # the optional verbs are the other distributions' entry points, not the service's
    assert "edgestream.commands" not in entry_points
