"""The Deep Image Prior networks: pure ``nn.Module`` builders with PyTorch's default init.

===========  ===========================  =========  =============================================================
name         builder                      params     source
===========  ===========================  =========  =============================================================
skip         ``skip``                     3,002,627  DmitryUlyanov/deep-image-prior models/skip.py (official)
encdec       ``encdec(variant='plain')``  3,167,363  GerardTho/Deep_image_prior_inpainting model/EncoderDecoder.py
encdec-skip  ``encdec(variant='skip')``   3,205,899  same, EncoderDecoderSkipConnections.py
encdec-res   ``encdec(variant='res')``    3,167,363  same, EncoderDecoderResidualConnections.py
bicubic      ``bicubic_net``              2,070,503  DL59/ImPrior Notebooks/Impainting.ipynb
===========  ===========================  =========  =============================================================

Parameter counts are for 32 input and 3 output channels, and for ``skip`` with the official text-inpainting
config ([128] x 5 down, up and skip, reflection padding); ``skip``'s own defaults are the small official ones.

Every ``NETS[name](num_input_channels, num_output_channels, **net_args)`` maps (B, C_in, H, W) to
(B, C_out, H, W) in [0, 1] and carries two ints: ``size_multiple`` (H and W must be multiples of it) and
``min_size`` (any H, W >= it work for a batch of one with BatchNorm in train mode, as DIP runs it; BatchNorm needs
2 values per channel at the deepest level, reflection padding p a map wider than p). Seeding is the caller's job (``torch.random.fork_rng`` + ``torch.manual_seed`` around the call).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from dip_bench.dip.nets.bicubic import bicubic_net
from dip_bench.dip.nets.encdec import encdec
from dip_bench.dip.nets.skip import skip

__all__ = ["NETS", "bicubic_net", "count_parameters", "encdec", "skip"]

#: name -> builder ``(num_input_channels, num_output_channels, **net_args) -> nn.Module``
NETS: dict[str, Callable[..., nn.Module]] = {
    "skip": skip,
    "encdec": partial(encdec, variant="plain"),
    "encdec-skip": partial(encdec, variant="skip"),
    "encdec-res": partial(encdec, variant="res"),
    "bicubic": bicubic_net,
}


def count_parameters(net: nn.Module) -> int:
    """Number of scalar parameters of ``net`` (trainable or not; BatchNorm running statistics are buffers)."""
    return sum(parameter.numel() for parameter in net.parameters())
