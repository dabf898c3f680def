"""What a file of several records holds (an Athena project's groups, a Gatan file's EELS
data sets), in the file's order, and what was left out, with why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Record = TypeVar("Record")


@dataclass(frozen=True)
class FileContents(Generic[Record]):
    path: str
    records: list[Record]
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was left out
