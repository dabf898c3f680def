"""Model families as plugins: found by entry point, fed batches of normalized spectra."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tomllib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.plugin.manifest import Manifest, read_manifest, sha256_of, verified

__all__ = ["ENTRY_POINT_GROUP", "GPU_FIRST", "ONNX_THREADS_ENV", "Manifest", "SpectrumBatch",
           "SpectrumModel", "default_names", "discover", "load_plugin", "onnx_session",
           "onnx_threads", "plugins_in", "read_plugin_toml", "session_options", "sha256_of",
           "verified_file"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "edgestream.plugins"
GPU_FIRST = ("CUDAExecutionProvider", "CPUExecutionProvider")
ONNX_THREADS_ENV = "EDGESTREAM_ONNX_THREADS"


@dataclass(frozen=True)
class SpectrumBatch:
    """Normalized spectra of one element, edge and modality, ready for a model.

    ``norm`` is [n, len(grid)]: flattened normalized μ (XAS) or step-normalized EELS signal
    on ``grid`` (eV relative to ``e0``); NaN outside the measured range. ``energy`` and
    ``measured`` hold each spectrum on its own measured axis for models with other grids.
    """

    element: str
    edge: str
    modality: str
    grid: np.ndarray
    norm: np.ndarray
    e0: np.ndarray
    edge_step: np.ndarray
    energy: list[np.ndarray]
    measured: list[np.ndarray]
    metadata: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return int(self.e0.size)


class SpectrumModel(ABC):
    """One model family. Subclasses set the class attributes and implement ``predict``.

    ``elements``/``edges``/``modalities`` of None mean "any". ``predict`` returns one
    ``outputs`` dict per spectrum (JSON-serializable numbers, lists, strings), typed by the
    plugin's manifest (``edgestream.plugin.manifest``); the built-in plugins and third-party
    ones subclass ``edgestream.plugin.base.ManifestModel`` or ``OnnxModel``, which take these
    attributes from it. ``opt_in``
    plugins are installed but run only when named in ``Settings.plugins`` (models that have
    not yet met their targets; their cards say where they stand).
    """

    name: str = "unnamed"
    version: str = "0"
    elements: frozenset[str] | None = None
    edges: frozenset[str] | None = None
    modalities: frozenset[str] | None = None
    model_sha256: str | None = None
    provider: str | None = None
    opt_in: bool = False

    def applies_to(self, element: str, edge: str, modality: str) -> bool:
        return (
            (self.elements is None or element in self.elements)
            and (self.edges is None or edge in self.edges)
            and (self.modalities is None or modality in self.modalities)
        )

    def load(self, providers: tuple[str, ...] = GPU_FIRST) -> None:  # noqa: B027
        """Open model files and sessions; called once before the first batch."""

    @abstractmethod
    def predict(self, batch: SpectrumBatch) -> list[dict[str, Any]]: ...

    def unload(self) -> None:  # noqa: B027
        """Release sessions and memory."""


def read_plugin_toml(folder: Path) -> Manifest:
    """The plugin's validated manifest (:func:`edgestream.plugin.manifest.read_manifest`):
    name, version, what it applies to, typed outputs, files and their sha256."""
    return read_manifest(folder)


def verified_file(folder: Path, entry: dict[str, Any]) -> Path:
    """``folder / entry["path"]`` of a plugin.toml ``[files.*]`` entry, after its sha256
    check (a ValueError when it differs)."""
    return verified(folder / entry["path"], entry["sha256"])


def onnx_threads() -> int:
    """Intra-op threads of the ONNX sessions: ``$EDGESTREAM_ONNX_THREADS``, else 1.

    One, because the service runs one process per core (pinned; more cores, more replicas):
    extra threads would only spin against the Kafka client and the normalization on the same
    core. 0 lets onnxruntime use every core (a process of its own on a larger machine)."""
    value = os.environ.get(ONNX_THREADS_ENV, "").strip()
    try:
        return max(0, int(value)) if value else 1
    except ValueError:
        log.warning("%s=%r is not a number of threads; using 1", ONNX_THREADS_ENV, value)
        return 1


def session_options(threads: int | None = None) -> Any:
    """The ONNX Runtime session options of every plugin session: ``threads`` intra-op
    threads (None: :func:`onnx_threads`), one inter-op thread (the models are single chains of
    operators), every graph optimization, no spinning threads between the small runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = onnx_threads() if threads is None else threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def onnx_session(
    path: Path, providers: tuple[str, ...] = GPU_FIRST, expected_sha256: str | None = None,
    threads: int | None = None,
) -> tuple[Any, str]:
    """An ONNX Runtime session on the first available provider, and the provider it chose.

    CUDA is used when onnxruntime-gpu and a GPU are present; otherwise CPU. A model file
    whose sha256 differs from its plugin.toml is refused. Options: :func:`session_options`.
    """
    import onnxruntime as ort

    if expected_sha256 is not None:
        verified(path, expected_sha256)
    available = set(ort.get_available_providers())
    chosen = list(dict.fromkeys(p for p in providers if p in available)) or [
        "CPUExecutionProvider"]
    session = ort.InferenceSession(str(path), sess_options=session_options(threads),
                                   providers=chosen)
    provider = session.get_providers()[0]
    log.info("ONNX model %s on %s", path.name, provider)
    return session, provider


def default_names() -> list[str]:
    """Entry-point names of the installed plugins that run by default (not ``opt_in``)."""
    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            if not getattr(ep.load(), "opt_in", False):
                names.append(ep.name)
        except Exception:  # reported by discover() when it is asked to load it
            continue
    return names


def discover(enabled: list[str] | None = None) -> list[SpectrumModel]:
    """Instantiate the installed plugins of the entry-point group: those named, or (None)
    every one that is not ``opt_in``."""
    models: list[SpectrumModel] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if enabled is not None and ep.name not in enabled:
            continue
        try:
            cls = ep.load()
            if enabled is None and getattr(cls, "opt_in", False):
                log.info("plugin %s is opt-in: name it in `plugins` to run it", ep.name)
                continue
            models.append(cls())
        except Exception:  # a broken third-party plugin must not stop the service
            log.exception("plugin %s failed to load; continuing without it", ep.name)
    missing = set(enabled or ()) - {m.name for m in models}
    if missing:
        log.warning("plugins not found: %s", ", ".join(sorted(missing)))
    return models


def load_plugin(target: str) -> type[SpectrumModel]:
    """The plugin class of an entry-point target ``"module:Class"``."""
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, SpectrumModel)):
        raise TypeError(f"{target} is not a SpectrumModel subclass")
    return cls


def plugins_in(project: Path) -> dict[str, type[SpectrumModel]]:
    """The plugin classes a project folder declares in its ``pyproject.toml`` (its
    ``[project.entry-points."edgestream.plugins"]``), imported from that folder without
    installing it: how a plugin is tried before it is packaged."""
    project = Path(project).resolve()
    with open(project / "pyproject.toml", "rb") as fh:
        targets = tomllib.load(fh).get("project", {}).get("entry-points", {}).get(
            ENTRY_POINT_GROUP, {})
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    return {name: load_plugin(target) for name, target in targets.items()}
