"""Training, labels, FEFF generation and ONNX export of edgestream's models.

Runs from a checkout of the repository only: it reads the data sets in ``../shared`` beside
it and writes the plugins' model files into ``plugins/`` (``edgestream.paths``).
"""

from __future__ import annotations

import sys

from edgestream.paths import checkout_root

# `python -m edgestream_models.<module>` from an installed copy: one clear sentence rather
# than a traceback about a missing folder. sys.argv[0] is "-m" while Python imports the
# package of a -m module, so a plain import (an entry point) is left alone.
if sys.argv[:1] == ["-m"] and checkout_root() is None:
    raise SystemExit(
        "edgestream_models (the training) runs from a checkout of the edgestream repository, "
        "not from an installed copy: it reads ../shared beside the checkout and writes into "
        "its plugins/. Clone the repository and run `make train` there.")
