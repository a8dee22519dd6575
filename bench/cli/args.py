"""Argument-parsing helpers of the command line: comma-separated names (``--methods a,b``) and the one KEY=VALUE
parser (``--param key=value``, typed against the method's signature; ``--slurm-param key=value``, TOML scalars)."""
from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from dip_bench.contract import UserError, tomllib


def names(text: str | None, option: str) -> list[str] | None:
    """``"a, b"`` → ``["a", "b"]`` (``None`` stays ``None``); an empty list is a ``UserError`` naming ``option``."""
    if text is None:
        return None
    found = [name.strip() for name in text.split(",") if name.strip()]
    if not found:
        raise UserError(f"{option} {text!r}: give comma-separated names")
    return found


def parse_value(text: str) -> Any:
    """``3`` → int, ``0.5`` → float, ``true``/``false`` → bool, anything else → str (``nan``/``inf`` stay floats, and
    the registry refuses them where a finite number is expected)."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def key_values(items: list[str] | None, option: str, example: str, convert: Callable[[str, str], Any]
               ) -> dict[str, Any]:
    """The one ``KEY=VALUE`` parser of the command line (``--param``, ``--slurm-param``): ``["a=1"]`` →
    ``{"a": convert("a", "1")}``; a key's ``-`` becomes ``_``; an item without ``=`` or a key given twice is a
    ``UserError`` naming ``option`` (``example``: a valid item)."""
    found: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UserError(f"{option} {item!r} is not KEY=VALUE; give KEY=VALUE, e.g. {option} {example}")
        if key in found:
            raise UserError(f"{option} {key} is given twice; give it once")
        found[key] = convert(key, value.strip())
    return found


def parse_params(items: list[str] | None, hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """``--param``: ``["radius=5", "preset=text"]`` → ``{"radius": 5, "preset": "text"}`` (``parse_value``).

    With ``hints`` (parameter name → type annotation), a value for a parameter that takes only text stays text
    (``--param preset=1`` is the string ``"1"``); names and types are then checked by the registry.
    """
    return key_values(items, "--param", "radius=5",
                      lambda key, text: text if _text_only((hints or {}).get(key)) else parse_value(text))


def toml_value(key: str, text: str) -> Any:
    """``--slurm-param`` value: TOML scalar when it parses as one (``8``, ``1.5``, ``true``, ``"x"``), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _text_only(hint: Any) -> bool:
    """Whether an annotation accepts ``str`` and no number or bool (``str``, ``str | None``)."""
    arms = set(typing.get_args(hint)) if typing.get_args(hint) else {hint}
    return str in arms and not arms & {int, float, bool}
