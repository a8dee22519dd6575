"""DIP presets: the official per-task settings, read from ``presets.toml`` beside this file."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from dip_bench.contract import UserError, read_toml

PRESETS_FILE = Path(__file__).with_name("presets.toml")
FIT_SIZES = ("padded", "native")


@dataclass(frozen=True)
class Preset:
    """Fit settings of one task. ``sigma_p`` is the std of the per-step input perturbation; ``perturbation`` is
    ``fixed`` (official: z_saved + σp·N(0, 1) redrawn each step) or ``cumulative`` (DL59/ImPrior: z += σp·N(0, 1)).

    ``final_output``: ``clean`` = net(z) (inpainting.ipynb) or ``perturbed`` = net(last perturbed z)
    (restoration.ipynb). ``guard_drop_db``: restoration.ipynb's backtracking threshold in dB, or None (off; the
    inpainting notebooks, GerardTho and ImPrior have none). ``fit_size``: ``padded`` reflect-pads the image to the
    net's size multiple; ``native`` fits at the image's own size when the net maps that size to itself (the skip
    net's concatenations crop, so restoration.ipynb fits barbara at 514 x 514), else pads. ``net_args`` are keyword
    arguments of the builder of ``net`` (a name in ``dip.nets.NETS``) and apply only when that net is used.
    ``loss_scale``: factor of the masked MSE (``dip.fit.FitConfig``): 1, except DL59/ImPrior's 1/255².
    ``holdout``: share of the known pixels left out of the loss for held-out validation (ours, ``dip.stopping``; 0 =
    none, the originals').
    """

    name: str
    description: str
    input: str
    input_channels: int
    input_scale: float
    lr: float
    iterations: int
    sigma_p: float
    perturbation: str
    final_output: str = "clean"
    guard_drop_db: float | None = None
    fit_size: str = "padded"
    loss_scale: float = 1.0
    holdout: float = 0.0
    net: str | None = None
    net_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fit_size not in FIT_SIZES:
            raise UserError(f"preset {self.name!r}: unknown fit_size {self.fit_size!r}: choose one of "
                            f"{', '.join(FIT_SIZES)}")

    def with_overrides(self, **overrides: Any) -> Preset:
        """A copy with the non-None overrides applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@cache
def load_presets() -> dict[str, Preset]:
    """All presets by name."""
    raw = read_toml(PRESETS_FILE)
    return {name: Preset(name=name, **values) for name, values in raw.items()}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ValueError suggests close names for a typo."""
    presets = load_presets()
    if name not in presets:
        close = difflib.get_close_matches(name, presets, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(f"unknown preset {name!r}{hint}: choose one of {', '.join(presets)}")
    return presets[name]
