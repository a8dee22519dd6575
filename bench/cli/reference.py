"""``dip-bench reference --suite quick --out reports/reference/quick-cpu``: make a regression reference from the
repository alone.

It runs the suite (each run a subprocess, since the variables that pick CPU kernels must be set before torch is
imported) in this environment and in the variant environments of ``bench.reference.VARIANTS`` (CPU) or repeatedly
(GPU), measures the spread of every configuration's mean, and writes ``OUT.csv`` + ``OUT.meta.json`` (fingerprint,
tolerances, commit, command; no absolute paths). A checkout with uncommitted changes is refused unless
``--allow-dirty`` (then recorded).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from dip_bench.bench.meta import fingerprint_differences, git_state, portable_command, repository_root
from dip_bench.bench.reference import VARIANTS, config_label, make_reference, run_meta
from dip_bench.bench.suite import load_suite
from dip_bench.contract import UserError, resolve_device

#: the shift of a configuration's mean PSNR (dB) that the cross-machine check must catch
DETECT_DB = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reference", help="make a regression reference with tolerances from measured spread")
    parser.add_argument("--suite", default="quick", help="quick | standard | paper | path to a suite .toml")
    parser.add_argument("--out", type=Path, required=True, help="reference name, e.g. reports/reference/quick-cpu")
    parser.add_argument("--device", help="auto | cpu | cuda (default: the suite's)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"CPU: comma-separated variant environments (default {','.join(VARIANTS)})")
    parser.add_argument("--spread-seeds", type=int, metavar="N",
                        help="also measure the spread for seeds 0..N-1 (the reference keeps the suite's seeds)")
    parser.add_argument("--repeats", type=int, default=5, help="GPU: same-seed runs to measure the spread (>= 5)")
    parser.add_argument("--data-root", type=Path, help="root of image folders (suites that read folders)")
    parser.add_argument("--work", type=Path, help="keep the runs here (resumed when it exists; default a temp folder)")
    parser.add_argument("--allow-dirty", action="store_true", help="allow uncommitted changes (recorded as dirty)")
    parser.set_defaults(func=run)


def _plan(args: argparse.Namespace, device_type: str) -> list[tuple[str, dict[str, str]]]:
    if device_type == "cuda":
        if args.repeats < 5:
            raise UserError(f"--repeats {args.repeats}: a GPU reference needs at least 5 same-seed runs")
        return [("reference", {})] + [(f"repeat-{k}", {}) for k in range(1, args.repeats)]
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise UserError(f"--variants {args.variants!r}: choose from {', '.join(VARIANTS)}")
    return [("reference", {})] + [(name, VARIANTS[name]) for name in names]


def _relative(path: Path) -> str:
    resolved = path.resolve()
    root = repository_root()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else path.name


def run(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    device = resolve_device(args.device or suite.device)
    commit, dirty = git_state()
    if dirty and not args.allow_dirty:
        raise UserError("the checkout has uncommitted changes: commit them (a reference must be reproducible from "
                        "the repository) or pass --allow-dirty (recorded in the reference)")
    seeds = sorted(suite.seeds)
    if args.spread_seeds is not None and not set(seeds) <= set(range(args.spread_seeds)):
        raise UserError(f"--spread-seeds {args.spread_seeds}: must include the suite's seeds {seeds}")
    plan = _plan(args, device.type)
    csv = Path(str(args.out).removesuffix(".csv") + ".csv")
    work = args.work or Path(tempfile.mkdtemp(prefix="dip-bench-reference-"))
    base = [sys.executable, "-m", "dip_bench.bench.cli", "run", "--suite", args.suite, "--device", device.type,
            "--no-report"] + (["--seeds", str(args.spread_seeds)] if args.spread_seeds else []) \
        + (["--data-root", str(args.data_root)] if args.data_root else [])
    print(f"reference: suite {suite.name}, {len(plan)} runs ({', '.join(name for name, _ in plan)}) in {work}, "
          f"commit {commit}{' (dirty)' if dirty else ''}")
    first_seconds = None
    with tqdm(total=len(plan), desc="runs", unit="run", position=0) as bar:
        for index, (name, env) in enumerate(plan):
            out = work / name
            command = base + ["--out", str(out)] + (["--resume"] if out.exists() else [])
            settings = " ".join(f"{k}={v}" for k, v in env.items()) or "this environment"
            if first_seconds is not None:
                left = first_seconds * sum(2.0 if "OMP_NUM_THREADS" in e else 1.0 for _, e in plan[index:])
                bar.write(f"about {left / 60:.0f} min left (the first run took {first_seconds / 60:.1f} min)")
            bar.write(f"run {index + 1}/{len(plan)}: {name} ({settings})")
            start = time.perf_counter()
            code = subprocess.run(command, env={**os.environ, **env}).returncode
            if code != 0:
                raise UserError(f"run {name} ({' '.join(command[2:])}) exited with {code}; see its output above")
            first_seconds = first_seconds or time.perf_counter() - start
            bar.update()
    reference_fingerprint = run_meta(work / "reference").get("fingerprint") or {}
    spread = []
    for name, _ in plan[1:]:
        differences = fingerprint_differences(reference_fingerprint, run_meta(work / name).get("fingerprint") or {})
        if device.type == "cpu" and not differences:
            print(f"reference: variant {name} ran in the same environment as the reference here (this CPU has "
                  "nothing narrower to fall back to?): left out of the spread")
            continue
        spread.append(work / name)
    command = portable_command(["reference", "--suite", _relative(Path(args.suite)) if Path(args.suite).suffix
                                else args.suite, "--out", _relative(args.out), "--device", device.type,
                                "--variants", args.variants]
                               + (["--spread-seeds", str(args.spread_seeds)] if args.spread_seeds else [])
                               + (["--repeats", str(args.repeats)] if device.type == "cuda" else [])
                               + (["--data-root", _relative(args.data_root)] if args.data_root else [])
                               + (["--allow-dirty"] if args.allow_dirty else []))
    extra = {"suite_file": _relative(suite.path),
             "environments": {name: env for name, env in plan if (work / name) in spread or name == "reference"}}
    meta = make_reference(work / "reference", spread, csv, command, seeds, extra, git=(commit, dirty))
    for entry in meta["tolerances"]:
        name = config_label(entry["method"], entry["preset"], entry["params"])
        print(f"  {name:<44} n={entry['n']:<3} per-row sd {entry['sd_psnr']:.3g} dB; tol {entry['tol_psnr']:.3g} dB "
              f"(mean), {entry['tol_psnr_trimmed']:.3g} dB (trimmed mean) -> catches shifts > "
              f"{entry['detect_psnr']:.3g} dB / SSIM tol {entry['tol_ssim']:.3g} ({entry['tol_ssim_trimmed']:.3g})")
    blunt = [config_label(e["method"], e["preset"], e["params"]) for e in meta["tolerances"]
             if e["detect_psnr"] > DETECT_DB]
    if blunt:
        print(f"reference: warning: shifts of {DETECT_DB} dB in the mean PSNR of {', '.join(blunt)} may pass on "
              "another machine; give these configurations more rows (images, masks or seeds) in the suite")
    print(f"wrote {csv} and its .meta.json ({len(spread)} spread runs)")
    return 0
