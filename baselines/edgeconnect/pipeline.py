"""EdgeConnect's test-time pipeline (official MODEL 3: edge model, then inpainting model), as a function.

Follows knazeri/edge-connect (src/dataset.py, src/models.py, src/edge_connect.py ``test()``; CC BY-NC 4.0), with
m = 1 on holes:
1. hole pixels are set to 0 before anything reads the image, so they cannot influence the result;
2. gray = skimage ``rgb2gray`` of the RGB image (a gray input is used as is);
3. edges = skimage ``canny(gray, sigma, mask=known)``;
4. edge net on ``cat(gray*(1-m)+m, edges*(1-m), m)``;
5. inpaint net on ``cat(rgb*(1-m)+m, e)`` where e is the raw predicted edge map (the official test mode) or, with
   ``merge_edges``, ``pred*m + edges*(1-m)`` (as in training and the paper);
6. output ``out*m + rgb*(1-m)``.
The nets need H, W multiples of 4: the inputs are reflect-padded at the bottom/right and the result cropped back.
A gray image is replicated to 3 channels for the inpaint net and the 3 output channels are averaged back to 1.
Unlike the original, which saves ``int(x * 255)``, the output stays float in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import rgb2gray
from skimage.feature import canny

from dip_bench.baselines.edgeconnect.networks import EdgeGenerator, InpaintGenerator
from dip_bench.contract import UserError

#: smallest height/width the generators accept (1/4 resolution must exceed the dilated blocks' padding of 2)
MIN_SIZE = 12


def canny_edges(gray: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """float64 H x W edge map in {0, 1} of ``gray`` (H x W in [0, 1]) computed from known pixels only."""
    return canny(gray, sigma=sigma, mask=known).astype(np.float64)


@torch.no_grad()
def edgeconnect_inpaint(edge_net: EdgeGenerator, inpaint_net: InpaintGenerator, image: np.ndarray,
                        known: np.ndarray, *, sigma: float = 2.0, merge_edges: bool = False) -> np.ndarray:
    """Fill the holes of ``image`` (float32 H x W x C in [0, 1], C = 1 or 3; ``known`` bool H x W, True = known).

    Returns float32 H x W x C in [0, 1] with the known pixels composited back from ``image``. The nets must be in
    eval mode; they run on the device of their parameters.
    """
    height, width, channels = image.shape
    if height < MIN_SIZE or width < MIN_SIZE:
        raise UserError(f"EdgeConnect needs images of at least {MIN_SIZE} x {MIN_SIZE} pixels, got {height} x {width}")
    filled = np.where(known[..., None], image, 0.0).astype(np.float64)
    rgb = np.repeat(filled, 3, axis=2) if channels == 1 else filled
    gray = filled[..., 0] if channels == 1 else rgb2gray(filled)
    edges = canny_edges(gray, known, sigma)

    device = next(edge_net.parameters()).device
    pad = (0, -width % 4, 0, -height % 4)

    def tensor(array: np.ndarray) -> torch.Tensor:
        """H x W (x C) numpy -> 1 x C x H' x W' float32 on ``device``, reflect-padded to multiples of 4."""
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        return F.pad(t, pad, mode="reflect")

    m = tensor(~known)
    gray_t, edges_t, rgb_t = tensor(gray), tensor(edges), tensor(rgb)
    predicted = edge_net(torch.cat((gray_t * (1 - m) + m, edges_t * (1 - m), m), dim=1))
    if merge_edges:
        predicted = predicted * m + edges_t * (1 - m)
    out = inpaint_net(torch.cat((rgb_t * (1 - m) + m, predicted), dim=1))
    merged = (out * m + rgb_t * (1 - m))[0, :, :height, :width].permute(1, 2, 0).cpu().numpy()
    if channels == 1:
        merged = merged.mean(axis=2, keepdims=True)
    return np.where(known[..., None], image, np.clip(merged, 0.0, 1.0)).astype(np.float32)
