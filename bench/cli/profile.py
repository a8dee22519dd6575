"""``dip-bench profile``: how fast is one DIP fitting step on this machine, and how fast could it be?

Times the engine's real step on a fixed image (see ``bench.profiler`` for the method); ``--compare`` runs eager fp32
and each fast option alone (TF32, bf16 autocast, channels_last, torch.compile) from the same seed and tabulates the
speed-up and the final PSNR of each fit.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dip_bench.contract import UserError
from dip_bench.bench import profiler
from dip_bench.bench.atomic import check_writable_dir, write_text
from dip_bench.bench.meta import environment
from dip_bench.dip.fit import PRECISIONS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("profile", help="time the DIP fitting step (ms/iter, split, TFLOP/s, memory)")
    parser.add_argument("--method", default="dip-skip", help="a DIP method (see `dip-bench methods`)")
    parser.add_argument("--preset", help="DIP preset (default: the net's own, text for dip-skip)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--iters", type=int, default=200, help="timed iterations (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up iterations (default 20)")
    parser.add_argument("--device", default="auto", help="auto | cuda | cpu")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the net")
    parser.add_argument("--cuda-graphs", action="store_true", help="(not implemented yet)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", type=Path, metavar="OUT.json", help="write a torch.profiler Chrome trace")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every number and the conditions")
    parser.add_argument("--compare", action="store_true",
                        help="eager fp32 against each fast option alone, with the final PSNR of each fit")
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> profiler.ProfileSettings:
    """The checked settings; flag combinations that cannot work are one-line ValueErrors."""
    if args.cuda_graphs:
        raise UserError("--cuda-graphs is not implemented yet: the step would need capturable Adam and a static "
                         "noise buffer; drop the flag")
    if args.compare and (args.precision != "fp32" or args.channels_last or args.compile):
        raise UserError("--compare runs every fast option by itself: drop --precision, --channels-last and "
                         "--compile")
    if args.compare and args.trace:
        raise UserError("--trace records one configuration: drop --compare, or --trace")
    check_outputs(args.trace, args.json)
    settings = profiler.ProfileSettings(
        method=args.method, preset=args.preset, size=args.size, iters=args.iters, warmup=args.warmup,
        device=args.device, precision=args.precision, channels_last=args.channels_last, compile=args.compile,
        seed=args.seed,
    )
    settings.check()
    smallest = profiler.min_size(settings)
    if settings.size < smallest:
        raise UserError(f"--size {settings.size} is below the {smallest} px that {settings.method} needs with this "
                         f"preset: use --size {smallest} or more")
    return settings


def check_outputs(trace: Path | None, json_out: Path | None) -> None:
    """Refuse before any work a ``--trace`` or ``--json`` file that is a folder, the same file twice, or in a folder
    that cannot be written (the folder is created if missing)."""
    if trace is not None and json_out is not None and trace.resolve() == json_out.resolve():
        raise UserError(f"--trace and --json are both {trace}: give two files")
    for option, path in (("--trace", trace), ("--json", json_out)):
        if path is None:
            continue
        if path.is_dir():
            raise UserError(f"{option} {path}: is a folder; give a file name, e.g. {path / 'profile.json'}")
        check_writable_dir(path.parent, option, shown=path)


def summary(record: dict[str, Any]) -> str:
    """Human-readable lines for one profiled configuration."""
    split = record["split_ms"]
    options = [record["precision"]] + [name for name in ("channels_last", "compile") if record[name]]
    return "\n".join([
        f"{record['method']} ({record['preset']} preset, {record['parameters']:,} parameters), "
        f"{record['size']} px, {record['device']}, {' + '.join(options)}",
        f"  ms/iter      median {record['ms_per_iter_median']:.2f}, IQR {record['ms_per_iter_iqr']:.2f}, "
        f"min {record['ms_per_iter_min']:.2f} ({record['iterations']} iterations after {record['warmup']} warm-up)",
        f"  iters/s      {record['iters_per_s']:.2f}",
        f"  split ms     forward {split['forward']:.2f}, backward {split['backward']:.2f}, "
        f"optimizer {split['optimizer']:.2f} ({profiler.SPLIT_METHOD})",
        f"  FLOPs        {record['gflop_per_iter']:.1f} GFLOP/iter ({profiler.FLOP_COUNTING})",
        f"  achieved     {record['tflops']:.3f} TFLOP/s",
        f"  peak memory  {record['peak_memory_mb']:.0f} MiB ({record['peak_memory_kind']})",
        f"  PSNR         {record['psnr_db']:.2f} dB (raw output after {record['psnr_after_steps']} steps)",
    ])


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    device = settings.check()
    image, mask, source = profiler.load_profile_pair(settings.size, settings.seed)
    meta = {"environment": {**environment(device), "torch": torch.__version__}, "image": source,
            "settings": asdict(settings)}
    print(f"dip-bench profile: {source}, {meta['environment']['device_name']}, torch {torch.__version__}")
    if args.compare:
        records, left_out = profiler.compare(settings, image, mask)
        table = profiler.compare_table(records)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        for name, reason in left_out.items():
            print(f"left out {name}: {reason}")
        print(f"GFLOP/iter {records[0]['gflop_per_iter']:.1f} ({profiler.FLOP_COUNTING}); "
              f"PSNR: raw output after {records[0]['psnr_after_steps']} steps; "
              f"peak memory: {records[0]['peak_memory_kind']}")
        payload = {**meta, "options": records, "left_out": left_out}
    else:
        record = profiler.profile(settings, image, mask, trace=args.trace)
        print(summary(record))
        if args.trace:
            print(f"wrote trace {args.trace}")
        payload = {**meta, **record}
    if args.json:
        write_text(args.json, json.dumps(_finite(payload), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: replace them with None (a PSNR of identical images is inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
