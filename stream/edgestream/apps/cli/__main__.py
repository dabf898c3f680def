"""``python -m edgestream.apps.cli``: the ``edgestream`` command."""

import sys

from edgestream.apps.cli import main

sys.exit(main())
