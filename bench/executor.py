"""``dip-bench run --executor slurm | local``: the rows of a run go out as a submitit job array and come back into
the same run folder.

The rows to run are cut into ``--jobs`` tasks, balanced by their estimated time (``bench.estimate``) and grouped so
that rows of one net (method and preset) and size share a task. Each task loads the suite again on its node, picks
its rows by id (``bench.results``: the same suite gives the same ids everywhere) and runs them with
``bench.runner.run_rows`` into the run folder; every finished row is its own atomically written file, so all tasks
write one folder at once. The submitting command prints the plan, watches ``rows/`` with a progress bar and, when
every task has ended, turns the rows of a task that failed, timed out or was preempted without writing them into
``failed: <reason>`` rows (the reason from submitit), rebuilds the tables and writes the report. ``--resume`` then
submits exactly the missing and failed rows.

``slurm`` submits to a Slurm cluster (``sbatch``, one array; ``Ctrl-C`` detaches and the tasks keep running:
``--attach`` watches them again). The partition is checked with ``sinfo`` before anything is submitted. A task's
state comes from ``squeue`` while the controller holds it and from ``sacct`` (through submitit) after: a cluster
without an accounting database works too (``task_states``). Tested against a real single-node Slurm
(``.ci/slurm.sh``, ``tests/test_slurm.py``). ``local`` runs the same tasks as processes of this machine through
submitit's local executor (GPUs hidden unless ``--slurm-gpus-per-job`` asks for them; ``Ctrl-C`` stops them).
Options come from the command line, else ``--cluster-config FILE.toml``, else the suite's ``[executor]`` table,
with the keys::

    [executor]
    executor = "slurm"            # inprocess (default) | local | slurm
    jobs = 16                     # tasks of the array (default: one per net and size, at most the rows)
    slurm_partition = "gpu"
    slurm_gpus_per_job = 1        # default 1 when the device is cuda or auto, else 0
    slurm_time = 240              # minutes per task (default: 1.5 x the longest task's estimate + 10 min)
    [executor.slurm_param]        # any other submitit SlurmExecutor parameter
    array_parallelism = 8
    account = "my-lab"

The submitit folder (``sbatch`` file, pickles, logs per task) and ``submission.json`` (job ids, rows of each task)
live in ``<run folder>/executor/``. submitit is optional: ``pip install 'dip-bench[slurm]'``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dip_bench.bench.atomic import write_text
from dip_bench.bench.results import ROWS, write_row
from dip_bench.bench.suite import Row, expand_rows, load_pairs, load_suite, tomllib
from dip_bench.contract import UserError

BACKENDS = ("inprocess", "local", "slurm")
CONFIG_KEYS = ("executor", "jobs", "slurm_partition", "slurm_gpus_per_job", "slurm_time", "slurm_param")
#: submitit parameters that have their own option (``--slurm-param`` may not set them)
OWN_PARAMS = {"partition": "--slurm-partition", "gpus_per_node": "--slurm-gpus-per-job", "time": "--slurm-time",
              "timeout_min": "--slurm-time"}
STATE_DIR = "executor"
RECORD = "submission.json"
POLL_S = {"local": 0.5, "slurm": 15.0}
#: Slurm states of a task that has not ended yet (PREEMPTED: submitit requeues it)
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "PREEMPTED"}
#: default time limit of a task: this factor times its longest estimate plus a margin, never under the floor
TIME_FACTOR, TIME_MARGIN_MIN, TIME_FLOOR_MIN = 1.5, 10, 30


# --- options -------------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Config:
    """The executor settings of one run (``None`` = the default worked out from the rows)."""

    backend: str = "inprocess"
    jobs: int | None = None
    partition: str | None = None
    gpus_per_job: int | None = None
    time_min: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _value(text: str) -> Any:
    """``--slurm-param`` value: TOML scalar when it parses as one (``8``, ``1.5``, ``true``, ``"x"``), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _table(path: Path, where: str, required: bool) -> dict[str, Any]:
    """The ``[executor]`` table of a TOML file (``{}`` when it has none and none is ``required``)."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{where} {path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{where} {path}: not valid TOML ({str(error).splitlines()[0]})") from None
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
           "slurm_param": dict(_key_value(item) for item in args.slurm_param or [])}
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


def _key_value(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--slurm-param {item!r}: give KEY=VALUE, e.g. --slurm-param account=my-lab")
    return key.strip(), _value(value.strip())


def _check(key: str, value: Any, where: str) -> None:
    """One executor setting, by its key; ``where`` is ``--`` for the command line or the file's table."""
    shown = f"--{key.replace('_', '-')}" if where == "--" else f"{where} {key}"
    if key == "executor" and value not in BACKENDS:
        raise UserError(f"{shown} = {value!r}: choose {', '.join(BACKENDS)}")
    counts = {"jobs": 1, "slurm_gpus_per_job": 0, "slurm_time": 1}
    if key in counts and (isinstance(value, bool) or not isinstance(value, int) or value < counts[key]):
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


def selected(args: argparse.Namespace) -> bool:
    """Whether ``dip-bench run`` goes through an executor (``--executor``, ``--cluster-config`` or the suite's
    ``[executor]`` table) rather than running rows in this process."""
    return resolve_config(args, load_suite(args.suite).path).backend != "inprocess"


def import_submitit(backend: str) -> Any:
    try:
        import submitit
    except ImportError:
        raise UserError(f"--executor {backend} needs submitit: pip install 'dip-bench[slurm]'") from None
    return submitit


# --- tasks ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """What one task needs to find its rows again on its node: the suite file, data root and seeds as the submitting
    command saw them, the device to resolve there, the run folder, its row ids and the stamp of each row file at
    submission (``row_stamp``; ``None``: no file), so that a requeued task skips the rows it already wrote."""

    suite: str
    data_root: str | None
    seeds: tuple[int, ...] | None
    device: str
    out: str
    row_ids: tuple[str, ...]
    baseline: dict[str, str | None]


def row_stamp(out: Path, rid: str) -> str | None:
    """Inode and modification time of row ``rid``'s file (``None``: no file); a rewrite changes it (``os.replace``
    gives a new inode even where mtimes are coarse)."""
    try:
        stat = (Path(out) / ROWS / f"{rid}.json").stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_ino}:{stat.st_mtime_ns}"


def written(out: Path, rid: str, baseline: dict[str, str | None]) -> bool:
    """Whether row ``rid`` was written since the submission (its file is new or another than at submission)."""
    now = row_stamp(out, rid)
    return now is not None and now != baseline.get(rid)


class Task:
    """The callable submitted for each task; checkpointable: on preemption or timeout submitit requeues it and
    the rerun skips the rows already written."""

    def __call__(self, spec: TaskSpec) -> dict[str, int]:
        from dip_bench.bench.runner import run_rows
        from dip_bench.contract import resolve_device

        suite = load_suite(spec.suite)
        out = Path(spec.out)
        pairs = load_pairs(suite, Path(spec.data_root) if spec.data_root else None, run_dir=out)
        by_id = {row.id: row for row in expand_rows(suite, pairs, seeds=spec.seeds)}
        missing = [rid for rid in spec.row_ids if rid not in by_id]
        if missing:
            raise RuntimeError(f"{len(missing)} rows of this task are not in the suite as loaded on this node, e.g. "
                               f"{missing[0]}: the suite file, data or library versions differ from the submitting "
                               "machine")
        todo = [by_id[rid] for rid in spec.row_ids if not written(out, rid, spec.baseline)]
        results = run_rows(todo, str(resolve_device(spec.device)), out)
        counts: dict[str, int] = {}
        for result in results:
            status = result["status"].split(":")[0]
            counts[status] = counts.get(status, 0) + 1
        return counts

    def checkpoint(self, spec: TaskSpec) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, spec)


def net_key(row: Row) -> tuple[str, str, str]:
    """Rows with the same key build the same net: method, preset and image size."""
    h, w = row.pair.image.shape[:2]
    return row.method.name, row.method.preset, f"{w}x{h}"


def group_rows(rows: Sequence[Row], jobs: int | None, cost: Callable[[Row], float]) -> list[list[Row]]:
    """Cut ``rows`` into at most ``jobs`` tasks of balanced cost (seconds), keeping rows of one net and size
    together: each net's rows are split into consecutive chunks of about equal cost, at most half the mean task
    cost, and the chunks go, largest first, to a task that already holds that net while it stays within the mean,
    else to the least loaded task (longest-processing-time rule). ``jobs=None``: one task per net and
    size. Deterministic; each task keeps the suite's row order; empty tasks are dropped."""
    groups: dict[tuple[str, str, str], list[tuple[int, Row]]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(net_key(row), []).append((index, row))
    jobs = min(jobs or len(groups), len(rows))
    costs = {index: max(cost(row), 1e-3) for index, row in enumerate(rows)}
    cap = sum(costs.values()) / jobs
    chunks: list[tuple[tuple[str, str, str], list[tuple[int, Row]]]] = []
    for key, members in groups.items():
        group_cost = sum(costs[i] for i, _ in members)
        target = group_cost / math.ceil(2 * group_cost / cap - 1e-9)
        chunk: list[tuple[int, Row]] = []
        for member in members:
            if chunk and sum(costs[i] for i, _ in chunk) + costs[member[0]] / 2 > target * (1 + 1e-9):
                chunks.append((key, chunk))
                chunk = []
            chunk.append(member)
        chunks.append((key, chunk))
    chunks.sort(key=lambda c: (-sum(costs[i] for i, _ in c[1]), c[1][0][0]))
    tasks: list[list[tuple[int, Row]]] = [[] for _ in range(jobs)]
    nets: list[set[tuple[str, str, str]]] = [set() for _ in range(jobs)]
    loads = [0.0] * jobs
    for key, chunk in chunks:
        chunk_cost = sum(costs[i] for i, _ in chunk)
        same_net = [j for j in range(jobs) if key in nets[j] and loads[j] + chunk_cost <= cap * (1 + 1e-9)]
        k = min(same_net or range(jobs), key=lambda j: (loads[j], j))
        tasks[k].extend(chunk)
        nets[k].add(key)
        loads[k] += chunk_cost
    return [[row for _, row in sorted(task, key=lambda member: member[0])] for task in tasks if task]


# --- submitting, watching, settling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """The jobs of one submission and what each was asked to do (``tasks[k]``: row ids of job ``k``)."""

    backend: str
    folder: Path
    jobs: list[Any]
    tasks: list[list[str]]
    baseline: dict[str, str | None]

    @property
    def array_id(self) -> str:
        return str(self.jobs[0].job_id).split("_")[0]


def make_executor(config: Config, folder: Path, gpus: int, time_min: int, tasks: int, name: str) -> Any:
    """A submitit ``SlurmExecutor`` or ``LocalExecutor`` with the run's settings; ``UserError`` for parameters
    submitit does not know."""
    submitit = import_submitit(config.backend)
    if config.backend == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=time_min, gpus_per_node=gpus)
        return executor
    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(**{"job_name": name, "time": time_min, "gpus_per_node": gpus,
                                  "array_parallelism": tasks,
                                  **({"partition": config.partition} if config.partition else {}), **config.params})
    return executor


def partitions() -> list[str]:
    """The partitions of this Slurm cluster (``sinfo``); ``UserError`` when the controller does not answer."""
    try:
        answer = subprocess.run(["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(f"--executor slurm: sinfo failed ({error}); is the Slurm controller up?") from None
    if answer.returncode != 0:
        why = (answer.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"--executor slurm: sinfo failed ({why}); is the Slurm controller up?")
    return sorted(set(answer.stdout.split()))


def check_backend(config: Config) -> None:
    """Before any work: submitit is installed, Slurm is there (``srun``), has the partition and submitit knows every
    ``--slurm-param``."""
    submitit = import_submitit(config.backend)
    if config.backend != "slurm":
        return
    valid = submitit.SlurmExecutor._valid_parameters()
    for name in sorted(config.params):
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (it takes: {', '.join(sorted(valid))})"
            raise UserError(f"--slurm-param {name}: submitit's SlurmExecutor has no such parameter{hint}")
    if shutil.which("srun") is None:
        raise UserError("--executor slurm: no Slurm here (srun not found); run on the cluster's login node, or use "
                        "--executor local to run the same tasks on this machine")
    if config.partition is not None:
        known = partitions()
        if config.partition not in known:
            raise UserError(f"--slurm-partition {config.partition}: this cluster has no such partition (it has: "
                            f"{', '.join(known) or 'none'})")


def submit(executor: Any, config: Config, specs: list[TaskSpec], out: Path, baseline: dict[str, str | None]
           ) -> Submission:
    """Submit one task per spec as a job array and record it in ``<out>/executor/submission.json``."""
    jobs = executor.map_array(Task(), specs)
    submission = Submission(config.backend, Path(executor.folder), jobs, [list(s.row_ids) for s in specs], baseline)
    write_text(out / STATE_DIR / RECORD, json.dumps({
        "backend": config.backend, "folder": str(submission.folder), "job_ids": [str(j.job_id) for j in jobs],
        "tasks": submission.tasks, "baseline": baseline, "command": " ".join(["dip-bench", *sys.argv[1:]]),
        "submitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}, indent=1) + "\n")
    return submission


def load_submission(out: Path) -> Submission:
    """The last submission recorded in ``out`` with its jobs re-attached (Slurm jobs by id)."""
    path = out / STATE_DIR / RECORD
    if not path.is_file():
        raise UserError(f"--attach: {out} holds no submission ({path} not found); submit with --executor slurm")
    record = json.loads(path.read_text())
    if record["backend"] != "slurm":
        raise UserError(f"--attach: the tasks of {out} ran with the {record['backend']} executor, which stops with "
                        "its command; use --resume to run what is missing")
    submitit = import_submitit("slurm")
    jobs = [submitit.SlurmJob(folder=record["folder"], job_id=job_id) for job_id in record["job_ids"]]
    return Submission("slurm", Path(record["folder"]), jobs, record["tasks"], record["baseline"])


def queue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """The Slurm state of each task of these job arrays that the controller still holds (queued, running, or ended
    less than ``MinJobAge``, 300 s by default, ago), from ``squeue``, keyed by submitit's job id (``12_3``); a task
    it has forgotten is absent. ``None`` when squeue does not answer."""
    arrays = sorted({str(job_id).split("_")[0] for job_id in job_ids})
    try:
        answer = subprocess.run(["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T",
                                 f"--jobs={','.join(arrays)}"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if answer.returncode != 0:  # "Invalid job id specified": the controller has forgotten every one of them
        return {} if "Invalid job id" in answer.stderr else None
    return dict(line.split("|", 1) for line in answer.stdout.split() if "|" in line)


def task_states(submission: Submission) -> list[tuple[bool, str]]:
    """Whether each task has ended, and its state.

    submitit reads Slurm states from ``sacct``, which a cluster without an accounting database disables: there
    submitit reports every task UNKNOWN and never sees one end that wrote no result (cancelled, killed, out of
    memory, timed out). So a Slurm task has ended when submitit holds its outcome (result file: state FINISHED);
    else the controller's state (``squeue``) says whether it is still active; a task the controller has forgotten
    has ended, with sacct's state through submitit (UNKNOWN without accounting). Only where squeue does not answer
    does submitit's own view decide. Local tasks: submitit's view."""
    jobs = submission.jobs
    if submission.backend != "slurm":
        return [(job.done(), str(job.state)) for job in jobs]
    queue = queue_states([job.job_id for job in jobs])
    states = []
    for job in jobs:
        if job.paths.result_pickle.exists():
            states.append((True, "FINISHED"))
        elif queue is None:
            states.append((job.done(), str(job.state)))
        elif str(job.job_id) in queue:
            states.append((queue[str(job.job_id)] not in ACTIVE, queue[str(job.job_id)]))
        else:
            states.append((True, f"{job.state}, no longer in the queue"))
    return states


def watch(submission: Submission, out: Path, poll_s: float) -> None:
    """A bar of rows written since the submission, with the tasks' states (``tasks: 3 RUNNING, 5 PENDING``), until
    every task has ended."""
    ids = [rid for task in submission.tasks for rid in task]
    with tqdm(total=len(ids), desc=f"rows ({len(submission.jobs)} tasks)", unit="row", dynamic_ncols=True) as bar:
        while True:
            states = task_states(submission)
            finished = all(ended for ended, _ in states)
            counts: dict[str, int] = {}
            for _, state in states:
                counts[state.split(",")[0]] = counts.get(state.split(",")[0], 0) + 1
            bar.set_postfix_str("tasks: " + ", ".join(f"{n} {state}" for state, n in sorted(
                counts.items(), key=lambda item: (-item[1], item[0]))), refresh=False)
            bar.update(sum(written(out, rid, submission.baseline) for rid in ids) - bar.n)
            if finished:
                return
            time.sleep(poll_s)


def task_failure(job: Any, state: str) -> str:
    """Why an ended task did not write all its rows, in one line: the exception it raised (submitit's outcome),
    else its Slurm ``state`` (from ``task_states``)."""
    if job.paths.result_pickle.exists():  # submitit has its outcome: exception() does not wait
        try:
            error = job.exception()
        except Exception as problem:  # noqa: BLE001 - submitit cannot read the outcome: say so
            error = problem
        if error is None:
            return f"ended ({state}) without writing this row"
        text = str(error)
        if "failed during processing with trace" in text:
            lines = [line for line in text.split("----------------------")[1].splitlines() if line.strip()]
            return f"raised {lines[-1].strip()[:200]}" if lines else f"failed ({state})"
    return f"stopped before writing this row (state {state}, no result: cancelled, killed, out of memory, timed " \
           f"out or preempted; log {job.paths.stderr})"


def settle(submission: Submission, rows_by_id: dict[str, Row], out: Path) -> int:
    """Write a ``failed: task K (job ID) <reason>`` row for every row of an ended task that has no new row file;
    returns how many."""
    lost = 0
    states = None
    for k, (job, task) in enumerate(zip(submission.jobs, submission.tasks)):
        missing = [rid for rid in task if not written(out, rid, submission.baseline)]
        if not missing:
            continue
        states = states or task_states(submission)
        reason = f"task {k} (job {job.job_id}) {task_failure(job, states[k][1])}"
        for rid in missing:
            write_failed(out, rows_by_id[rid], reason)
        lost += len(missing)
    return lost


def write_failed(out: Path, row: Row, reason: str) -> None:
    """A ``failed: reason`` row file for a row whose task never wrote it."""
    from dip_bench.bench.runner import row_fields

    write_row(out, row.definition(), {**row_fields(row, "?"), "status": f"failed: {reason}"})


def still_running(out: Path) -> Submission | None:
    """The recorded Slurm submission of ``out`` when some of its tasks have not ended, else None."""
    path = out / STATE_DIR / RECORD
    if not path.is_file() or json.loads(path.read_text()).get("backend") != "slurm":
        return None
    submission = load_submission(out)
    return submission if not all(ended for ended, _ in task_states(submission)) else None


# --- the command ---------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """``dip-bench run`` through an executor: check, plan, submit, watch, settle, merge, report."""
    from dip_bench.bench.cli import run as cmd_run
    from dip_bench.bench.atomic import check_writable_dir
    from dip_bench.bench.estimate import describe, estimate, row_seconds
    from dip_bench.contract import resolve_device

    suite = load_suite(args.suite)
    config = resolve_config(args, suite.path)
    check_backend(config)
    requested = args.device or suite.device
    if requested != "auto" and not requested.startswith(("cpu", "cuda")):
        raise UserError(f"--device {requested!r}: choose auto, cpu, cuda or cuda:N")
    wants_gpu = requested != "cpu"
    if config.backend == "local":
        wants_gpu = resolve_device(requested).type == "cuda"
    gpus = config.gpus_per_job if config.gpus_per_job is not None else int(wants_gpu)
    if requested.startswith("cuda") and gpus == 0:
        raise UserError(f"--device {requested} with --slurm-gpus-per-job 0: the tasks would have no GPU; ask for "
                        "one or use --device cpu")
    # rows are checked and methods built here on the CPU; each task resolves the device on its own node
    every_row, rows, out, _, meta = cmd_run.plan(argparse.Namespace(
        **{**vars(args), "device": "cpu", "resume": args.resume or args.attach}))
    out = out.resolve()
    check_writable_dir(out, "--out")
    rows_by_id = {row.id: row for row in every_row}
    if args.attach:
        submission = load_submission(out)
        unknown = [rid for task in submission.tasks for rid in task if rid not in rows_by_id]
        if unknown:
            raise UserError(f"--attach: {len(unknown)} submitted rows are not in this suite (e.g. {unknown[0]}); give "
                            "the --suite, --seeds and --data-root of the submitting command")
    else:
        running = still_running(out) if args.resume or args.overwrite else None
        if running is not None:
            raise UserError(f"--out {out}: tasks of job array {running.array_id} are still running; watch them with "
                            f"--attach, or cancel them first (scancel {running.array_id})")
        rows = cmd_run.prepare(args, out, every_row, rows, meta)
        device_type = "cuda" if gpus > 0 and wants_gpu else "cpu"
        tasks = group_rows(rows, config.jobs, lambda row: row_seconds(
            row.method.name, dict(row.method.params), row.pair.image.shape[:2], device_type)[0]) if rows else []
        per_task = [estimate(task, device_type) for task in tasks]
        time_min = config.time_min or max(TIME_FLOOR_MIN, math.ceil(
            TIME_FACTOR * max((e.seconds for e in per_task), default=0.0) / 60 + TIME_MARGIN_MIN))
        where = f"partition {config.partition}, " if config.backend == "slurm" and config.partition else ""
        print(f"plan: {len(rows)} rows in {len(tasks)} tasks on {config.backend} ({where}{gpus} GPU per task, "
              f"time limit {time_min} min per task)")
        if per_task:
            hours = sum(e.seconds for e in per_task) / 3600
            amount = f"{hours * gpus:.2f} GPU-hours" if device_type == "cuda" else f"{hours:.2f} CPU-hours"
            print(f"plan: about {amount} in all; longest task {describe(max(per_task))}")
        meta["executor"] = {"backend": config.backend, "tasks": len(tasks), "device": requested, "gpus_per_task": gpus,
                            "time_min": time_min, "partition": config.partition, "params": config.params}
        cmd_run.write_meta(out, meta, "cpu")
        if not rows:
            return cmd_run.finish(args, out, [])
        baseline = {row.id: row_stamp(out, row.id) for row in rows}
        specs = [TaskSpec(str(suite.path.resolve()), str(args.data_root.resolve()) if args.data_root else None,
                          tuple(range(args.seeds)) if args.seeds else None, requested, str(out),
                          tuple(row.id for row in task), {row.id: baseline[row.id] for row in task})
                 for task in tasks]
        executor = make_executor(config, out / STATE_DIR / "logs", gpus, time_min, len(tasks),
                                 f"dip-bench-{suite.name}")
        submission = submit(executor, config, specs, out, baseline)
        print(f"submitted job array {submission.array_id} ({config.backend}, {len(tasks)} tasks); "
              f"logs in {submission.folder}")
    try:
        watch(submission, out, POLL_S[submission.backend])
    except KeyboardInterrupt:
        if submission.backend == "local":
            for job in submission.jobs:
                job.cancel()
            print("\nstopped the local tasks; finished rows are kept: add --resume to run the rest", file=sys.stderr)
        else:
            print(f"\ndetached: the tasks of job array {submission.array_id} keep running on the cluster.\n"
                  f"  watch again, then merge and report:  {_command(['--attach'])}\n"
                  f"  cancel them:                         scancel {submission.array_id}", file=sys.stderr)
        return 130
    lost = settle(submission, rows_by_id, out)
    if lost:
        print(f"{lost} rows of tasks that ended early are marked failed; add --resume to submit them again")
    return cmd_run.finish(args, out, [rid for task in submission.tasks for rid in task])


def _command(extra: list[str]) -> str:
    """This command line with ``extra`` options and without --resume/--overwrite/--attach."""
    kept = [a for a in sys.argv[1:] if a not in ("--resume", "--overwrite", "--attach")]
    return " ".join(["dip-bench", *kept, *extra])
