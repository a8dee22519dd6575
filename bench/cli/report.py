"""``dip-bench report DIR``: write ``report.md``, ``report.html`` and ``figures/`` of a run folder (see
``bench/report``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dip_bench.bench.atomic import check_writable_dir
from dip_bench.bench.report import write_report
from dip_bench.bench.results import RESULTS, ROWS, RunFolder
from dip_bench.contract import UserError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write the comparison report (markdown, HTML, figures) of a run folder")
    parser.add_argument("dir", type=Path, help="run folder written by `dip-bench run --out DIR`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check ``DIR`` is a run folder, rebuild its tables from its row files, then write the report."""
    folder = args.dir
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give a run folder written by `dip-bench run --out DIR`")
    run_folder = RunFolder(folder)
    if not run_folder.has_results():
        raise UserError(f"{folder}: not a dip-bench run folder (no {ROWS}/ or {RESULTS}); give the --out of a run")
    check_writable_dir(folder, "report")
    run_folder.rebuild_tables()
    print(write_report(run_folder))
    return 0
