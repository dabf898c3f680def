"""edgestream: real-time XAS and EELS analysis of Bluesky documents streamed over Kafka."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgestream")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
