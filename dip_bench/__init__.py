"""dip-bench: a benchmark and comparison suite for Deep Image Prior inpainting.

Installed import names live under this one namespace so that they never clash with other packages (Hugging Face
``datasets``, PyPI's ``bench``, ``dip``, ``baselines``). The repository keeps its folders; ``pyproject.toml`` maps them:

- ``dip_bench.contract`` (this folder): the call contract every method and the harness share;
- ``dip_bench.dip`` (``dip/``): the DIP nets, inputs, presets and fitting loop;
- ``dip_bench.baselines`` (``baselines/``): classical methods and EdgeConnect;
- ``dip_bench.datasets`` (``datasets/``): the built-in image/mask set, mask generators, file readers;
- ``dip_bench.bench`` (``bench/``): registry, suites, runner, results, report, check, profiler and CLI.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dip-bench")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without installing
    __version__ = "0+unknown"
