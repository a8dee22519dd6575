"""``dip-bench check DIR``: did a change move PSNR? One line per configuration, the mode and why, exit 1 naming
what moved, exit 2 for a reference it cannot judge. ``--update`` writes the run as a reference on purpose: only to a
``--reference FILE.csv`` given explicitly, never over a reference of another suite, and whatever it replaces is
first copied to ``backups/<date-time>/`` beside it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dip_bench.bench.check import CheckResult, compare
from dip_bench.bench.meta import portable_command
from dip_bench.bench.reference import (
    back_up_reference,
    config_label,
    load_reference,
    make_reference,
    normalised,
    run_meta,
    run_table,
    updatable_reference,
)
from dip_bench.contract import UserError

DEFAULT_REFERENCE = Path("reports/reference/quick-cpu.csv")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check", help="compare a run with a stored reference (exact or statistical mode)")
    parser.add_argument("dir", type=Path, help="run folder")
    parser.add_argument("--reference", type=Path,
                        help=f"reference CSV with its .meta.json, or a run folder (default {DEFAULT_REFERENCE}); "
                             "with --update the file to write, required")
    parser.add_argument("--only-present", action="store_true",
                        help="compare only the rows the run has (for a slice of a suite)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON (for scripts)")
    parser.add_argument("--update", action="store_true",
                        help="write the run as the reference --reference FILE.csv (backs up what it replaces)")
    parser.add_argument("--spread", type=Path, nargs="+", default=[], metavar="RUN",
                        help="with --update: runs of the same suite in other environments (or repeats on a GPU) to "
                             "measure the tolerances from")
    parser.set_defaults(func=run)


def _print(result: CheckResult, reference: Path) -> None:
    print(f"check: {result.mode.name} mode: {result.mode.why}")
    if result.mode.name == "statistical":
        print("  d = deviation of this run's rows from the reference rows' centres (means over the reference's runs): "
              "their mean, and in brackets their trimmed mean; each within its measured tolerance")
    for line in result.lines:
        name = config_label(line["method"], line["preset"], line["params"])
        trimmed = "d_psnr_trimmed" in line and "tol_psnr_trimmed" in line
        psnr = f"dPSNR {line['d_psnr']:+.4f}" + (f" ({line['d_psnr_trimmed']:+.4f})" if trimmed else "")
        ssim = f"dSSIM {line['d_ssim']:+.5f}" + (f" ({line['d_ssim_trimmed']:+.5f})" if trimmed else "")
        tol = f"tol {line['tol_psnr']:.3g}" + (f" ({line['tol_psnr_trimmed']:.3g})" if trimmed else "") + \
            f" dB / {line['tol_ssim']:.3g}" + (f" ({line['tol_ssim_trimmed']:.3g})" if trimmed else "")
        print(f"  {name:<44} n={line['n']:<3} {psnr} dB  {ssim}  {tol}  {line['verdict']}")
    if result.ok:
        print(f"check: OK, {len(result.lines)} configurations match {reference} ({result.mode.name} mode)")
        return
    for problem in result.problems:
        print(f"check: MOVED {problem}")
    print(f"check: FAILED, {len(result.problems)} problems against {reference} ({result.mode.name} mode)")


def run(args: argparse.Namespace) -> int:
    if args.spread and not args.update:
        raise UserError("--spread: only with --update (it measures the tolerances of a new reference)")
    if args.update:
        target = updatable_reference(args.reference, args.dir)
        backup = back_up_reference(target)
        if backup is not None:
            print(f"backed up the reference {target} (and its .meta.json) to {backup}")
        make_reference(args.dir, args.spread, target, portable_command(sys.argv[1:]))
        print(f"wrote reference {target} and its .meta.json"
              + (f" (tolerances from {len(args.spread)} spread runs)" if args.spread else
                 " (no spread runs: it can be checked in the exact mode only, on this environment)"))
        return 0
    args.reference = args.reference or DEFAULT_REFERENCE
    reference = load_reference(args.reference)
    meta = run_meta(args.dir)
    if reference.meta.get("suite") and meta.get("suite") and reference.meta["suite"] != meta["suite"]:
        raise UserError(f"{args.reference}: a reference of suite {reference.meta['suite']!r}, but {args.dir} ran "
                        f"suite {meta['suite']!r}; pass --reference for that suite")
    run_rows = normalised(run_table(args.dir), str(args.dir))
    result = compare(run_rows, reference, meta.get("fingerprint"), args.only_present)
    if args.json:
        payload: dict[str, Any] = {"ok": result.ok, "mode": result.mode.name, "why": result.mode.why,
                                   "reference": str(args.reference), "configurations": result.lines,
                                   "problems": result.problems}
        print(json.dumps(payload, indent=1))
    else:
        _print(result, args.reference)
    return 0 if result.ok else 1
