"""Method parameters from the command line: ``--param key=value`` with TOML-like values."""
from __future__ import annotations

from typing import Any

from dip_bench.contract import UserError


def parse_value(text: str) -> Any:
    """``3`` → int, ``0.5`` → float, ``true``/``false`` → bool, anything else → str."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["radius=5", "preset=text"]`` → ``{"radius": 5, "preset": "text"}``."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--param {item!r} is not KEY=VALUE, e.g. --param radius=5")
        params[key.strip().replace("-", "_")] = parse_value(value.strip())
    return params
