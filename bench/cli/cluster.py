"""The executor options of ``dip-bench run`` (``bench.executor``): ``--executor``, ``--jobs``, ``--slurm-*``,
``--cluster-config``, ``--attach``, merged into one ``executor.Config``: the command line over ``--cluster-config
FILE.toml`` over the suite's ``[executor]`` table, each value checked."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dip_bench.bench.executor import BACKENDS, Config
from dip_bench.bench.cli.args import key_values, toml_value
from dip_bench.contract import UserError, is_int, read_toml

CONFIG_KEYS = ("executor", "jobs", "slurm_partition", "slurm_gpus_per_job", "slurm_time", "slurm_param")
#: submitit parameters that have their own option (``--slurm-param`` may not set them)
OWN_PARAMS = {"partition": "--slurm-partition", "gpus_per_node": "--slurm-gpus-per-job", "time": "--slurm-time",
              "timeout_min": "--slurm-time"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The executor options of ``dip-bench run``."""
    group = parser.add_argument_group("cluster (submitit; see bench/executor.py)")
    group.add_argument("--executor", choices=BACKENDS,
                       help="inprocess (default): rows run in this process; slurm: a job array through submitit; "
                            "local: the same tasks as processes of this machine")
    group.add_argument("--jobs", type=int, help="number of tasks of the job array (default: one per net and size)")
    group.add_argument("--slurm-partition", help="Slurm partition")
    group.add_argument("--slurm-gpus-per-job", type=int, help="GPUs per task (default 1 on cuda/auto, else 0)")
    group.add_argument("--slurm-time", type=int, help="time limit per task in minutes (default from the estimate)")
    group.add_argument("--slurm-param", action="append", metavar="KEY=VALUE",
                       help="any other submitit SlurmExecutor parameter (account, qos, constraint, mem_gb, "
                            "cpus_per_task, array_parallelism, ...); repeatable")
    group.add_argument("--cluster-config", type=Path, help="TOML file with an [executor] table of these keys")
    group.add_argument("--attach", action="store_true",
                       help="watch the tasks submitted earlier to --out, then merge and report")


def _table(path: Path, where: str, required: bool) -> dict[str, Any]:
    """The ``[executor]`` table of a TOML file (``{}`` when it has none and none is ``required``)."""
    raw = read_toml(path, where)
    table = raw.get("executor")
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        raise UserError(f"{where} {path}: needs an [executor] table (keys: {', '.join(CONFIG_KEYS)})")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise UserError(f"{path}: [executor]: unknown key {', '.join(unknown)} (allowed: {', '.join(CONFIG_KEYS)})")
    return table


def resolve_config(args: argparse.Namespace, suite_path: Path) -> Config:
    """Command line over ``--cluster-config`` over the suite's ``[executor]`` table, each value checked."""
    merged: dict[str, Any] = {"slurm_param": {}}
    sources = [(_table(suite_path, "--suite", False), f"{suite_path}: [executor]")]
    if args.cluster_config is not None:
        sources.append((_table(args.cluster_config, "--cluster-config", True),
                        f"{args.cluster_config}: [executor]"))
    cli = {"executor": args.executor, "jobs": args.jobs, "slurm_partition": args.slurm_partition,
           "slurm_gpus_per_job": args.slurm_gpus_per_job, "slurm_time": args.slurm_time,
           "slurm_param": key_values(args.slurm_param, "--slurm-param", "account=my-lab", toml_value)}
    sources.append((cli, "--"))
    for table, where in sources:
        for key, value in table.items():
            if value is None:
                continue
            _check(key, value, where)
            if key == "slurm_param":
                merged["slurm_param"] = {**merged["slurm_param"], **value}
            else:
                merged[key] = value
    config = Config(backend=merged.get("executor", "inprocess"), jobs=merged.get("jobs"),
                    partition=merged.get("slurm_partition"), gpus_per_job=merged.get("slurm_gpus_per_job"),
                    time_min=merged.get("slurm_time"), params=merged["slurm_param"])
    given = [option for option, value in (("--jobs", args.jobs), ("--slurm-partition", args.slurm_partition),
                                          ("--slurm-gpus-per-job", args.slurm_gpus_per_job),
                                          ("--slurm-time", args.slurm_time), ("--slurm-param", args.slurm_param),
                                          ("--attach", args.attach or None)) if value is not None]
    if config.backend == "inprocess" and given:
        raise UserError(f"{given[0]} needs --executor slurm or local (rows run in this process by default)")
    return config


def _check(key: str, value: Any, where: str) -> None:
    """One executor setting, by its key; ``where`` is ``--`` for the command line or the file's table."""
    shown = f"--{key.replace('_', '-')}" if where == "--" else f"{where} {key}"
    if key == "executor" and value not in BACKENDS:
        raise UserError(f"{shown} = {value!r}: choose {', '.join(BACKENDS)}")
    counts = {"jobs": 1, "slurm_gpus_per_job": 0, "slurm_time": 1}
    if key in counts and not is_int(value, counts[key]):
        raise UserError(f"{shown} = {value!r}: give an integer >= {counts[key]}")
    if key == "slurm_partition" and (not isinstance(value, str) or not value):
        raise UserError(f"{shown} = {value!r}: give a partition name")
    if key == "slurm_param":
        if not isinstance(value, dict):
            raise UserError(f"{shown}: must be a table of KEY = VALUE")
        for name in value:
            if name in OWN_PARAMS:
                option = OWN_PARAMS[name]
                raise UserError(f"{shown}: set {name} with {option} (or {option[2:].replace('-', '_')} in "
                                "[executor]), not as a parameter")
