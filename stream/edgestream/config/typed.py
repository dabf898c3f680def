"""Values as a dataclass field's type hint says: text from the environment or a flag, or
parsed YAML, to bool, int, float, Literal, lists and mappings; refusals name the key, the
value and what is allowed."""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import yaml

# Keys whose values are never shown, not even in an error message
SECRET_WORDS = ("password", "secret", "token", "sasl_plain_username", "key_password",
                "api_key")


class KafkaConfigError(ValueError):
    """A Kafka key or value that cannot be applied; the message names its source."""


class SettingsError(KafkaConfigError):
    """A configuration file or value that cannot be used; the message names the source,
    the key, the value and what is allowed."""


def boolean(value: Any) -> bool:
    """A bool, or text that says one (true/false, yes/no, on/off, 1/0); ValueError else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def describe(hint: Any) -> str:
    """What a type hint allows, in words for an error message."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args if a is not type(None)) + " or null"
    if origin is list:
        return f"a list of {describe(args[0])} (comma-separated, or [a, b])"
    if origin is dict:
        return (f"a mapping of {describe(args[0])} to {describe(args[1])} "
                '(YAML or JSON, e.g. {"bmm": ...})')
    return {bool: "true or false (also yes/no, on/off, 1/0)", int: "a whole number",
            float: "a number", str: "text"}.get(hint, "anything")


def coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` (text from the environment or a flag, or parsed YAML) as the type
    ``hint`` names; refused with the key, the value and what is allowed."""
    origin, args = get_origin(hint), get_args(hint)
    given = value  # as written, for the message

    def refuse() -> SettingsError:
        shown = "***" if any(w in where.lower() for w in SECRET_WORDS) else repr(given)
        return SettingsError(f"{where}={shown}: expected {describe(hint)}")

    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        empty = value is None or (isinstance(value, str)
                                  and value.strip().lower() in ("", "none", "null"))
        if empty and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(option, value, where)
            except SettingsError:
                continue
        raise refuse()
    if origin is Literal:
        for allowed in args:
            if str(value).strip().lower() == str(allowed).lower():
                return allowed
        raise refuse()
    if hint is bool:
        try:
            return boolean(value)
        except ValueError:
            raise refuse() from None
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise refuse()
        try:
            return int(value) if isinstance(value, int | float) else int(str(value).strip())
        except ValueError:
            raise refuse() from None
    if hint is float:
        if isinstance(value, bool):
            raise refuse()
        try:
            number = float(value) if isinstance(value, int | float) else float(str(value))
        except ValueError:
            raise refuse() from None
        if not math.isfinite(number):
            raise refuse()
        return number
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise refuse()
        return str(value)
    if origin is list:
        if isinstance(value, str):
            text = value.strip()
            value = parse(text, where) if text.startswith("[") else [
                v for v in re.split(r"[,\s]+", text) if v]
        if not isinstance(value, list):
            raise refuse()
        return [coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if isinstance(value, str):
            value = parse(value, where)
        if not isinstance(value, Mapping):
            raise refuse()
        return {coerce(args[0], k, where): coerce(args[1], v, f"{where}.{k}")
                for k, v in value.items()}
    return value


def parse(text: str, where: str) -> Any:
    """A structured value given as text: JSON or YAML flow style."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{where}={text!r}: cannot read it as YAML/JSON: "
                            f"{str(exc).splitlines()[0]}") from None
