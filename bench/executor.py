"""The local and Slurm backends of ``dip-bench run --executor slurm | local``: the rows planned by ``bench.cli.run``
go out as a submitit job array and come back, finished, into the same run folder (``open_backend``, ``plan_tasks``,
``submit_tasks`` or ``attach``, then ``collect``).

The rows to run are cut into ``--jobs`` tasks by ``bench.tasks``: balanced by their estimated time
(``bench.estimate``) and grouped so that rows of one net (method and preset) and size share a task. Each task loads
the suite again on its node, picks its rows by id (``bench.results``: the same suite gives the same ids everywhere)
and runs them with ``bench.runner.run_rows`` into the run folder; every finished row is its own atomically written
file, so all tasks write one folder at once. The submitting command prints the plan, watches ``rows/`` with a
progress bar and, when every task has ended, turns the rows of a task that failed, timed out or was preempted
without writing them into ``failed: <reason>`` rows (the reason from submitit), rebuilds the tables and writes the
report. ``--resume`` then submits exactly the missing and failed rows.

``slurm`` submits to a Slurm cluster (``sbatch``, one array; ``Ctrl-C`` detaches and the tasks keep running:
``--attach`` watches them again). The partition is checked with ``sinfo`` before anything is submitted. A task's
state comes from ``squeue`` while the controller holds it and from ``sacct`` (through submitit) after: a cluster
without an accounting database works too (``task_states``). Tested against a real single-node Slurm
(``.ci/slurm.sh``, ``tests/test_slurm.py``). ``local`` runs the same tasks as processes of this machine through
submitit's local executor (GPUs hidden unless ``--slurm-gpus-per-job`` asks for them; ``Ctrl-C`` stops them).
Options come from the command line, else ``--cluster-config FILE.toml``, else the suite's ``[executor]`` table
(``bench.cli.cluster``), with the keys::

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

Size (over 400 lines): everything that knows submitit and Slurm (submitting, re-attaching, task states from
squeue/sacct, the watch bar, failed rows for lost tasks) is here, so that no other module does.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dip_bench.bench.atomic import write_text
from dip_bench.bench.estimate import describe, estimate, row_seconds
from dip_bench.bench.results import ROWS, split_status, write_row
from dip_bench.bench.runner import row_fields, run_rows
from dip_bench.bench.suite import Row, Suite, expand_rows, load_pairs, load_suite
from dip_bench.bench.tasks import group_rows, time_limit_min
from dip_bench.contract import UserError, resolve_device

BACKENDS = ("inprocess", "local", "slurm")
STATE_DIR = "executor"
RECORD = "submission.json"
POLL_S = {"local": 0.5, "slurm": 15.0}
#: Slurm states of a task that has not ended yet (PREEMPTED: submitit requeues it)
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "PREEMPTED"}


# --- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The executor settings of one run (``None`` = the default worked out from the rows)."""

    backend: str = "inprocess"
    jobs: int | None = None
    partition: str | None = None
    gpus_per_job: int | None = None
    time_min: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


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
            status = split_status(result["status"])[0]
            counts[status] = counts.get(status, 0) + 1
        return counts

    def checkpoint(self, spec: TaskSpec) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, spec)


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
    write_row(out, row.definition(), {**row_fields(row, "?"), "status": f"failed: {reason}"})


def still_running(out: Path) -> Submission | None:
    """The recorded Slurm submission of ``out`` when some of its tasks have not ended, else None."""
    path = out / STATE_DIR / RECORD
    if not path.is_file() or json.loads(path.read_text()).get("backend") != "slurm":
        return None
    submission = load_submission(out)
    return submission if not all(ended for ended, _ in task_states(submission)) else None


# --- the backend ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """A local or Slurm backend, checked: its settings, the device each task resolves on its node (``requested``),
    the GPUs per task and the device type the rows are estimated for."""

    config: Config
    requested: str
    gpus: int
    device_type: str


def open_backend(config: Config, requested: str) -> Backend:
    """Check the backend (submitit, Slurm, partition, parameters) and the device against the GPUs per task, before
    any work."""
    check_backend(config)
    if requested != "auto" and not requested.startswith(("cpu", "cuda")):
        raise UserError(f"--device {requested!r}: choose auto, cpu, cuda or cuda:N")
    wants_gpu = requested != "cpu"
    if config.backend == "local":
        wants_gpu = resolve_device(requested).type == "cuda"
    gpus = config.gpus_per_job if config.gpus_per_job is not None else int(wants_gpu)
    if requested.startswith("cuda") and gpus == 0:
        raise UserError(f"--device {requested} with --slurm-gpus-per-job 0: the tasks would have no GPU; ask for "
                        "one or use --device cpu")
    return Backend(config, requested, gpus, "cuda" if gpus > 0 and wants_gpu else "cpu")


def attach(out: Path, rows_by_id: dict[str, Row]) -> Submission:
    """``--attach``: the submission recorded in ``out``, whose rows must all be in this suite."""
    submission = load_submission(out)
    unknown = [rid for task in submission.tasks for rid in task if rid not in rows_by_id]
    if unknown:
        raise UserError(f"--attach: {len(unknown)} submitted rows are not in this suite (e.g. {unknown[0]}); give "
                        "the --suite, --seeds and --data-root of the submitting command")
    return submission


def refuse_running(out: Path) -> None:
    """Refuse to touch ``out`` while tasks of its recorded Slurm submission are still running."""
    running = still_running(out)
    if running is not None:
        raise UserError(f"--out {out}: tasks of job array {running.array_id} are still running; watch them with "
                        f"--attach, or cancel them first (scancel {running.array_id})")


def plan_tasks(backend: Backend, rows: list[Row]) -> tuple[list[list[Row]], dict[str, Any]]:
    """Cut ``rows`` into tasks (``bench.tasks``), print the plan and return the tasks with the ``executor`` entry
    of ``meta.json``."""
    config = backend.config
    tasks = group_rows(rows, config.jobs, lambda row: row_seconds(
        row.method.name, dict(row.method.params), row.pair.image.shape[:2], backend.device_type)[0]) if rows else []
    per_task = [estimate(task, backend.device_type) for task in tasks]
    time_min = config.time_min or time_limit_min(per_task)
    where = f"partition {config.partition}, " if config.backend == "slurm" and config.partition else ""
    print(f"plan: {len(rows)} rows in {len(tasks)} tasks on {config.backend} ({where}{backend.gpus} GPU per task, "
          f"time limit {time_min} min per task)")
    if per_task:
        hours = sum(e.seconds for e in per_task) / 3600
        amount = f"{hours * backend.gpus:.2f} GPU-hours" if backend.device_type == "cuda" else f"{hours:.2f} CPU-hours"
        print(f"plan: about {amount} in all; longest task {describe(max(per_task))}")
    return tasks, {"backend": config.backend, "tasks": len(tasks), "device": backend.requested,
                   "gpus_per_task": backend.gpus, "time_min": time_min, "partition": config.partition,
                   "params": config.params}


def submit_tasks(backend: Backend, tasks: list[list[Row]], time_min: int, out: Path, suite: Suite,
                 data_root: Path | None, seeds: int | None) -> Submission:
    """Submit ``tasks`` (rows to run into ``out``) as one job array; each task finds its rows again on its node
    from the suite file, ``data_root`` and ``seeds`` (``--seeds``) of the submitting command."""
    baseline = {row.id: row_stamp(out, row.id) for task in tasks for row in task}
    specs = [TaskSpec(str(suite.path.resolve()), str(data_root.resolve()) if data_root else None,
                      tuple(range(seeds)) if seeds else None, backend.requested, str(out),
                      tuple(row.id for row in task), {row.id: baseline[row.id] for row in task})
             for task in tasks]
    executor = make_executor(backend.config, out / STATE_DIR / "logs", backend.gpus, time_min, len(tasks),
                             f"dip-bench-{suite.name}")
    submission = submit(executor, backend.config, specs, out, baseline)
    print(f"submitted job array {submission.array_id} ({backend.config.backend}, {len(tasks)} tasks); "
          f"logs in {submission.folder}")
    return submission


def collect(submission: Submission, rows_by_id: dict[str, Row], out: Path) -> list[str] | None:
    """Watch the tasks until every one has ended, then write a failed row for each row a task did not write;
    returns the ids of the submitted rows, now all finished in ``out`` (``None``: ``Ctrl-C``, the local tasks
    stopped or the Slurm tasks left running, with one message)."""
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
        return None
    lost = settle(submission, rows_by_id, out)
    if lost:
        print(f"{lost} rows of tasks that ended early are marked failed; add --resume to submit them again")
    return [rid for task in submission.tasks for rid in task]


def _command(extra: list[str]) -> str:
    """This command line with ``extra`` options and without --resume/--overwrite/--attach."""
    kept = [a for a in sys.argv[1:] if a not in ("--resume", "--overwrite", "--attach")]
    return " ".join(["dip-bench", *kept, *extra])
