"""``dip-bench merge DIR... --out OUT``: join the folders of ``--shard`` runs into one results table and report."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from dip_bench.contract import UserError
from dip_bench.bench.atomic import write_text
from dip_bench.bench.results import META, RESULTS, append_row, read_curves, read_results


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("merge", help="join shard run folders into one")
    parser.add_argument("dirs", nargs="+", type=Path, help="run folders written by `dip-bench run --shard K/N`")
    parser.add_argument("--out", required=True, type=Path, help="merged run folder")
    parser.add_argument("--no-report", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for folder in args.dirs:
        if not (folder / RESULTS).exists():
            raise UserError(f"{folder / RESULTS}: not found; is {folder} a `dip-bench run` folder?")
    metas = []
    for folder in args.dirs:
        curves = read_curves(folder)
        for row in read_results(folder).to_dict(orient="records"):
            mine = curves
            for column in ("method", "preset", "image", "mask", "seed"):
                mine = mine[mine[column].astype(str).replace("nan", "") == str(row[column])]
            append_row(args.out, row, mine.drop(columns=["method", "preset", "image", "mask", "seed"])
                       .to_dict(orient="records"))
        for sub in ("outputs", "inputs"):
            if (folder / sub).is_dir():
                shutil.copytree(folder / sub, args.out / sub, dirs_exist_ok=True)
        if (folder / META).exists():
            metas.append(json.loads((folder / META).read_text()))
    merged = {**(metas[0] if metas else {}), "merged_from": [str(d) for d in args.dirs], "shards": metas}
    write_text(args.out / META, json.dumps(merged, indent=2) + "\n")
    print(f"{args.out / RESULTS}: {len(read_results(args.out))} rows from {len(args.dirs)} folders")
    if not args.no_report:
        from dip_bench.bench.report import write_report

        print(f"report: {write_report(args.out)}")
    return 0
