"""``dip-bench merge DIR... --out OUT``: join run folders (``--shard`` slices, tasks of one run) into one.

Merging is a copy of row files and of exactly the files they seal (see ``bench.results`` and ``bench.seal``).
Everything is checked before anything is written, and merge never mixes:

- every input must be a run folder of this format whose rows are intact (a row whose seal is broken is named);
- the same row (same id) found twice must hold the same result (timing fields aside) and the same output bytes,
  else merge refuses and names both folders;
- an input file of the same name (clean image, mask, masked input, generated mask) must be the same bytes;
- runs of different suites or environment fingerprints are refused unless ``--allow-mixed`` says so on purpose.

The merged ``meta.json`` is the first source's with ``sources``: per folder merged (the output folder's earlier rows
included) its path, suite, fingerprint and git commit, and ``shards``, each source's whole ``meta.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from dip_bench.bench.atomic import check_writable_dir, write_text
from dip_bench.bench.meta import fingerprint_differences
from dip_bench.bench.results import (
    COLUMNS,
    META,
    RESULTS,
    ROWS,
    TIMING,
    RunFolder,
    StoredRow,
)
from dip_bench.contract import UserError

#: folders whose files are shared by rows (same name: same bytes)
SHARED = ("inputs", "masks")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("merge", help="join run folders (e.g. --shard slices) into one")
    parser.add_argument("dirs", nargs="+", type=Path, help="run folders written by `dip-bench run`")
    parser.add_argument("--out", required=True, type=Path, help="merged run folder (new, or a run folder to add to)")
    parser.add_argument("--allow-mixed", action="store_true",
                        help="merge runs of different suites or environment fingerprints (recorded in meta.json)")
    parser.add_argument("--no-report", action="store_true")
    parser.set_defaults(func=run)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; give run folders written by `dip-bench run`")
    if RunFolder(folder).is_legacy():
        raise UserError(f"{folder}: a run of an older dip-bench ({RESULTS} without {ROWS}/); re-run it with --out "
                        "into a new folder to merge it")
    if not (folder / ROWS).is_dir() or not (folder / META).is_file():
        raise UserError(f"{folder}: not a dip-bench run folder (no {ROWS}/ or {META})")


def _output(stored: StoredRow) -> Path | None:
    """The output file of a stored row (its sealed one, else its ``output`` column), None without one."""
    name = stored.seals["output"]["file"] if stored.seals else stored.table.get("output")
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return None
    return stored.path.parent.parent / name


def _output_bytes(stored: StoredRow) -> bytes | None:
    path = _output(stored)
    return path.read_bytes() if path is not None and path.is_file() else None


def same_result(a: StoredRow, b: StoredRow) -> bool:
    """Whether two stored copies of one row computed the same thing (timing and device fields aside)."""
    return not _differs(a, b)


def _differs(a: StoredRow, b: StoredRow) -> str:
    """What differs between two copies of one row (result fields, then output bytes); "" when nothing does."""
    keys = [k for k in COLUMNS if k not in TIMING and a.table[k] != b.table[k]
            and not (a.table[k] != a.table[k] and b.table[k] != b.table[k])]
    if keys:
        return ", ".join(f"{k} {a.table[k]!r} vs {b.table[k]!r}" for k in keys[:3])
    if a.status == "ok" and _output_bytes(a) != _output_bytes(b):
        return f"output {a.table['output']} has other bytes"
    return ""


def _mixed(sources: list[tuple[Path, dict[str, Any]]]) -> str:
    """How the sources differ in suite or fingerprint ("" when they do not)."""
    (first, meta), problems = sources[0], []
    for folder, other in sources[1:]:
        if other.get("suite") != meta.get("suite"):
            problems.append(f"{first} ran suite {meta.get('suite')!r} but {folder} suite {other.get('suite')!r}")
        elif (meta.get("fingerprint") or {}) != (other.get("fingerprint") or {}):
            differences = fingerprint_differences(meta.get("fingerprint") or {}, other.get("fingerprint") or {})
            shown = "; ".join(differences[:3]) or "one has no fingerprint"
            problems.append(f"{first} and {folder} ran in different environments ({shown})")
    return "; ".join(problems[:2])


def _shared_files(folders: list[Path]) -> dict[str, Path]:
    """Each shared input file by relative path, checked to be the same bytes in every folder that has it."""
    files: dict[str, Path] = {}
    for folder in folders:
        for sub in SHARED:
            for path in sorted((folder / sub).glob("*")) if (folder / sub).is_dir() else []:
                name = path.relative_to(folder).as_posix()
                if name in files and files[name].read_bytes() != path.read_bytes():
                    raise UserError(f"{files[name]} and {path}: an input differs between the runs, so their rows were "
                                    "not measured on the same input (and are sealed to other bytes); merge refuses")
                files.setdefault(name, path)
    return files


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
    folders = ([out] if (out / META).is_file() else []) + list(args.dirs)
    runs = {folder: RunFolder(folder) for folder in folders}
    sources = [(folder, runs[folder].meta()) for folder in folders]
    mixed = _mixed(sources)
    if mixed and not args.allow_mixed:
        raise UserError(f"merge: {mixed}; merge refuses to mix them (add --allow-mixed to merge them on purpose; "
                        "meta.json then records every source)")
    chosen: dict[str, StoredRow] = {}
    for folder in folders:
        valid, damaged = runs[folder].scan()
        if damaged:
            path, reason = damaged[0]
            raise UserError(f"{path}: damaged or foreign row file ({reason}); run `dip-bench run --resume --out "
                            f"{folder}` to recompute it, then merge")
        for rid, stored in valid.items():
            earlier = chosen.get(rid)
            if earlier is not None:
                differs = _differs(earlier, stored)
                if differs:
                    raise UserError(f"{earlier.path.parent.parent} and {folder}: row {rid} has different results "
                                    f"({differs}); merge will not pick one, remove the wrong folder")
            chosen.setdefault(rid, stored)
    broken = next((stored for stored in chosen.values() if stored.broken), None)
    if broken is not None:
        folder = broken.path.parent.parent
        raise UserError(f"{broken.path}: row {broken.row_id}: seal broken ({broken.broken}); run `dip-bench run "
                        f"--resume --out {folder}` to recompute it, then merge")
    shared = _shared_files(folders)
    check_writable_dir(out / ROWS, "--out")
    for name, path in shared.items():
        if not (out / name).exists():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out / name)
    for stored in chosen.values():
        source = stored.path.parent.parent
        if source == out:
            continue
        output, log = _output(stored), source / "logs" / f"{stored.row_id}.txt"
        for path in [p for p in (output, log) if p is not None and p.is_file()] + [stored.path]:
            target = out / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    merged = {**sources[0][1],
              "sources": [{"folder": str(folder), "suite": meta.get("suite"), "fingerprint": meta.get("fingerprint"),
                           "git_commit": meta.get("git_commit")} for folder, meta in sources],
              "mixed": mixed or None, "shards": [meta for _, meta in sources]}
    merged.pop("merged_from", None)
    write_text(out / META, json.dumps(merged, indent=2) + "\n")
    merged_run = RunFolder(out)
    table = merged_run.rebuild_tables()
    print(f"{out / RESULTS}: {len(table)} rows from {len(args.dirs)} folders")
    if not args.no_report:
        from dip_bench.bench.report import write_report

        print(f"report: {write_report(merged_run)}")
    return 0
