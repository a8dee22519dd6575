"""Argument-parsing helpers of the command line: comma-separated names (``--methods a,b``) and method parameters
(``--param key=value``, typed against the method's signature)."""
from __future__ import annotations

import typing
from typing import Any

from dip_bench.contract import UserError


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


def parse_params(items: list[str] | None, hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """``["radius=5", "preset=text"]`` → ``{"radius": 5, "preset": "text"}``.

    With ``hints`` (parameter name → type annotation), a value for a parameter that takes only text stays text
    (``--param preset=1`` is the string ``"1"``); names and types are then checked by the registry.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UserError(f"--param {item!r} is not KEY=VALUE, e.g. --param radius=5")
        if key in params:
            raise UserError(f"--param {key} is given twice; give it once")
        text = value.strip()
        params[key] = text if _text_only((hints or {}).get(key)) else parse_value(text)
    return params


def _text_only(hint: Any) -> bool:
    """Whether an annotation accepts ``str`` and no number or bool (``str``, ``str | None``)."""
    arms = set(typing.get_args(hint)) if typing.get_args(hint) else {hint}
    return str in arms and not arms & {int, float, bool}
