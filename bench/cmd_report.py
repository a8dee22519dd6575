"""``dip-bench report DIR``: write ``report.md``, ``report.html`` and ``figures/`` of a run folder (see
``bench.report``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dip_bench.bench.report import write_report


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write the comparison report (markdown, HTML, figures) of a run folder")
    parser.add_argument("dir", type=Path, help="run folder written by `dip-bench run --out DIR`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(write_report(args.dir))
    return 0
