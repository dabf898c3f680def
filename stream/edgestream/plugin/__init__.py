"""The plugin contract: ``api`` (batches, the model interface, discovery, ONNX sessions),
``manifest`` (plugin.toml, validated and written one way), ``base`` (the manifest-made and ONNX
base classes every built-in plugin uses) and ``ood`` (the shared out-of-distribution score)."""

from edgestream.plugin.api import (
    ENTRY_POINT_GROUP,
    GPU_FIRST,
    SpectrumBatch,
    SpectrumModel,
    discover,
    onnx_session,
)
from edgestream.plugin.base import ManifestModel, OnnxModel
from edgestream.plugin.manifest import (
    Manifest,
    ManifestError,
    check_outputs,
    read_manifest,
    write_manifest,
)

__all__ = ["ENTRY_POINT_GROUP", "GPU_FIRST", "Manifest", "ManifestError", "ManifestModel",
           "OnnxModel", "SpectrumBatch", "SpectrumModel", "check_outputs", "discover",
           "onnx_session", "read_manifest", "write_manifest"]
