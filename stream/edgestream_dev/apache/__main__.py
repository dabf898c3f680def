"""``python -m edgestream_dev.apache``: the broker CLI (see :mod:`edgestream_dev.apache.cli`)."""

import sys

from edgestream_dev.apache.cli import main

sys.exit(main())
