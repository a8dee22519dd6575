"""``dip-bench merge DIR... --out OUT``: join run folders (``--shard`` slices, tasks of one run) into one.

Merging is a copy of row files (see ``bench.results``). Everything is checked before anything is written: every
input must be a run folder of this format; the same row (same id) found twice must hold the same result (timing
fields aside), else merge refuses and names both files; saved masks of the same name must be the same bytes.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from dip_bench.bench.atomic import check_writable_dir, write_text
from dip_bench.bench.results import (
    COLUMNS,
    META,
    RESULTS,
    ROWS,
    TIMING,
    StoredRow,
    is_legacy,
    rebuild_tables,
    scan_rows,
)
from dip_bench.contract import UserError

COPIED = ("outputs", "inputs", "masks", "logs")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("merge", help="join run folders (e.g. --shard slices) into one")
    parser.add_argument("dirs", nargs="+", type=Path, help="run folders written by `dip-bench run`")
    parser.add_argument("--out", required=True, type=Path, help="merged run folder (new, or a run folder to add to)")
    parser.add_argument("--no-report", action="store_true")
    parser.set_defaults(func=run)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; give run folders written by `dip-bench run`")
    if is_legacy(folder):
        raise UserError(f"{folder}: a run of an older dip-bench ({RESULTS} without {ROWS}/); re-run it with --out "
                        "into a new folder to merge it")
    if not (folder / ROWS).is_dir() or not (folder / META).is_file():
        raise UserError(f"{folder}: not a dip-bench run folder (no {ROWS}/ or {META})")


def same_result(a: StoredRow, b: StoredRow) -> bool:
    """Whether two stored copies of one row computed the same thing (timing and device fields aside)."""
    left = {k: v for k, v in a.table.items() if k not in TIMING}
    right = {k: v for k, v in b.table.items() if k not in TIMING}
    return all(left[k] == right[k] or (left[k] != left[k] and right[k] != right[k]) for k in COLUMNS if k in left)


def _differs(a: StoredRow, b: StoredRow) -> str:
    keys = [k for k in COLUMNS if k not in TIMING and a.table[k] != b.table[k]
            and not (a.table[k] != a.table[k] and b.table[k] != b.table[k])]
    return ", ".join(f"{k} {a.table[k]!r} vs {b.table[k]!r}" for k in keys[:3])


def run(args: argparse.Namespace) -> int:
    out = args.out
    resolved = {folder.resolve() for folder in args.dirs}
    if out.resolve() in resolved:
        raise UserError(f"--out {out}: is one of the folders to merge; give a new folder")
    if len(resolved) != len(args.dirs):
        raise UserError("merge: a folder is listed twice; list each run folder once")
    for folder in args.dirs:
        _check_folder(folder)
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: is a file; give a folder")
        if any(out.iterdir()):
            _check_folder(out)
    chosen: dict[str, StoredRow] = dict(scan_rows(out)[0]) if (out / ROWS).is_dir() else {}
    for folder in args.dirs:
        valid, damaged = scan_rows(folder)
        if damaged:
            path, reason = damaged[0]
            raise UserError(f"{path}: damaged or foreign row file ({reason}); run `dip-bench run --resume --out "
                            f"{folder}` to recompute it, then merge")
        for rid, stored in valid.items():
            earlier = chosen.get(rid)
            if earlier is not None and not same_result(earlier, stored):
                raise UserError(f"{earlier.path} and {stored.path}: the same row with different results "
                                f"({_differs(earlier, stored)}); merge will not pick one, remove the wrong folder")
            chosen.setdefault(rid, stored)
    masks: dict[str, Path] = {path.name: path for path in (out / "masks").glob("*.png")}
    for folder in args.dirs:
        for path in sorted((folder / "masks").glob("*.png")):
            if path.name in masks and masks[path.name].read_bytes() != path.read_bytes():
                raise UserError(f"{masks[path.name]} and {path}: a generated mask differs between the runs, so their "
                                "rows were not measured on the same input; merge refuses")
            masks.setdefault(path.name, path)
    check_writable_dir(out / ROWS, "--out")
    for stored in chosen.values():
        target = out / ROWS / stored.path.name
        if stored.path.parent != out / ROWS and not target.exists():
            shutil.copyfile(stored.path, target)
    metas = []
    for folder in args.dirs:
        for sub in COPIED:
            if (folder / sub).is_dir():
                shutil.copytree(folder / sub, out / sub, dirs_exist_ok=True)
        metas.append(json.loads((folder / META).read_text()))
    merged = {**metas[0], "merged_from": [folder.name for folder in args.dirs], "shards": metas}
    write_text(out / META, json.dumps(merged, indent=2) + "\n")
    table = rebuild_tables(out)
    print(f"{out / RESULTS}: {len(table)} rows from {len(args.dirs)} folders")
    if not args.no_report:
        from dip_bench.bench.report import write_report

        print(f"report: {write_report(out)}")
    return 0
