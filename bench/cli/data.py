"""``dip-bench data {verify,list,export}``: check, list and export the built-in image/mask set (see datasets/README.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dip_bench.bench.atomic import check_writable_dir
from dip_bench.contract import UserError
from dip_bench.datasets import export_builtin, list_builtin, verify_manifest
from dip_bench.datasets.builtin import MANIFEST


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="verify, list or export the built-in images and masks")
    actions = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="recompute the SHA-256 of every built-in file against the manifest")
    verify.set_defaults(func=run_verify)
    listing = actions.add_parser("list", help="print the built-in images and masks")
    listing.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    listing.set_defaults(func=run_list)
    export = actions.add_parser("export", help="copy the built-in PNGs (NAME_SIZE.png, mask_KIND_SIZE.png) to DIR")
    export.add_argument("dir", type=Path, metavar="DIR", help="output folder (created if missing)")
    export.set_defaults(func=run_export)


def run_verify(args: argparse.Namespace) -> int:
    problems = verify_manifest()
    if problems:
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        print(f"FAILED: {len(problems)} problems in the built-in set against {MANIFEST}", file=sys.stderr)
        return 1
    print(f"OK: {len(list_builtin())} built-in files match {MANIFEST}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    table = list_builtin()
    print(table.to_json(orient="records", indent=1) if args.json else table.to_string(index=False))
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.dir.exists() and not args.dir.is_dir():
        raise UserError(f"export {args.dir}: is a file; give a folder (it is created if missing)")
    check_writable_dir(args.dir, "export")
    count = export_builtin(args.dir)
    print(f"wrote {count} PNG files to {args.dir}")
    return 0
