"""``dip-bench methods``: the registry as a table (name, family, available / reason)."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from dip_bench.bench.registry import METHODS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("methods", help="list the registered methods and whether each can run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--weights", help="EdgeConnect weights folder to check (else $DIP_BENCH_EDGECONNECT_WEIGHTS)")
    parser.set_defaults(func=run)


def method_table(weights: str | None = None) -> pd.DataFrame:
    rows = []
    for spec in METHODS.values():
        params = {"weights": weights} if weights and "weights" in _safe_params(spec) else {}
        reason = spec.unavailable_reason(**params)
        rows.append({"name": spec.name, "family": spec.family,
                     "available": "yes" if reason is None else f"no: {reason}", "description": spec.description})
    return pd.DataFrame(rows)


def _safe_params(spec) -> list[str]:  # noqa: ANN001
    try:
        return spec.parameters()
    except ImportError:
        return []


def run(args: argparse.Namespace) -> int:
    table = method_table(args.weights)
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        widths = {column: int(table[column].astype(str).str.len().max()) for column in table}
        formatters = {column: f"{{:<{width}}}".format for column, width in widths.items()}
        print(table.to_string(index=False, justify="left", formatters=formatters))
    return 0
