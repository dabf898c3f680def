"""The model plugins the benchmark runs: the installed ones, plus unregistered ones in plugins/.

``edgestream.plugin.api.discover()`` finds plugins through their entry points. Plugin folders that
ship a model but are not registered yet (``plugins/<name>/plugin.toml`` and a
``SpectrumModel`` subclass in ``plugins/<name>/__init__.py``) are added by ``bench_models``,
so the full path runs every model the repository has, as it will once they are registered.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from pathlib import Path

import edgestream_plugins
from edgestream.plugin.api import SpectrumModel, discover, read_plugin_toml

log = logging.getLogger(__name__)


def folder_models() -> list[SpectrumModel]:
    """One instance of each concrete SpectrumModel defined in a plugins/<name>/ package."""
    out: list[SpectrumModel] = []
    for info in pkgutil.iter_modules(edgestream_plugins.__path__):
        folder = Path(edgestream_plugins.__path__[0]) / info.name
        if not info.ispkg or not (folder / "plugin.toml").is_file():
            continue
        module = importlib.import_module(f"edgestream_plugins.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, SpectrumModel) and not inspect.isabstract(cls)
                    and cls.__module__ == module.__name__):
                try:
                    out.append(cls())
                except Exception:  # a half-finished plugin must not stop the benchmark
                    log.exception("plugin class %s could not be instantiated", cls.__name__)
    return out


def bench_models(which: str = "all") -> list[SpectrumModel]:
    """``"installed"``: what ``discover()`` returns; ``"all"``: that plus unregistered folders."""
    models = discover()
    if which == "installed":
        return models
    names = {m.name for m in models}
    extra = [m for m in folder_models() if m.name not in names]
    if extra:
        log.info("adding unregistered plugin folders: %s", ", ".join(m.name for m in extra))
    return models + extra


def onnx_files(model: SpectrumModel) -> dict[str, Path]:
    """The ONNX files a plugin's manifest lists, by manifest key (empty when it has none)."""
    folder = getattr(model, "folder", None)
    if folder is None or not (Path(folder) / "plugin.toml").is_file():
        return {}
    files = read_plugin_toml(Path(folder)).get("files", {})
    return {k: Path(folder) / v["path"] for k, v in files.items()
            if str(v.get("path", "")).endswith(".onnx")}
