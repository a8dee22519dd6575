"""``run --executor local | slurm`` (submitit) on a tiny 64 px suite of classical rows: same results as in-process,
killed tasks become failed rows that ``--resume`` reruns exactly, concurrent writers, and the Slurm submission
checked through submitit's own test doubles (no Slurm needed)."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dip_bench.bench import executor, tasks
from dip_bench.bench.cli import cluster
from dip_bench.bench.cli import main
from dip_bench.bench.results import TIMING, read_results
from dip_bench.bench.suite import expand_rows, load_pairs, load_suite

from conftest import tiny_suite

submitit = pytest.importorskip("submitit")
from submitit.core import submission  # noqa: E402 - after the skip
from submitit.core.utils import JobPaths  # noqa: E402
from submitit.slurm.test_slurm import mocked_slurm  # noqa: E402

TESTS = Path(__file__).resolve().parent
SUITE = tiny_suite("tiny", ("astronaut", "camera"), ("text", "pixels50"), """
[[methods]]
name = "telea"
[[methods]]
name = "ns"
[[methods]]
name = "biharmonic"
""")
KILLER = """
[[methods]]
name = "executor_methods:make_killer"
victim = "camera"
marker = "{marker}"
"""


def write_suite(folder: Path, extra: str = "") -> Path:
    path = folder / "tiny.toml"
    path.write_text(SUITE + extra)
    return path


def rows_of(suite: Path) -> list:
    loaded = load_suite(str(suite))
    return expand_rows(loaded, load_pairs(loaded))


def stamps(out: Path) -> dict[str, int]:
    return {path.stem: path.stat().st_mtime_ns for path in (out / "rows").glob("*.json")}


def test_local_tasks_give_the_in_process_results(tmp_path: Path):
    suite = write_suite(tmp_path)
    inprocess, local = tmp_path / "inprocess", tmp_path / "local"
    assert main(["run", "--suite", str(suite), "--out", str(inprocess), "--no-report"]) == 0
    assert main(["run", "--suite", str(suite), "--out", str(local), "--no-report", "--executor", "local",
                 "--jobs", "2"]) == 0
    record = json.loads((local / "executor" / "submission.json").read_text())
    assert len(record["tasks"]) == 2 and sorted(sum(record["tasks"], [])) == sorted(r.id for r in rows_of(suite))
    compared = [column for column in pd.read_csv(inprocess / "results.csv").columns if column not in TIMING]
    expected, got = (pd.read_csv(run / "results.csv", dtype=str, keep_default_na=False)[compared]
                     for run in (inprocess, local))
    assert len(got) == 12 and (got["status"] == "ok").all()
    assert got.to_csv(index=False) == expected.to_csv(index=False)
    outputs = sorted(path.name for path in (inprocess / "outputs").glob("*.png"))
    assert len(outputs) == 12 and outputs == sorted(path.name for path in (local / "outputs").glob("*.png"))
    for name in outputs:
        assert (local / "outputs" / name).read_bytes() == (inprocess / "outputs" / name).read_bytes(), name


def test_killed_task_becomes_failed_rows_and_resume_reruns_exactly_them(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    marker = tmp_path / "killed"
    suite = write_suite(tmp_path, KILLER.format(marker=marker))
    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--out", str(out), "--no-report", "--executor", "local", "--jobs", "3",
            "--methods", "telea,executor_methods:make_killer"]
    assert main(args) == 0
    assert marker.exists()
    table = read_results(out)
    failed = table[table["status"].str.startswith("failed")]
    assert len(table) == 8 and len(failed) >= 1
    assert failed["status"].str.contains(r"failed: task \d \(job \d+\) stopped before writing this row").all()
    killed_task = [task for task in json.loads((out / "executor" / "submission.json").read_text())["tasks"]
                   if set(failed["row_id"]) & set(task)]
    assert len(killed_task) == 1 and set(failed["row_id"]) <= set(killed_task[0])
    before = stamps(out)
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert f"{len(table) - len(failed)} of 8 rows already done" in capsys.readouterr().out
    resubmitted = json.loads((out / "executor" / "submission.json").read_text())["tasks"]
    assert sorted(sum(resubmitted, [])) == sorted(failed["row_id"])
    after = stamps(out)
    assert {rid for rid in after if after[rid] != before[rid]} == set(failed["row_id"])
    assert (read_results(out)["status"] == "ok").all() and len(read_results(out)) == 8


WRITER = """
import pickle, sys, time
from pathlib import Path
from dip_bench.bench.executor import Task
import dip_bench.bench.runner
spec = pickle.loads(Path(sys.argv[1]).read_bytes())
Path(sys.argv[2]).touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.005)
print(Task()(spec))
"""


def test_two_processes_writing_one_run_folder_lose_and_duplicate_nothing(tmp_path: Path):
    suite = write_suite(tmp_path)
    out = tmp_path / "shared"
    ids = [row.id for row in rows_of(suite)]
    go = tmp_path / "go"
    writers = []
    for k, order in enumerate((ids, ids[::-1])):
        spec = executor.TaskSpec(str(suite), None, None, "cpu", str(out), tuple(order), {rid: None for rid in ids})
        (tmp_path / f"spec{k}").write_bytes(pickle.dumps(spec))
        writers.append(subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / f"spec{k}"),
                                         str(tmp_path / f"ready{k}"), str(go)], stdout=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    outputs = [writer.communicate(timeout=120)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs
    table = read_results(out)
    assert sorted(table["row_id"]) == sorted(ids) and (table["status"] == "ok").all()
    assert sorted(path.stem for path in (out / "rows").iterdir()) == sorted(ids)  # no temporary files left
    assert sorted(path.stem for path in (out / "outputs").iterdir()) == sorted(ids)


def test_group_rows_balances_and_keeps_nets_together(tmp_path: Path):
    rows = rows_of(write_suite(tmp_path))
    grouped = tasks.group_rows(rows, 3, lambda row: 1.0)
    assert sorted(len(task) for task in grouped) == [4, 4, 4]
    assert all(len({tasks.net_key(row) for row in task}) == 1 for task in grouped)
    assert sorted(row.id for task in grouped for row in task) == sorted(row.id for row in rows)
    assert len(tasks.group_rows(rows, None, lambda row: 1.0)) == 3  # default: one task per net and size
    assert len(tasks.group_rows(rows, 50, lambda row: 1.0)) == 12  # never more tasks than rows
    heavy = tasks.group_rows(rows, 2, lambda row: 10.0 if row.method.name == "biharmonic" else 1.0)
    assert sorted(sum(10.0 if r.method.name == "biharmonic" else 1.0 for r in task) for task in heavy) == [24, 24]


WATCH = executor.watch


def test_slurm_submission_detach_attach_and_resume_mocked(tmp_path: Path, monkeypatch, capsys):

    suite = write_suite(tmp_path)
    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--out", str(out), "--no-report", "--executor", "slurm", "--jobs", "3",
            "--device", "auto", "--slurm-partition", "gpu-long", "--slurm-gpus-per-job", "1", "--slurm-time", "90",
            "--slurm-param", "array_parallelism=2", "--slurm-param", "account=lab"]

    def interrupt(*_):
        raise KeyboardInterrupt

    # the mock answers only sbatch/sacct/scancel: meta.json's machine facts (uname, git) are left out here
    monkeypatch.setattr("dip_bench.bench.meta.environment", lambda device: {"device": str(device)})
    # no controller to ask (squeue, sinfo): the states come from the mocked sacct through submitit
    monkeypatch.setattr(executor, "queue_states", lambda job_ids: None)
    monkeypatch.setattr(executor, "partitions", lambda: ["debug", "gpu-long"])
    with mocked_slurm() as mock:
        monkeypatch.setattr(executor, "watch", interrupt)
        assert main(args) == 130
        printed = capsys.readouterr()
        assert "plan: 12 rows in 3 tasks on slurm (partition gpu-long, 1 GPU per task, time limit 90 min" in printed.out
        assert "GPU-hours" in printed.out
        assert "scancel 12" in printed.err and "--attach" in printed.err
        folder = out / "executor" / "logs"
        sbatch = JobPaths(folder, job_id="12").submission_file.read_text().splitlines()
        for line in ("#SBATCH --partition=gpu-long", "#SBATCH --gpus-per-node=1", "#SBATCH --array=0-2%2",
                     "#SBATCH --time=90", "#SBATCH --account=lab", "#SBATCH --job-name=dip-bench-tiny"):
            assert line in sbatch
        record = json.loads((out / "executor" / "submission.json").read_text())
        assert record["job_ids"] == ["12_0", "12_1", "12_2"]
        # tasks 0 and 1 run (in this process, as on a node); task 2 times out without a row
        for job_id in record["job_ids"][:2]:
            with mock.job_context(job_id):
                submission.process_job(folder)
        mock.job_sacct["12"] = "JobID|State\n" + "\n".join(
            f"12_{k}|{'COMPLETED' if k < 2 else 'TIMEOUT'}" for k in range(3))
        monkeypatch.setattr(executor, "watch", WATCH)
        monkeypatch.setitem(executor.POLL_S, "slurm", 0.05)
        assert main(args + ["--attach"]) == 0
        table = read_results(out)
        lost = table[table["row_id"].isin(record["tasks"][2])]
        assert len(table) == 12 and len(lost) == len(record["tasks"][2])
        assert lost["status"].str.startswith("failed: task 2 (job 12_2) stopped before writing this row "
                                             "(state TIMEOUT").all()
        assert (table[~table["row_id"].isin(record["tasks"][2])]["status"] == "ok").all()
        monkeypatch.setattr(executor, "watch", interrupt)
        assert main(args + ["--resume"]) == 130
        again = json.loads((out / "executor" / "submission.json").read_text())
        assert sorted(sum(again["tasks"], [])) == sorted(record["tasks"][2])


def test_a_task_that_raises_gives_its_exception_as_the_reason(tmp_path: Path):
    spec = executor.TaskSpec(str(tmp_path / "gone.toml"), None, None, "cpu", str(tmp_path), ("r",), {"r": None})
    with mocked_slurm() as mock:
        slurm = submitit.SlurmExecutor(folder=tmp_path / "logs")
        job = slurm.submit(executor.Task(), spec)
        with mock.job_context(job.job_id), pytest.raises(Exception, match="suite file not found"):
            submission.process_job(job.paths.folder)
        assert executor.task_failure(job, "FAILED") == \
            f"raised dip_bench.contract.UserError: {tmp_path / 'gone.toml'}: suite file not found"


def test_without_accounting_the_controller_says_when_a_task_ended(tmp_path: Path, monkeypatch):
    # submitit reads UNKNOWN from a disabled sacct for every task; squeue's state decides, a forgotten task has ended
    with mocked_slurm() as mock:
        slurm = submitit.SlurmExecutor(folder=tmp_path / "logs")
        jobs = slurm.map_array(executor.Task(), [None] * 3)
        mock.job_sacct.clear()
        state = executor.Submission("slurm", tmp_path / "logs", jobs, [["a"], ["b"], ["c"]], {})
        monkeypatch.setattr(executor, "queue_states", lambda job_ids: {"12_0": "RUNNING", "12_1": "CANCELLED"})
        assert executor.task_states(state) == [(False, "RUNNING"), (True, "CANCELLED"),
                                               (True, "UNKNOWN, no longer in the queue")]
        assert executor.task_failure(jobs[1], "CANCELLED").startswith("stopped before writing this row (state "
                                                                      "CANCELLED, no result: cancelled")
        monkeypatch.setattr(executor, "queue_states", lambda job_ids: None)  # squeue does not answer: submitit's
        assert executor.task_states(state) == [(False, "UNKNOWN")] * 3


def test_bad_executor_options_are_one_line_errors(tmp_path: Path, monkeypatch, capsys):
    suite = str(write_suite(tmp_path))
    monkeypatch.setattr(executor.shutil, "which", lambda name: None)  # as on a machine without Slurm
    for extra, message in (
            (["--jobs", "2"], "--jobs needs --executor slurm or local"),
            (["--executor", "slurm", "--jobs", "0"], "--jobs = 0: give an integer >= 1"),
            (["--executor", "slurm"], "no Slurm here (srun not found)"),
            (["--executor", "slurm", "--slurm-param", "nonsense"], "give KEY=VALUE"),
            (["--executor", "slurm", "--slurm-param", "partition=x"], "set partition with --slurm-partition"),
            (["--executor", "slurm", "--slurm-param", "acount=red"], "no such parameter (did you mean account"),
            (["--executor", "slurm", "--cluster-config", str(tmp_path / "none.toml")], "file not found")):
        assert main(["run", "--suite", suite, "--out", str(tmp_path / "out"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "rows").exists()
    with mocked_slurm():
        assert main(["run", "--suite", suite, "--out", str(tmp_path / "out"), "--executor", "slurm", "--attach"]) == 2
    assert "holds no submission" in capsys.readouterr().err


def test_cluster_config_and_suite_table(tmp_path: Path):
    suite = write_suite(tmp_path, '\n[executor]\nexecutor = "slurm"\njobs = 4\nslurm_partition = "a"\n'
                                  '[executor.slurm_param]\nqos = "low"\n')
    config_file = tmp_path / "cluster.toml"
    config_file.write_text('[executor]\nslurm_partition = "b"\nslurm_time = 60\n')
    args = main.__globals__["build_parser"]().parse_args(
        ["run", "--suite", str(suite), "--cluster-config", str(config_file), "--jobs", "5"])
    config = cluster.resolve_config(args, suite)
    assert config == executor.Config("slurm", 5, "b", None, 60, {"qos": "low"})
