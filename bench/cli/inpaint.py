"""``dip-bench inpaint IMAGE MASK --method NAME --out OUT.png``: one image, any method.

Mask file convention as in the official DIP repository: white (255) = known, black (0) = hole. The method sees the
image with its holes blanked and the mask (``contract.call_method``); with ``--reference`` the clean image stays here,
and the outputs the method shows along a fit are scored by a ``metrics.Monitor``.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dip_bench.contract import UserError, call_method, composite, resolve_device, to_uint8
from dip_bench.bench import metrics
from dip_bench.bench.atomic import check_output_file, write_png
from dip_bench.bench.cli.args import parse_params
from dip_bench.bench.registry import create, get_method
from dip_bench.datasets import check_pair, load_image, load_mask


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("inpaint", help="inpaint one image with one method")
    parser.add_argument("image", type=Path, help="image file (PNG/JPEG/TIFF, gray or RGB, 8 or 16 bit)")
    parser.add_argument("mask", type=Path, help="mask file: white (255) = known, black (0) = hole")
    parser.add_argument("--method", required=True, help="method name (see `dip-bench methods`)")
    parser.add_argument("--out", required=True, type=Path, help="output PNG")
    parser.add_argument("--preset", help="DIP preset: text, region, large-region, pixels, gerardtho, imprior, imprior-notebook")
    parser.add_argument("--iters", type=int, help="DIP iterations (overrides the preset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--weights", help="EdgeConnect weights folder")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other method parameter")
    parser.add_argument("--reference", type=Path, help="clean image: print PSNR/SSIM of the result against it")
    parser.add_argument("--raw", action="store_true",
                        help="write the raw method output instead of pasting the known pixels back")
    parser.add_argument("--strict", action="store_true", help="refuse non-binary masks instead of thresholding")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check every argument and path (the output's folder is created and written to before the fit), then inpaint."""
    if args.iters is not None and args.iters < 1:
        raise UserError(f"--iters {args.iters}: give a number of iterations >= 1")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: a seed is an integer >= 0")
    check_output_file(args.out, "--out", {"the image": args.image, "the mask": args.mask,
                                          "--reference": args.reference})
    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out {args.out}: the output is written as PNG; give a name ending in .png")
    resolve_device(args.device)
    spec = get_method(args.method)
    params = parse_params(args.param, spec.type_hints())
    for option, key, value in (("--preset", "preset", args.preset), ("--iters", "iterations", args.iters),
                               ("--weights", "weights", args.weights)):
        if value is not None:
            if key not in spec.signature():
                raise UserError(f"{option}: method {args.method!r} has no {key} parameter (it takes: "
                                f"{', '.join(spec.signature()) or 'none'}); drop {option}")
            if key in params:
                raise UserError(f"{option} and --param {key}= both given; give it once")
            params[key] = value
    spec.validate(params)
    image = load_image(args.image)
    mask = load_mask(args.mask, strict=args.strict)
    check_pair(image, mask, args.image, args.mask)
    reference = load_image(args.reference) if args.reference else None
    if reference is not None and reference.shape != image.shape:
        raise UserError(f"{args.reference}: reference is {reference.shape} but image is {image.shape}; "
                        "give the clean version of the same image")
    reason = spec.unavailable_reason(**params)
    if reason is not None:
        raise UserError(f"{args.method}: cannot run here: {reason}")
    method = create(args.method, seed=args.seed, device=args.device, **params)
    check_size = getattr(method, "check_size", None)
    if callable(check_size):
        try:
            check_size(*image.shape[:2])
        except UserError as error:
            raise UserError(f"{args.image}: {error}") from None
    bars: list[tqdm] = []

    def progress(iteration: int, stats: Mapping[str, float]) -> None:
        if not bars:
            bars.append(tqdm(desc=args.method, total=args.iters, unit="it", leave=False, dynamic_ncols=True))
        bars[0].update(iteration + 1 - bars[0].n)
        bars[0].set_postfix({k: f"{v:.4g}" for k, v in stats.items()})

    def progress_only(iteration: int, output: np.ndarray, stats: Mapping[str, float], label: str | None = None) -> None:
        if label is None:
            progress(iteration, stats)

    monitor = metrics.Monitor(reference, mask, progress) if reference is not None else None
    observe = monitor if monitor is not None else progress_only
    try:
        output, record = call_method(method, np.where(mask[..., None], image, 0.0).astype(np.float32), mask,
                                     observe)
    finally:
        for bar in bars:
            bar.close()
    result = output if args.raw else composite(output, image, mask)
    write_png(args.out, result)
    line = (f"wrote {args.out} ({args.method}, {record.get('iterations', 0)} it, {record.get('seconds', math.nan):.1f} "
            f"s, {record.get('device', args.device)})")
    if reference is not None:
        stored = to_uint8(result).reshape(result.shape).astype(np.float32) / np.float32(255.0)
        scores = metrics.score(reference, stored, mask)
        line += f"; PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, hole PSNR {scores['psnr_hole']:.2f} dB"
        raw_psnr = metrics.psnr(reference, output)
        if not args.raw and math.isfinite(raw_psnr) and record.get("iterations"):
            line += f", raw output PSNR {raw_psnr:.2f} dB"
        if "es_psnr" in monitor.labelled:
            line += f", ES-WMV iterate PSNR {monitor.labelled['es_psnr']:.2f} dB"
    print(line)
    return 0
