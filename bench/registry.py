"""Method name → factory. Adding a method is one file (its factory) plus one line in ``BUILTIN``.

A factory is ``make(*, seed=0, device="cpu", **params) -> Inpainter`` (see ``dip_bench.contract``); its keyword
parameters, with their type hints and defaults, are the method's parameters. An optional availability check
``unavailable_reason(**params) -> str | None`` says why a method cannot run (missing library or weights). Factories
are imported lazily, so a broken optional dependency only disables its own method.

Methods from outside this package (a researcher's own model) come in two ways, and get the same availability
check, parameter validation and test battery as the built-in ones:

- an installed package declares an entry point in the group ``dip_bench.methods`` whose value is the factory
  (``mymodel = "mypkg.dip:make"``); the entry point's name is the method's name;
- a suite or the command line names the factory itself as ``module:attribute`` (importable from the working
  directory or an installed package), e.g. ``name = "mymodel:make"``.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from dip_bench.contract import Inpainter, UserError

ENTRY_POINT_GROUP = "dip_bench.methods"
#: seeds are 0 <= seed < SEED_LIMIT: int64 in tables and JSON, and what torch.manual_seed and numpy accept
SEED_LIMIT = 2**63


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
        """The factory; a module that fails to import (with any exception) or lacks it is a ``UserError``."""
        try:
            return _load(self.factory)
        except (ImportError, AttributeError) as error:
            raise UserError(f"method {self.name!r} ({self.factory}): cannot load the factory ({error}); fix or "
                            "reinstall the module that provides it") from None

    def unavailable_reason(self, **params: Any) -> str | None:
        """None when the method can run with ``params``, else the reason in a few words."""
        try:
            _load(self.factory)
            if self.check is None:
                return None
            return _load(self.check)(**params)
        except (ImportError, AttributeError) as error:
            return f"cannot import {self.factory.split(':')[0]}: {error}"

    def signature(self) -> dict[str, inspect.Parameter]:
        """The factory's keyword parameters (beyond ``fixed``, ``seed`` and ``device``) by name; a factory that
        cannot be called as ``make(*, seed=..., device=..., **params)`` is a ``UserError`` with the fix."""
        factory = self.load_factory()
        problem = _call_shape_problem(factory, self.fixed)
        if problem:
            raise UserError(f"method {self.name!r} ({self.factory}): the factory {problem}; define it as "
                            "make(*, seed: int = 0, device: str = \"cpu\", **params) -> Inpainter")
        parameters = inspect.signature(factory).parameters
        return {name: p for name, p in parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in self.fixed
                and name not in ("seed", "device", "net")}

    def parameters(self) -> list[str]:
        """Names of the keyword parameters the factory accepts (beyond ``fixed``)."""
        return list(self.signature())

    def type_hints(self) -> dict[str, Any]:
        """The factory's parameter annotations by name (empty where they cannot be resolved)."""
        return _type_hints(self.load_factory())

    def validate(self, params: dict[str, Any], where: str = "--param") -> None:
        """Refuse unknown parameter names and values of the wrong type (``UserError`` naming ``where``)."""
        signature = self.signature()
        missing = [name for name, p in signature.items() if p.default is p.empty and name not in params]
        if missing:
            raise UserError(f"{where}: method {self.name!r} needs parameter {', '.join(missing)} (it has no default)")
        unknown = sorted(set(params) - set(signature))
        if unknown:
            raise UserError(f"{where}: method {self.name!r} has no parameter {', '.join(unknown)} "
                            f"(it takes: {', '.join(signature) or 'none'})")
        hints = self.type_hints()
        for name, value in params.items():
            expected = hints.get(name)
            if expected is not None and not _matches(value, expected):
                raise UserError(f"{where}: {self.name} parameter {name} = {value!r} is not {_type_name(expected)}")


def _type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # noqa: BLE001 - unresolvable annotations in a user's factory: skip type checks
        return {}


def _matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` fits the annotation ``expected`` (int, float, bool, str, unions with None, Any)."""
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if expected is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    return True


def _type_name(expected: Any) -> str:
    arms = typing.get_args(expected) if typing.get_origin(expected) in (typing.Union, types.UnionType) else (expected,)
    names = {bool: "true/false", int: "an integer", float: "a finite number", str: "a string", type(None): "none"}
    return " or ".join(names.get(arm, getattr(arm, "__name__", str(arm))) for arm in arms)


def _call_shape_problem(factory: Callable[..., Any], fixed: dict[str, Any]) -> str | None:
    """What keeps ``factory(**fixed, seed=..., device=..., **params)`` from working, or None (also when the
    signature cannot be read)."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_ONLY and p.default is p.empty]
    if positional:
        return f"needs the positional argument {', '.join(positional)}"
    names = {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    refused = [name for name in ("seed", "device", *fixed) if name not in names]
    return f"does not accept the keyword {', '.join(refused)}" if refused else None


def _load(path: str) -> Callable[..., Any]:
    """``module:attribute`` or ``module:attribute.inner`` → the object. A module that raises anything at import
    (not only ``ImportError``: a ``RuntimeError``, a ``SyntaxError``, ``sys.exit``) raises ``ImportError`` with the
    exception's type and first line."""
    module, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module)
    except ImportError:
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - a user's module may raise anything
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ImportError(f"importing {module} raised {type(error).__name__}" + (f": {first}" if first else "")) \
            from None
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def _external_spec(name: str, path: str, factory: Callable[..., Any]) -> MethodSpec:
    """A spec for a factory from outside the package: its ``family`` and ``unavailable_reason`` attributes, when
    it has them, give the family and the availability check."""
    check = f"{path}.unavailable_reason" if callable(getattr(factory, "unavailable_reason", None)) else None
    doc = inspect.getdoc(factory) or ""
    description = (doc.splitlines()[0] if doc else f"external method {path}")[:120]
    return MethodSpec(name, str(getattr(factory, "family", "external")), description, path, check)


_DIP = "dip_bench.dip.inpainter:DIPInpainter"
BUILTIN: dict[str, MethodSpec] = {spec.name: spec for spec in [
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
    MethodSpec("telea", "classical", "OpenCV fast marching (Telea 2004), cv2.inpaint",
               "dip_bench.baselines.opencv:make_telea"),
    MethodSpec("ns", "classical", "OpenCV Navier-Stokes (Bertalmio et al. 2001), cv2.inpaint",
               "dip_bench.baselines.opencv:make_ns"),
    MethodSpec("biharmonic", "classical", "biharmonic equation, skimage inpaint_biharmonic (slow on large holes)",
               "dip_bench.baselines.biharmonic:make"),
    MethodSpec("patchmatch", "classical", "PatchMatch (Barnes et al. 2009), pypatchmatch",
               "dip_bench.baselines.patchmatch:make", check="dip_bench.baselines.patchmatch:unavailable_reason"),
    MethodSpec("edgeconnect", "learned", "EdgeConnect (Nazeri et al. 2019) with user-supplied official weights",
               "dip_bench.baselines.edgeconnect:make", check="dip_bench.baselines.edgeconnect:unavailable_reason"),
]}


@cache
def _entry_point_methods() -> dict[str, MethodSpec]:
    """Methods that installed packages register in the entry-point group ``dip_bench.methods``."""
    specs: dict[str, MethodSpec] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILTIN:
            raise UserError(f"entry point {entry.name!r} = {entry.value!r} ({ENTRY_POINT_GROUP}): the name is taken "
                            "by a built-in method; rename it in that package's metadata")
        try:
            factory = _load(entry.value)
        except Exception:  # noqa: BLE001 - a broken package disables only its own method, with the reason
            specs[entry.name] = MethodSpec(entry.name, "external", f"entry point {entry.value}", entry.value)
            continue
        specs[entry.name] = _external_spec(entry.name, entry.value, factory)
    return specs


def all_methods() -> dict[str, MethodSpec]:
    """Built-in methods, then those of installed packages (entry points), by name."""
    return {**BUILTIN, **_entry_point_methods()}


#: the built-in methods (entry-point methods are added by ``all_methods``)
METHODS = BUILTIN


def _factory_spec(path: str) -> MethodSpec:
    """A ``module:attribute`` factory as a spec; the working directory is importable, as with ``python -m``."""
    module, _, attribute = path.partition(":")
    if not module or not attribute.isidentifier():
        raise UserError(f"method {path!r}: a factory path is module:attribute, e.g. mymodel:make")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        factory = _load(path)
    except ImportError as error:
        hint = "fix that module" if str(error).startswith(f"importing {module} raised") else \
            "run from the folder that holds it or install its package"
        raise UserError(f"method {path!r}: cannot import {module} ({error}); {hint}") from None
    except AttributeError:
        raise UserError(f"method {path!r}: module {module} has no attribute {attribute}") from None
    if not callable(factory):
        raise UserError(f"method {path!r}: {attribute} is not callable; give a factory make(*, seed, device, ...)")
    return _external_spec(path, path, factory)


def get_method(name: str) -> MethodSpec:
    """The spec of ``name`` (a registered name or a ``module:attribute`` factory); an unknown name is a
    ``UserError`` that suggests close matches."""
    if ":" in name:
        return _factory_spec(name)
    methods = all_methods()
    if name not in methods:
        close = difflib.get_close_matches(name, methods, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(f"unknown method {name!r}{hint}: run `dip-bench methods` to list them, or name your own "
                        "factory as module:attribute")
    return methods[name]


def create(name: str, *, seed: int = 0, device: str = "cpu", **params: Any) -> Inpainter:
    """Build method ``name``; unknown parameters or values of the wrong type are a ``UserError`` naming the accepted
    ones; an unavailable method raises ``UserError`` with its reason."""
    spec = get_method(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise UserError(f"--seed {seed!r}: a seed is an integer in 0..2**63-1")
    spec.validate(params)
    return spec.load_factory()(**spec.fixed, seed=seed, device=device, **params)
