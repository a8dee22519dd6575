"""``dip-bench inpaint IMAGE MASK --method NAME --out OUT.png``: one image, any method.

Mask file convention as in the official DIP repository: white (255) = known, black (0) = hole.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from tqdm import tqdm

from dip_bench.contract import UserError, composite, resolve_device
from dip_bench.bench import metrics
from dip_bench.bench.atomic import check_output_file, write_png
from dip_bench.bench.params import parse_params
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
    bars: list[tqdm] = []

    def callback(iteration: int, stats: dict) -> None:
        if not bars:
            bars.append(tqdm(desc=args.method, total=args.iters, unit="it", leave=False, dynamic_ncols=True))
        bars[0].update(iteration + 1 - bars[0].n)
        bars[0].set_postfix({k: f"{v:.4g}" for k, v in stats.items() if k != "iteration"})

    try:
        output, record = method(image, mask, reference=reference, callback=callback)
    finally:
        for bar in bars:
            bar.close()
    result = output if args.raw else composite(output, image, mask)
    write_png(args.out, result)
    line = f"wrote {args.out} ({args.method}, {record['iterations']} it, {record['seconds']:.1f} s, {record['device']})"
    if reference is not None:
        scores = metrics.score(reference, result, mask)
        line += f"; PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, hole PSNR {scores['psnr_hole']:.2f} dB"
        raw_psnr = metrics.psnr(reference, output)
        if not args.raw and math.isfinite(raw_psnr) and record["iterations"]:
            line += f", raw output PSNR {raw_psnr:.2f} dB"
    print(line)
    return 0
