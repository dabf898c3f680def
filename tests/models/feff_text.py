"""Reading a ``feff.inp`` text in the FEFF10 tests (Cu and the other 3d absorbers)."""

from __future__ import annotations


def cards(text: str) -> dict[str, str]:
    """``{CARD: its arguments}`` of the first occurrence of each card of a FEFF input text."""
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if parts and parts[0].isupper() and parts[0].isalpha():
            out.setdefault(parts[0], parts[1].strip() if len(parts) > 1 else "")
    return out
