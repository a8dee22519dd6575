"""``dip-bench run``: every method of a suite over its images and masks, then the report.

Everything is checked before the first row runs (options, suite file, images, masks, parameters, each distinct
method built once, the run folder). Each finished row is saved at once as its own file (see ``bench.results``), so
several runs may write one folder. ``--resume`` reruns what is missing, failed, skipped for a reason that no longer
holds, or defined differently now (old rows are moved to ``stale/``); without it, a folder that already holds
results is refused unless ``--overwrite`` moves them to ``backups/<date>/``. ``--shard K/N`` runs a deterministic
slice (join slices with ``dip-bench merge``); ``--executor slurm | local`` sends the rows out as a submitit job
array into the same folder (``bench.executor``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

from dip_bench.bench import balance, estimate, executor, lpips_metric
from dip_bench.bench.atomic import check_writable_dir, write_text
from dip_bench.bench.cli.args import names
from dip_bench.bench.cli.cluster import add_arguments as add_cluster_arguments
from dip_bench.bench.cli.cluster import resolve_config
from dip_bench.bench.meta import environment
from dip_bench.bench.results import META, RESULTS, ROWS, RunFolder, status_kinds
from dip_bench.bench.runner import run_rows, skip_reason
from dip_bench.bench.suite import (
    Row,
    Suite,
    check_methods,
    expand_rows,
    load_pairs,
    load_suite,
    parse_shard,
    run_folder,
    save_masks,
    shard,
)
from dip_bench.contract import UserError, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run a suite and write results + report")
    parser.add_argument("--suite", default="quick", help="quick | standard | paper | path to a suite .toml")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<suite name>)")
    parser.add_argument("--methods", help="comma-separated subset of the suite's methods")
    parser.add_argument("--images", help="comma-separated subset of the suite's images")
    parser.add_argument("--device", help="auto | cpu | cuda (default: the suite's)")
    parser.add_argument("--seeds", type=int, help="use seeds 0..N-1 instead of the suite's")
    parser.add_argument("--data-root", type=Path, help="root of image folders (paper suite: ../shared/data/dip-official)")
    parser.add_argument("--resume", action="store_true",
                        help="run only rows missing, failed or changed in --out (finished rows are kept)")
    parser.add_argument("--overwrite", action="store_true",
                        help="move the results already in --out to --out/backups/<date>/ and start afresh")
    parser.add_argument("--shard", help="K/N: run only every N-th row starting at K (1-based)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.md at the end")
    parser.add_argument("--allow-long", action="store_true",
                        help=f"run even when the estimate exceeds {estimate.LONG_H:,.0f} hours")
    add_cluster_arguments(parser)
    parser.set_defaults(func=run)


def plan(args: argparse.Namespace, suite: Suite, device: str | None, resume: bool
         ) -> tuple[list[Row], list[Row], Path, str, dict]:
    """Check everything for ``suite`` (rows checked and methods built on ``device``, default the suite's; ``resume``:
    a run folder with results is fine) and return (all rows of the suite, rows selected by the options, run folder,
    device, meta fields); raises ``UserError`` before anything is written."""
    if args.seeds is not None and not 1 <= args.seeds <= 1000:
        raise UserError(f"--seeds {args.seeds}: give a number of seeds between 1 and 1000")
    if resume and args.overwrite:
        raise UserError("--resume and --overwrite contradict each other: --resume keeps the results in --out, "
                        "--overwrite moves them aside; choose one")
    shard_kn = parse_shard(args.shard) if args.shard else None
    methods, images = names(args.methods, "--methods"), names(args.images, "--images")
    if args.data_root is not None and not args.data_root.is_dir():
        raise UserError(f"--data-root {args.data_root}: folder not found")
    out = args.out or run_folder(suite.name)
    check_run_folder(out, resume, args.overwrite)
    device = str(resolve_device(device or suite.device))
    known_methods = {entry.name for entry in suite.methods}
    for name in methods or []:
        if name not in known_methods:
            raise UserError(f"--methods: {name!r} is not in suite {suite.name!r} ({', '.join(sorted(known_methods))})")
    pairs = load_pairs(suite, args.data_root, run_dir=out if out.is_dir() else None)
    known_images = {pair.image_name for pair in pairs}
    for name in images or []:
        if name not in known_images:
            raise UserError(f"--images: {name!r} is not in suite {suite.name!r} ({', '.join(sorted(known_images))})")
    seeds = tuple(range(args.seeds)) if args.seeds else None
    every_row = expand_rows(suite, pairs, seeds=seeds)
    rows = expand_rows(suite, pairs, seeds=seeds, methods=methods, images=images)
    if shard_kn:
        rows = shard(rows, *shard_kn)
    if not rows:
        raise UserError(f"suite {suite.name!r}: no rows match --methods/--images/--shard")
    check_methods(rows, device)
    if not getattr(args, "allow_long", False):
        check_duration(suite, rows, device)
    for line in balance.check(rows):
        print(f"warning: {line}")
    meta = {"suite": suite.name, "suite_file": suite.path.name, "seeds": list(seeds or suite.seeds),
            "shard": args.shard, "methods": methods, "images": images,
            "lpips": "ok" if lpips_metric.unavailable_reason() is None else f"skipped: {lpips_metric.unavailable_reason()}"}
    return every_row, rows, out, device, meta


def check_duration(suite: Suite, rows: list[Row], device: str) -> None:
    """Refuse ``rows`` whose estimate exceeds ``estimate.LONG_H`` (a mistyped iteration count), naming the
    ``[[methods]]`` entry that costs the most and its iterations."""
    entry, hours, total = estimate.costliest(rows, device)
    if total <= estimate.LONG_H:
        return
    index = next((i for i, candidate in enumerate(suite.methods, start=1) if candidate is entry), "?")
    iterations = f", iterations = {entry.params['iterations']}" if "iterations" in entry.params else ""
    raise UserError(f"{suite.path}: [[methods]] #{index} ({entry.name}{iterations}) alone is estimated at "
                    f"{hours:,.0f} h on {device} ({total:,.0f} h in all, over the {estimate.LONG_H:,.0f} h limit); "
                    "lower its iterations, run fewer rows (--methods, --shard), or add --allow-long")


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a --out that is a file, a folder of other things, an old-format run to resume, or a run folder with
    results when neither --resume nor --overwrite is given."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a folder for the run (it is created if missing)")
    if not out.is_dir():
        return
    folder = RunFolder(out)
    if any(out.iterdir()) and not folder.is_run_folder():
        raise UserError(f"--out {out}: is a folder of other files (no {META}, no {ROWS}/), not a dip-bench run "
                        "folder; give a new or empty folder")
    if folder.is_legacy() and resume:
        raise UserError(f"--out {out}: holds a {RESULTS} of an older dip-bench (no {ROWS}/ folder), whose rows cannot "
                        "be matched to this suite; run into a new --out, or use --overwrite to move it aside")
    if folder.has_results() and not (resume or overwrite):
        raise UserError(f"--out {out}: already holds results; add --resume to continue that run, or --overwrite to "
                        "move them to backups/ and start afresh")


def back_up(out: Path) -> Path:
    """Move everything in ``out`` (but earlier backups) to ``out/backups/<date-time>/``; nothing is deleted."""
    backup = out / "backups" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    backup.mkdir(parents=True)
    for entry in sorted(out.iterdir()):
        if entry.name != "backups":
            shutil.move(str(entry), str(backup / entry.name))
    return backup


def set_aside(out: Path, every_row: list[Row], rows: list[Row]) -> list[Row]:
    """For --resume: move damaged row files to ``damaged/`` and rows of a definition no longer in the suite to
    ``stale/`` (each with one line), and return the rows of ``rows`` that still have to run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid, damaged = RunFolder(out).scan()
    damaged = damaged + [(stored.path, f"seal broken: {stored.broken}") for stored in valid.values() if stored.broken]
    valid = {rid: stored for rid, stored in valid.items() if not stored.broken}
    for path, reason in damaged:
        (out / "damaged").mkdir(exist_ok=True)
        shutil.move(str(path), str(out / "damaged" / path.name))
        print(f"resume: {path} is damaged or foreign ({reason}); moved to {out / 'damaged'}, its row runs again")
    current = {row.id for row in every_row}
    stale = [stored for rid, stored in valid.items() if rid not in current]
    if stale:
        (out / "stale").mkdir(exist_ok=True)
        for stored in stale:
            shutil.move(str(stored.path), str(out / "stale" / stored.path.name))
        print(f"resume: {len(stale)} rows of a definition no longer in the suite (changed parameters, seeds or data) "
              f"moved to {out / 'stale'}, e.g. {stale[0].row_id}; they are not in the new table")
    unsealed = sum(stored.unsealed for stored in valid.values())
    if unsealed:
        print(f"resume: {unsealed} unsealed rows (an older format, see bench.seal) run again to be sealed")
    todo = []
    for row in rows:
        stored = valid.get(row.id)
        if stored is None or stored.status == "failed" or stored.unsealed:
            todo.append(row)
        elif stored.status == "skipped" and skip_reason(row) != stored.reason:
            todo.append(row)
    return todo


def prepare(args: argparse.Namespace, out: Path, every_row: list[Row], rows: list[Row], meta: dict) -> list[Row]:
    """Make ``out`` ready (``--overwrite``: back up; ``--resume``: set aside) and save the masks; return the rows
    still to run."""
    if args.overwrite and RunFolder(out).has_results():
        print(f"moved the earlier results of {out} to {back_up(out)}")
    if args.resume:
        todo = set_aside(out, every_row, rows)
        print(f"resume: {len(rows) - len(todo)} of {len(rows)} rows already done in {out}, {len(todo)} to run")
        rows = todo
    pairs = list({id(row.pair): row.pair for row in every_row}.values())
    meta["masks"] = save_masks(pairs, out)
    return rows


def write_meta(out: Path, meta: dict, device: str) -> None:
    """``meta.json``: the run's options and the environment fingerprint of ``device``."""
    write_text(out / META, json.dumps({**meta, **environment(resolve_device(device))}, indent=2) + "\n")


def finish(args: argparse.Namespace, out: Path, row_ids: list[str]) -> int:
    """Rebuild the tables from the row files, print the statuses of the rows just run, write the report."""
    folder = RunFolder(out)
    table = folder.rebuild_tables()
    statuses = status_kinds(table[table["row_id"].isin(row_ids)]["status"]).value_counts()
    print(f"{out / RESULTS}: " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "nothing new"))
    if not args.no_report:
        from dip_bench.bench.report import write_report

        print(f"report: {write_report(folder)}")
    return 0


def run(args: argparse.Namespace) -> int:
    """The suite is loaded once; its rows run in this process, or go to a local or Slurm backend
    (``bench.executor``) that returns them finished in the run folder."""
    suite = load_suite(args.suite)
    config = resolve_config(args, suite.path)
    if config.backend != "inprocess":
        return run_tasks(args, suite, executor.open_backend(config, args.device or suite.device))
    every_row, rows, out, device, meta = plan(args, suite, args.device, args.resume)
    check_writable_dir(out, "--out")
    rows = prepare(args, out, every_row, rows, meta)
    if rows:
        print(f"{len(rows)} rows: {estimate.describe(estimate.estimate(rows, device))}")
    write_meta(out, meta, device)
    try:
        run_rows(rows, device, out)
    except BaseException:
        RunFolder(out).rebuild_tables()  # Ctrl-C or a crash: the tables still show every finished row
        raise
    return finish(args, out, [row.id for row in rows])


def run_tasks(args: argparse.Namespace, suite: Suite, backend: executor.Backend) -> int:
    """The rows as tasks of ``backend``: plan, submit (or ``--attach``), collect, then the tables and report."""
    # rows are checked and methods built here on the CPU; each task resolves the device on its own node
    every_row, rows, out, _, meta = plan(args, suite, "cpu", args.resume or args.attach)
    out = out.resolve()
    check_writable_dir(out, "--out")
    rows_by_id = {row.id: row for row in every_row}
    if args.attach:
        submission = executor.attach(out, rows_by_id)
    else:
        if args.resume or args.overwrite:
            executor.refuse_running(out)
        rows = prepare(args, out, every_row, rows, meta)
        tasks, meta["executor"] = executor.plan_tasks(backend, rows)
        write_meta(out, meta, "cpu")
        if not rows:
            return finish(args, out, [])
        submission = executor.submit_tasks(backend, tasks, meta["executor"]["time_min"], out, suite, args.data_root,
                                           args.seeds)
    finished = executor.collect(submission, rows_by_id, out)
    return 130 if finished is None else finish(args, out, finished)
