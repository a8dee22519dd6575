"""pytest-benchmark setup for ``benchmarks/`` (not collected by the default ``pytest`` run, whose testpaths is
``tests/``). Run: ``pytest benchmarks/ --benchmark-enable`` (the repository's addopts disable benchmarks, so without
the flag each benchmark runs once as a smoke test). The saved machine info gains the CPU model, torch version and
torch's thread count."""
from __future__ import annotations

from typing import Any

import torch

from dip_bench.bench.meta import cpu_name


def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    machine_info["cpu_model"] = cpu_name()
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
