"""Method name → factory. Adding a method is one file (its factory) plus one line in ``METHODS``.

A factory is ``make(*, seed=0, device="cpu", **params) -> Inpainter`` (see ``bench.protocol``). An optional
availability check ``unavailable_reason(**params) -> str | None`` says why a method cannot run (missing library or
weights). Factories are imported lazily, so a broken optional dependency only disables its own method.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.protocol import Inpainter


@dataclass(frozen=True)
class MethodSpec:
    """One registered method: ``factory`` and ``check`` are ``"module:attribute"`` paths; ``fixed`` are keyword
    arguments always passed to the factory (e.g. which DIP net)."""

    name: str
    family: str
    description: str
    factory: str
    check: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)

    def load_factory(self) -> Callable[..., Inpainter]:
        return _load(self.factory)

    def unavailable_reason(self, **params: Any) -> str | None:
        """None when the method can run with ``params``, else the reason in a few words."""
        try:
            self.load_factory()
            if self.check is None:
                return None
            return _load(self.check)(**params)
        except ImportError as error:
            return f"cannot import {self.factory.split(':')[0]}: {error}"

    def parameters(self) -> list[str]:
        """Names of the keyword parameters the factory accepts (beyond ``fixed``)."""
        signature = inspect.signature(self.load_factory())
        return [name for name, p in signature.parameters.items()
                if p.kind is p.KEYWORD_ONLY and name not in self.fixed and name not in ("seed", "device")]


def _load(path: str) -> Callable[..., Any]:
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


_DIP = "dip.inpainter:DIPInpainter"
METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in [
    MethodSpec("dip-skip", "dip", "official DIP skip hourglass (Ulyanov et al. 2018), presets text/region/large-region/pixels",
               _DIP, fixed={"net": "skip"}),
    MethodSpec("dip-encdec", "dip", "plain encoder-decoder, no skips (GerardTho school project)", _DIP,
               fixed={"net": "encdec"}),
    MethodSpec("dip-encdec-skip", "dip", "encoder-decoder with concatenated 1x1 skips (GerardTho)", _DIP,
               fixed={"net": "encdec-skip"}),
    MethodSpec("dip-encdec-res", "dip", "encoder-decoder with additive residual skips (GerardTho)", _DIP,
               fixed={"net": "encdec-res"}),
    MethodSpec("dip-bicubic", "dip", "bicubic-upsampling net with 4-ch skips and cumulative input walk (DL59/ImPrior)",
               _DIP, fixed={"net": "bicubic"}),
    MethodSpec("telea", "classical", "OpenCV fast marching (Telea 2004), cv2.inpaint", "baselines.opencv:make_telea"),
    MethodSpec("ns", "classical", "OpenCV Navier-Stokes (Bertalmio et al. 2001), cv2.inpaint", "baselines.opencv:make_ns"),
    MethodSpec("biharmonic", "classical", "biharmonic equation, skimage inpaint_biharmonic (slow on large holes)",
               "baselines.biharmonic:make"),
    MethodSpec("patchmatch", "classical", "PatchMatch (Barnes et al. 2009), pypatchmatch", "baselines.patchmatch:make",
               check="baselines.patchmatch:unavailable_reason"),
    MethodSpec("edgeconnect", "learned", "EdgeConnect (Nazeri et al. 2019) with user-supplied official weights",
               "baselines.edgeconnect:make", check="baselines.edgeconnect:unavailable_reason"),
]}


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``; an unknown name is a ValueError that suggests close matches."""
    if name not in METHODS:
        close = difflib.get_close_matches(name, METHODS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown method {name!r}{hint}: run `dip-bench methods` to list them")
    return METHODS[name]


def create(name: str, *, seed: int = 0, device: str = "cpu", **params: Any) -> Inpainter:
    """Build method ``name``; unknown parameters are a ValueError naming the accepted ones; an unavailable method
    raises ``FileNotFoundError`` (missing weights) or ``ValueError`` with its reason."""
    spec = get_method(name)
    accepted = spec.parameters()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"method {name!r} has no parameter {', '.join(unknown)} (it takes: {', '.join(accepted)})")
    return spec.load_factory()(**spec.fixed, seed=seed, device=device, **params)
