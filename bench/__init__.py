"""Performance benchmark of edgestream against the raw Kafka client (``python -m bench.run``).

Not part of the installed package: the folder lives next to ``stream/`` and runs from the
repository root. Needs the ``bench`` extra (xraylarch and matplotlib) for the Larch reference
and the plot; without them those two parts are skipped with a note.
"""
