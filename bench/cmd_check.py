"""``dip-bench check DIR --reference FILE``: did a change move PSNR? Exit 1 naming every row that moved."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from dip_bench.contract import UserError
from dip_bench.bench.atomic import write_text
from dip_bench.bench.check import compare
from dip_bench.bench.results import KEY, META, RESULTS, read_results, read_table

DEFAULT_REFERENCE = Path("reports/reference/quick-cpu.csv")
STORED = KEY + ["status", "psnr", "ssim", "psnr_hole", "ssim_hole", "psnr_raw", "iterations", "device"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check", help="compare a run with a stored reference table")
    parser.add_argument("dir", type=Path, help="run folder (with results.csv)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help=f"reference CSV (default {DEFAULT_REFERENCE})")
    parser.add_argument("--tol-db", type=float, default=0.05, help="PSNR tolerance in dB per row")
    parser.add_argument("--tol-ssim", type=float, default=0.002, help="SSIM tolerance per row")
    parser.add_argument("--only-present", action="store_true",
                        help="compare only the rows the run has (for a slice of a suite)")
    parser.add_argument("--update", action="store_true", help="write the run as the new reference (on purpose)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (args.dir / RESULTS).exists():
        raise UserError(f"{args.dir / RESULTS}: not found; run `dip-bench run --out {args.dir}` first")
    table = read_results(args.dir)
    if args.update:
        args.reference.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.reference, table[STORED].to_csv(index=False, float_format="%.6g"))
        if (args.dir / META).exists():
            shutil.copyfile(args.dir / META, args.reference.with_suffix(".meta.json"))
        print(f"wrote reference {args.reference} ({len(table)} rows)")
        return 0
    if not args.reference.exists():
        raise UserError(f"{args.reference}: reference not found; write one with `dip-bench check DIR "
                                f"--reference {args.reference} --update`")
    reference = read_table(args.reference)
    result = compare(table, reference, args.tol_db, args.tol_ssim, args.only_present)
    if len(result.table):
        print(result.table.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))
    if result.ok:
        print(f"check: OK, {len(result.table)} rows within {args.tol_db} dB / {args.tol_ssim} SSIM of {args.reference}")
        return 0
    for problem in result.problems:
        print(f"check: MOVED {problem}")
    print(f"check: FAILED, {len(result.problems)} rows beyond {args.tol_db} dB / {args.tol_ssim} SSIM "
          f"or missing (reference {args.reference})")
    return 1

