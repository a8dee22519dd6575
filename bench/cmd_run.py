"""``dip-bench run``: every method of a suite over its images and masks, then the report.

Each finished row is saved at once (see ``bench.results``); ``--resume`` skips finished rows; ``--shard K/N`` runs
a deterministic slice (join slices with ``dip-bench merge``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dip_bench.bench import lpips_metric
from dip_bench.bench.atomic import write_text
from dip_bench.bench.meta import environment
from dip_bench.bench.results import CURVES, RESULTS, done_keys, key_of
from dip_bench.bench.runner import run_rows
from dip_bench.bench.suite import expand_rows, load_pairs, load_suite, parse_shard, shard
from dip_bench.contract import UserError, resolve_device


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run a suite and write results + report")
    parser.add_argument("--suite", default="quick", help="quick | standard | paper | path to a suite .toml")
    parser.add_argument("--out", type=Path, help="run folder (default: reports/<suite name>)")
    parser.add_argument("--methods", help="comma-separated subset of the suite's methods")
    parser.add_argument("--images", help="comma-separated subset of the suite's images")
    parser.add_argument("--device", help="auto | cpu | cuda (default: the suite's)")
    parser.add_argument("--seeds", type=int, help="use seeds 0..N-1 instead of the suite's")
    parser.add_argument("--data-root", type=Path, help="root of image folders (paper suite: ../shared/data/dip-official)")
    parser.add_argument("--resume", action="store_true", help="skip rows already finished in --out")
    parser.add_argument("--shard", help="K/N: run only every N-th row starting at K (1-based)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.md at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    out = args.out or Path("reports") / suite.name
    device = resolve_device(args.device or suite.device)
    methods, images = _names(args.methods), _names(args.images)
    known_methods = {entry.name for entry in suite.methods}
    for name in methods or []:
        if name not in known_methods:
            raise UserError(f"--methods: {name!r} is not in suite {suite.name!r} ({', '.join(sorted(known_methods))})")
    pairs = load_pairs(suite, args.data_root)
    seeds = tuple(range(args.seeds)) if args.seeds else None
    rows = expand_rows(suite, pairs, seeds=seeds, methods=methods, images=images)
    if args.shard:
        rows = shard(rows, *parse_shard(args.shard))
    if not rows:
        raise UserError(f"suite {suite.name!r}: no rows match --methods/--images/--shard")
    out.mkdir(parents=True, exist_ok=True)
    if args.resume:
        done = done_keys(out)
        todo = [row for row in rows if key_of(row.key()) not in done]
        print(f"resume: {len(rows) - len(todo)} of {len(rows)} rows already done in {out}, {len(todo)} to run")
        rows = todo
    else:
        for name in (RESULTS, CURVES):
            if (out / name).exists():
                (out / name).replace(out / f"{name}.bak")
    meta = {"suite": suite.name, "suite_file": str(suite.path), "seeds": list(seeds or suite.seeds),
            "shard": args.shard, "methods": methods, "images": images,
            "lpips": "ok" if lpips_metric.unavailable_reason() is None else f"skipped: {lpips_metric.unavailable_reason()}",
            **environment(device)}
    write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    results = run_rows(rows, str(device), out)
    counts: dict[str, int] = {}
    for row in results:
        status = row["status"].split(":")[0]
        counts[status] = counts.get(status, 0) + 1
    print(f"{out / RESULTS}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if not args.no_report:
        from dip_bench.bench.report import write_report

        print(f"report: {write_report(out)}")
    return 0
