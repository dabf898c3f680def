"""Error reasons: derived from the error classes, and every reason the service raises,
counts or dead-letters anywhere in its source is one of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from edgestream import errors
from edgestream.errors import OPERATIONAL_REASONS, REASONS, StreamError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "stream").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])
# Counters whose label is a reason: errors_total may also carry the service's own trouble
REASON_COUNTERS = {"errors": set(REASONS) | set(OPERATIONAL_REASONS),
                   "dead_letters": set(REASONS)}


def _subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    return out | {s for c in out for s in _subclasses(c)}


def test_reasons_are_those_of_the_error_classes():
    classes = {c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, StreamError)}
    assert sorted({c.reason for c in classes}) == REASONS
    assert "output_too_large" in REASONS  # the hand-kept list had missed it
    assert len({c.reason for c in classes}) == len(classes), "two classes share a reason"
    assert not set(REASONS) & set(OPERATIONAL_REASONS)


def test_a_reason_is_given_in_the_class_line():
    class Odd(StreamError, ValueError, reason="odd_for_this_test"):
        pass

    assert Odd("x").as_dict()["reason"] == "odd_for_this_test"
    assert StreamError("x").reason == "internal"  # the base stays a bug


def _reason_literals(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, where, reason) for every literal reason in a module: the reason of an error
    class, and a literal label given to a reason counter (``metrics.errors.labels("x")``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for kw in node.keywords:
                if kw.arg == "reason" and isinstance(kw.value, ast.Constant):
                    found.append((node.lineno, "class", kw.value.value))
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                        and any(getattr(t, "id", None) == "reason" for t in stmt.targets)
                        and any(getattr(b, "id", "").endswith(("Error", "Failure"))
                                or getattr(b, "id", None) in vars(errors)
                                for b in node.bases)):
                    found.append((stmt.lineno, "class", stmt.value.value))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "labels" and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr in REASON_COUNTERS and node.args
                and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, node.func.value.attr, node.args[0].value))
    return found


def test_every_reason_used_in_the_source_is_known():
    unknown, seen = [], set()
    for path in SOURCES:
        for line, where, reason in _reason_literals(ast.parse(path.read_text())):
            seen.add(reason)
            allowed = set(REASONS) if where == "class" else REASON_COUNTERS[where]
            if reason not in allowed:
                unknown.append(f"{path.relative_to(ROOT)}:{line}: {where} {reason!r}")
    assert unknown == []
    # The scan does find them (a scan that finds nothing would pass as well)
    assert {"output_too_large", "malformed_document", "kafka", "tiled_write_failed"} <= seen


def test_every_error_class_anywhere_has_a_known_reason():
    import edgestream.doors.kafka.service  # the modules that raise the most
    import edgestream.pipeline  # noqa: F401

    for cls in _subclasses(StreamError):
        if cls.__module__.startswith("edgestream"):
            assert cls.reason in REASONS, cls


@pytest.mark.parametrize("reason", REASONS)
def test_reasons_are_metric_label_safe(reason):
    assert reason.isidentifier() and reason == reason.lower()
