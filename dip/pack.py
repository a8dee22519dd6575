"""Many small DIP fits at once: N independent fits of the same net and size as one vectorised step.

The N nets' parameters are stacked (``torch.func.stack_module_state``) and one functional forward is mapped over
them with ``torch.func.vmap`` (PyTorch lowers a batched-weight convolution to one grouped convolution over N·C
channels). This is exact up to float rounding: with a batch of one, DIP's BatchNorm (train mode) normalises each
channel over H x W only, so it never mixes fits; Adam is elementwise, so one Adam over the stacked parameters is N
Adams; the loss is the sum of the fits' own masked MSEs, whose gradient with respect to fit i's parameters is fit
i's own gradient. BatchNorm's running statistics are dropped (``replace_all_batch_norm_modules_``): in train mode,
which DIP never leaves, they do not enter any output. Every fit keeps its own z, initial weights and perturbation
generator. Not supported in a pack (a UserError says so): the backtracking guard, ES-WMV and the EMA.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state, vmap

from dip_bench.contract import UserError
from dip_bench.dip.fit import FitConfig, loss_weight, precision_mode


class PackedFit:
    """N fits in one step. ``nets``: N modules built by the same builder with the same arguments (each with its own
    seeded init); ``zs`` N tensors (1, Cz, H, W); ``targets`` N tensors (1, C, H, W) in [0, 1]; ``masks`` N tensors
    (1, 1, H, W), 1 = known; ``generators`` N generators on the nets' device (the perturbation streams)."""

    def __init__(self, nets: list[nn.Module], zs: list[torch.Tensor], targets: list[torch.Tensor],
                 masks: list[torch.Tensor], config: FitConfig, generators: list[torch.Generator]) -> None:
        if not len(nets) == len(zs) == len(targets) == len(masks) == len(generators) or not nets:
            raise UserError("a pack needs one net, z, target, mask and generator per fit (and at least one fit)")
        if config.guard_drop_db is not None or config.early_stop is not None or config.ema is not None:
            raise UserError("packed fits support neither the backtracking guard, ES-WMV nor the EMA: fit those "
                            "one at a time")
        shapes = {tuple(t.shape) for t in targets}
        if len(shapes) != 1:
            raise UserError(f"a pack holds fits of one size; got target shapes {sorted(shapes)}")
        nets = [replace_all_batch_norm_modules_(copy.deepcopy(net)) for net in nets]
        params, self.buffers = stack_module_state(nets)
        self.params = {name: nn.Parameter(value) for name, value in params.items()}
        self.base = copy.deepcopy(nets[0]).to("meta")
        self.config, self.generators = config, generators
        self.z_base = torch.stack([z.detach() for z in zs])          # (N, 1, Cz, H, W)
        self.z_walk = self.z_base.clone()
        self.noise = torch.empty_like(self.z_base)
        self.mask = loss_weight(torch.stack(masks), config.loss_scale)  # (N, 1, 1, H, W)
        self.target_masked = torch.stack(targets) * self.mask        # (N, 1, C, H, W)
        self.last_input = self.z_base
        self.optimiser = torch.optim.Adam(self.params.values(), lr=config.lr)
        self._forward = vmap(self._one)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
             z: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (z,))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, 1, Cz, H, W) inputs → (N, 1, C, H, W) float32 outputs, fit i through net i."""
        return self._forward(self.params, self.buffers, z).float()

    def perturbed_input(self) -> torch.Tensor:
        """Each fit's z' from its own generator: z + σp·ε (fixed) or the walk z ← z + σp·ε (cumulative)."""
        config = self.config
        if config.sigma_p <= 0:
            return self.z_base
        for noise, generator in zip(self.noise, self.generators):
            noise.normal_(generator=generator)
        if config.perturbation == "fixed":
            self.last_input = self.z_base + self.noise * config.sigma_p
        else:
            self.last_input = self.z_walk.add_(self.noise, alpha=config.sigma_p)
        return self.last_input

    def __call__(self) -> torch.Tensor:
        """One step of every fit; returns the N losses (not synchronised)."""
        out = self.forward(self.perturbed_input()) * self.mask
        losses = torch.stack([F.mse_loss(o, t) for o, t in zip(out, self.target_masked)])
        self.optimiser.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimiser.step()
        return losses.detach()

    @torch.no_grad()
    def final_output(self) -> torch.Tensor:
        """(N, 1, C, H, W) in [0, 1]: each fit's result (``config.final_output``, as ``FitStep.final_output``)."""
        which = self.last_input if self.config.final_output == "perturbed" or \
            self.config.perturbation == "cumulative" else self.z_base
        return self.forward(which).clamp(0, 1)


def fit_packed(nets: list[nn.Module], zs: list[torch.Tensor], targets: list[torch.Tensor], masks: list[torch.Tensor],
               config: FitConfig, generators: list[torch.Generator]) -> list[torch.Tensor]:
    """Run ``config.iterations`` steps of N packed fits (arguments as ``PackedFit``); return each fit's output
    (1, C, H, W) in [0, 1]."""
    pack = PackedFit(nets, zs, targets, masks, config, generators)
    with precision_mode(config.precision, pack.z_base.device):
        for _ in range(config.iterations):
            pack()
        outputs = pack.final_output()
    return list(outputs)
