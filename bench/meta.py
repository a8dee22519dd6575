"""What a result was measured on: versions, device, CPU, git commit, date, command line, and the *fingerprint*.

The fingerprint is the part of the environment that decides the numbers of a run bit for bit: the device and its
vector code (the CPU model, the instruction set oneDNN and ATen actually use, the thread count; or the GPU, CUDA and
cuDNN), the precision settings, and the versions of the packages that compute or score a result
(``RESULT_PACKAGES``) -- and of no other package: a test runner, a plotting or table library, or any of their
dependencies cannot turn an exact check into a statistical one. Two runs with equal fingerprints give byte-identical
CPU results for a seed; ``dip-bench check`` compares exactly then, and statistically otherwise (see
``bench.reference``). The git commit is recorded but is *not* part of the fingerprint: the code is what a regression
check tests.

pandas is left out on purpose: it decides no stored number (a run's rows are read from their JSON files, the
reference CSV is read round-trip, and the exact mode compares row values, not pandas aggregates).
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from dip_bench.bench.registry import BUILTIN

PACKAGES = ("dip-bench", "torch", "numpy", "scipy", "scikit-image", "opencv-python-headless", "pandas", "matplotlib",
            "pillow", "pypatchmatch")
#: what computes each part of a stored number -> the distributions (PEP 503 names) whose code does it: every row's
#: inputs (images decoded and resized, masks, the output PNG whose bytes are hashed), its scores, and each built-in
#: method's output (by method name, or by family for the DIP nets). Transitive where it computes: scipy under
#: skimage's SSIM filter and biharmonic solver, torchvision under LPIPS.
RESULT_PACKAGES: dict[str, tuple[str, ...]] = {
    "inputs": ("numpy", "pillow", "opencv-python-headless"),  # OpenCV decodes 16-bit colour images
    "metrics": ("numpy", "scipy", "scikit-image"),
    "lpips": ("lpips", "torchvision", "torch"),  # the optional LPIPS column, where the lpips package is installed
    "dip": ("torch", "numpy"),
    "telea": ("opencv-python-headless", "numpy"),
    "ns": ("opencv-python-headless", "numpy"),
    "biharmonic": ("scikit-image", "scipy", "numpy"),
    "patchmatch": ("pypatchmatch", "numpy", "pillow"),
    "edgeconnect": ("torch", "scikit-image", "scipy", "numpy"),
}
#: packages whose version can change a stored number: the fingerprint's packages
NUMERIC_PACKAGES = tuple(sorted({name for names in RESULT_PACKAGES.values() for name in names}))
#: fingerprint fields named first when two fingerprints differ (the usual reasons)
MAIN_FIELDS = ("device", "cpu", "gpu", "onednn_isa", "aten_cpu_capability", "threads", "torch")
_ISA_PROBE = ("import torch\n"
              "with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):\n"
              "    torch.nn.Conv2d(32, 32, 3)(torch.zeros(1, 32, 64, 64)).sum().backward()\n")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def repository_root() -> Path:
    """The checkout this package runs from (the folder above ``bench/``)."""
    return Path(__file__).resolve().parents[1]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repository_root()), *args], capture_output=True, text=True, timeout=10)


def git_state() -> tuple[str, bool]:
    """``(short commit, dirty)``: dirty when a tracked file differs from the commit; ``("unknown", False)`` outside
    a git checkout."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return "unknown", False
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return head.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def git_commit() -> str:
    """Short commit, with ``-dirty`` when tracked files differ from it."""
    commit, dirty = git_state()
    return commit + ("-dirty" if dirty else "")


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}"


def deciding_packages(method: str, family: str | None = None) -> tuple[str, ...]:
    """The packages whose versions can change a row of ``method`` (of ``family``): its own computation, its inputs
    and its scores; every numeric package for a method this module does not know (an external one)."""
    if family is None and method in BUILTIN:
        family = BUILTIN[method].family
    own = RESULT_PACKAGES.get(method) or RESULT_PACKAGES.get(family or "")
    if own is None:
        return NUMERIC_PACKAGES
    scores = RESULT_PACKAGES["metrics"] + (RESULT_PACKAGES["lpips"] if package_versions(("lpips",))["lpips"] else ())
    return tuple(sorted({*own, *RESULT_PACKAGES["inputs"], *scores}))


def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


@functools.cache
def onednn_isa() -> str:
    """The instruction set oneDNN uses in this environment, as oneDNN itself reports it (e.g. ``Intel AVX2``), from a
    short subprocess with oneDNN's verbose mode (it honours ``ONEDNN_MAX_CPU_ISA`` as the runs do)."""
    try:
        probe = subprocess.run([sys.executable, "-c", _ISA_PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({type(error).__name__})"
    found = re.search(r"info,cpu,isa:(.+)", probe.stdout)
    return found.group(1).strip() if found else "unknown (oneDNN printed no ISA)"


def onednn_version() -> str | None:
    found = re.search(r"(?:MKL-DNN|oneDNN)\S*\s+v([\w.]+)", torch.__config__.show())
    return found.group(1) if found else None


def precision_settings() -> dict[str, Any]:
    """The global float32 precision switches (TF32 for matmul and cuDNN convolutions; bf16 is per fit, a method
    parameter, so it is part of a configuration, not of the environment)."""
    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_conv_fp32_precision": conv,
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def fingerprint(device: torch.device) -> dict[str, Any]:
    """The facts that decide a run's numbers bit for bit (see the module docstring); flat, JSON-ready."""
    cuda = device.type == "cuda"
    return {
        "device": device.type,
        "cpu": cpu_name(),
        "onednn_isa": onednn_isa() if not cuda else None,
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "onednn_fpmath_mode": os.environ.get("ONEDNN_DEFAULT_FPMATH_MODE"),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "onednn": onednn_version(),
        "precision": precision_settings(),
        "python": sys.version.split()[0],
        "packages": package_versions(NUMERIC_PACKAGES),
    }


def fingerprint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``"threads 2 -> 1"``-style lines for every fingerprint field that differs (nested fields dotted); package
    versions only of ``NUMERIC_PACKAGES`` (a fingerprint stored by an older version may list others)."""
    def flat(value: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): value}

    def kept(value: dict[str, Any]) -> dict[str, Any]:
        return {key: item for key, item in flat(value).items()
                if not key.startswith("packages.") or key.removeprefix("packages.") in NUMERIC_PACKAGES}

    left, right = kept(a), kept(b)
    order = lambda key: (MAIN_FIELDS.index(key) if key in MAIN_FIELDS else len(MAIN_FIELDS), key)  # noqa: E731
    return [f"{key} {left.get(key)!r} -> {right.get(key)!r}" for key in sorted(set(left) | set(right), key=order)
            if left.get(key) != right.get(key)]


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and machine facts for ``meta.json``, with the ``fingerprint`` that ``check`` compares."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": device_name(device),
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "versions": package_versions(PACKAGES),
        "git_commit": git_commit(),
        "command": portable_command(sys.argv[1:]),
        "fingerprint": fingerprint(device),
    }


def portable_command(argv: list[str]) -> str:
    """``dip-bench ARGS`` with absolute paths under the current folder or the checkout written relative to it, so a
    command stored in a committed file names no machine's folders."""
    def portable(argument: str) -> str:
        prefix, sep, value = argument.partition("=") if argument.startswith("--") else ("", "", argument)
        path = Path(value)
        if path.is_absolute():
            for root in (Path.cwd(), repository_root()):
                if path.resolve().is_relative_to(root):
                    value = str(path.resolve().relative_to(root)) or "."
                    break
        return prefix + sep + value

    return " ".join(["dip-bench", *(portable(argument) for argument in argv)])
