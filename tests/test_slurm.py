"""``run --executor slurm`` against a running Slurm (``.ci/slurm.sh start``: one node, no accounting database) on
tiny 64 px suites of classical rows: the same rows as in-process, options that reach ``sbatch``, a cancelled task's
rows failed with the reason and rerun exactly by ``--resume``, Ctrl-C that detaches and ``--attach`` that picks up
the same jobs, a wrong partition refused before anything is submitted. Skipped where no Slurm runs, except in CI
(``CI=true`` or ``DIP_BENCH_REQUIRE_SLURM=1``), where that is a failure."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dip_bench.bench import executor
from dip_bench.bench.cli import main
from dip_bench.bench.registry import create
from dip_bench.bench.results import TIMING, read_results
from dip_bench.bench.suite import expand_rows, load_pairs, load_suite

from conftest import tiny_suite

from conftest import tiny_suite

pytestmark = pytest.mark.slurm

TESTS = Path(__file__).resolve().parent
SUITE = tiny_suite("tiny-slurm", ("astronaut", "camera"), ("text", "pixels50"), """
[[methods]]
name = "telea"
[[methods]]
name = "ns"
""")
WAITER = tiny_suite("tiny-slurm-wait", ("astronaut", "camera"), ("text",), """
[[methods]]
name = "telea"
[[methods]]
name = "test_slurm:make_waiter"
victim = "camera"
started = "{folder}/started"
release = "{folder}/release"
""")
#: the longest a waiter row waits for its release file, so that a failed test leaves no task behind for long
WAIT_LIMIT_S = 120


def make_waiter(*, seed: int = 0, device: str = "cpu", victim: str = "camera", started: str = "",
                release: str = "") -> Any:
    """Telea, except that a call on the ``victim`` image (recognised by its known pixels) first touches the file
    ``started`` and waits until the file ``release`` exists (at most ``WAIT_LIMIT_S``): a task that is surely running
    while the test cancels it or detaches from it."""
    telea = create("telea", seed=seed, device=device)
    from dip_bench.datasets import load_builtin_image

    def call(image: np.ndarray, mask: np.ndarray, **kwargs: Any) -> Any:
        known = mask.astype(bool)
        if np.array_equal(image[known], load_builtin_image(victim, image.shape[0])[known]):
            Path(started).touch()
            deadline = time.monotonic() + WAIT_LIMIT_S
            while not Path(release).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        return telea(image, mask, **kwargs)

    return call


def idle_partition() -> tuple[str | None, str]:
    """A partition with a node that takes jobs (idle, or busy with others), else ``None`` and why there is none."""
    try:
        answer = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%R %T"], capture_output=True, text=True,
                                timeout=30)
    except FileNotFoundError:
        return None, "Slurm is not installed (sinfo not found); as root on Debian: .ci/slurm.sh start"
    except subprocess.TimeoutExpired:
        return None, "sinfo did not answer within 30 s"
    if answer.returncode != 0:
        return None, f"no Slurm controller answers ({answer.stderr.strip()[-200:]}); as root: .ci/slurm.sh start"
    nodes = [line.split() for line in answer.stdout.splitlines() if len(line.split()) == 2]
    idle = [partition for partition, state in sorted(nodes, key=lambda node: node[1] != "idle")
            if state in ("idle", "mixed", "allocated", "completing")]
    if not idle:
        return None, f"no Slurm node up (nodes: {', '.join(' '.join(node) for node in nodes) or 'none'})"
    return idle[0], ""


@pytest.fixture(scope="module")
def slurm() -> str:
    """The partition to run on; skips without Slurm, but fails in CI (``CI=true`` or ``DIP_BENCH_REQUIRE_SLURM=1``)."""
    partition, problem = idle_partition()
    if partition is None:
        if os.environ.get("CI") == "true" or os.environ.get("DIP_BENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"CI needs a running Slurm for these tests: {problem}")
        pytest.skip(problem)
    return partition


@pytest.fixture
def fast(monkeypatch) -> None:
    """Poll Slurm every 0.5 s instead of 15 s; the tasks import the waiter from tests/ (PYTHONPATH: sbatch passes
    this environment on to the job)."""
    monkeypatch.setitem(executor.POLL_S, "slurm", 0.5)
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


@pytest.fixture
def release(tmp_path: Path):
    """The waiter's release file: touched at the end of the test whatever happened, so that no task waits on."""
    yield tmp_path / "release"
    (tmp_path / "release").touch()


def write(folder: Path, text: str) -> Path:
    path = folder / "suite.toml"
    path.write_text(text.format(folder=folder))
    return path


def record(out: Path) -> dict[str, Any]:
    return json.loads((out / "executor" / "submission.json").read_text())


def job_fields(job_id: str) -> dict[str, str]:
    """``scontrol show job``'s KEY=VALUE fields of one job."""
    text = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True,
                          check=True).stdout
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def queue(array_id: str) -> dict[str, str]:
    return executor.queue_states([array_id]) or {}


def waiter_task(suite: Path, submitted: dict[str, Any]) -> tuple[int, list[str]]:
    """The task that holds the waiter's victim row, and the ids of its rows from that row on (a task runs its rows
    in the suite's order: those before it are written, those from it on wait)."""
    loaded = load_suite(str(suite))
    [victim] = [row.id for row in expand_rows(loaded, load_pairs(loaded))
                if row.method.name.endswith("make_waiter") and row.pair.image_name == "camera"]
    [task] = [k for k, rows in enumerate(submitted["tasks"]) if victim in rows]
    rows = submitted["tasks"][task]
    return task, rows[rows.index(victim):]


def rows_written(out: Path, ids: list[str]) -> bool:
    return all((out / "rows" / f"{rid}.json").exists() for rid in ids)


def wait_for(condition, what: str, limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def in_thread(args: list[str]) -> tuple[threading.Thread, list[int]]:
    """``main(args)`` in a thread (it watches the tasks while the test acts on them); its exit code lands in the
    list."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(args)), daemon=True)
    thread.start()
    return thread, codes


def test_slurm_rows_equal_in_process_and_options_reach_sbatch(tmp_path: Path, slurm, fast):
    suite = write(tmp_path, SUITE)
    inprocess, out = tmp_path / "inprocess", tmp_path / "slurm"
    config = tmp_path / "cluster.toml"
    config.write_text(f'[executor]\nexecutor = "slurm"\nslurm_time = 7\nslurm_partition = "{slurm}"\n'
                      '[executor.slurm_param]\ncomment = "from-cluster-config"\n')
    assert main(["run", "--suite", str(suite), "--out", str(inprocess), "--no-report"]) == 0
    assert main(["run", "--suite", str(suite), "--out", str(out), "--no-report", "--cluster-config", str(config),
                 "--jobs", "2", "--slurm-param", "mem=1G", "--slurm-param", "cpus_per_task=1"]) == 0
    compared = [column for column in pd.read_csv(inprocess / "results.csv").columns if column not in TIMING]
    expected, got = (pd.read_csv(run / "results.csv", dtype=str, keep_default_na=False)[compared]
                     for run in (inprocess, out))
    assert len(got) == 8 and (got["status"] == "ok").all()
    assert got.to_csv(index=False) == expected.to_csv(index=False)
    outputs = sorted(path.name for path in (inprocess / "outputs").glob("*.png"))
    assert len(outputs) == 8 and outputs == sorted(path.name for path in (out / "outputs").glob("*.png"))
    for name in outputs:
        assert (out / "outputs" / name).read_bytes() == (inprocess / "outputs" / name).read_bytes(), name
    job_ids = record(out)["job_ids"]
    assert len(job_ids) == 2
    for job_id in job_ids:  # what sbatch got, as the controller holds it (done once the result is written)
        wait_for(lambda: job_fields(job_id)["JobState"] == "COMPLETED", f"job {job_id} to complete", 30)
        fields = job_fields(job_id)
        assert fields["Partition"] == slurm
        assert fields["TimeLimit"] == "00:07:00" and fields["Comment"] == "from-cluster-config"
        assert fields["MinMemoryNode"] == "1G" and fields["NumCPUs"] == "1"
        assert fields["JobName"] == "dip-bench-tiny-slurm"


def test_cancelled_task_becomes_failed_rows_and_resume_resubmits_exactly_them(tmp_path: Path, slurm, fast, release):
    suite = write(tmp_path, WAITER)
    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--out", str(out), "--no-report", "--executor", "slurm"]
    thread, codes = in_thread(args)
    wait_for(lambda: (tmp_path / "started").exists(), "the waiting task to start")
    submitted = record(out)
    victim, waiting = waiter_task(suite, submitted)
    others = [rid for rid in sum(submitted["tasks"], []) if rid not in waiting]
    wait_for(lambda: rows_written(out, others), "the other rows")
    subprocess.run(["scancel", submitted["job_ids"][victim]], check=True)
    thread.join(timeout=120)
    assert codes == [0]
    table = read_results(out)
    failed = table[table["status"].str.startswith("failed")]
    assert len(table) == 4 and sorted(failed["row_id"]) == sorted(waiting)
    assert failed["status"].str.startswith(f"failed: task {victim} (job {submitted['job_ids'][victim]}) stopped "
                                           "before writing this row (state CANCELLED").all()
    before = {path.stem: path.stat().st_mtime_ns for path in (out / "rows").glob("*.json")}
    release.touch()
    assert main(args + ["--resume"]) == 0
    again = record(out)
    assert sorted(sum(again["tasks"], [])) == sorted(waiting) and again["job_ids"] != submitted["job_ids"]
    after = {path.stem: path.stat().st_mtime_ns for path in (out / "rows").glob("*.json")}
    assert sorted(rid for rid in after if after[rid] != before[rid]) == sorted(waiting)
    assert (read_results(out)["status"] == "ok").all() and len(read_results(out)) == 4


def test_ctrl_c_detaches_and_attach_picks_up_the_same_jobs(tmp_path: Path, slurm, fast, release):
    suite = write(tmp_path, WAITER)
    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--out", str(out), "--no-report", "--executor", "slurm"]
    command = subprocess.Popen([str(Path(sys.executable).with_name("dip-bench")), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(TESTS)})
    try:
        wait_for(lambda: (tmp_path / "started").exists() or command.poll() is not None, "the waiting task to start")
        assert command.poll() is None, command.communicate()
        command.send_signal(signal.SIGINT)
        printed, errors = command.communicate(timeout=60)
    finally:
        command.kill()
    assert command.returncode == 130, errors
    submitted = record(out)
    array = submitted["job_ids"][0].split("_")[0]
    assert f"submitted job array {array} (slurm, 2 tasks)" in printed
    assert f"detached: the tasks of job array {array} keep running" in errors and "--attach" in errors
    assert "Traceback" not in errors
    waiting_job = submitted["job_ids"][waiter_task(suite, submitted)[0]]
    assert queue(array)[waiting_job] == "RUNNING"  # still running after the command ended
    release.touch()
    assert main(args + ["--attach"]) == 0
    assert record(out)["job_ids"] == submitted["job_ids"]  # attached, nothing submitted again
    table = read_results(out)
    assert len(table) == 4 and (table["status"] == "ok").all()
    wait_for(lambda: list(queue(array).values()) == ["COMPLETED"] * 2, "both tasks to complete", 30)


def test_wrong_partition_is_one_line_before_anything_is_submitted(tmp_path: Path, slurm, capsys):
    suite = write(tmp_path, SUITE)
    out = tmp_path / "run"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--executor", "slurm", "--slurm-partition",
                 "no-such-partition"]) == 2
    error = capsys.readouterr().err
    assert error == "dip-bench: error: --slurm-partition no-such-partition: this cluster has no such partition " \
                    f"(it has: {', '.join(executor.partitions())})\n"
    assert not (out / "executor").exists() and not (out / "rows").exists()
