"""Baselines for dip-bench: classical inpainting (OpenCV Telea and Navier-Stokes, scikit-image biharmonic,
PatchMatch) and EdgeConnect with user-supplied official weights.

Every method is a factory ``make(*, seed=0, device="cpu", **params)`` returning a callable
``method(image, mask) -> (output, record)`` (one-shot: no observer, ``dip_bench.contract.Inpainter``): image float32
H x W x C in [0, 1] (C = 1 or 3), mask bool H x W with True = known; the output has the same shape, known pixels
unchanged bit for bit.
See baselines/README.md for each method's library, parameters and mask conversion.
"""
