"""Hostile cases of issue 27 on the harness's edges: the fingerprint holds only what decides a number, a suite name
never writes outside ``runs/``, and every bad plugin, seed, iteration count, backend or trace path is one line and
exit 2 before any work starts."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch

from dip_bench.bench import meta
from dip_bench.bench.check import choose_mode

#: an environment with the README's main command (`pip install torch==2.13.0 -e .`): no test extra
RUNTIME = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "scipy": "1.17.1", "scikit-image": "0.26.0",
           "opencv-python-headless": "5.1.0.95", "pillow": "13.0.0", "pypatchmatch": "2.2.0", "pandas": "3.1.1",
           "matplotlib": "3.11.2", "jinja2": "3.1.6", "tqdm": "4.70.1", "imageio": "2.38.2", "filelock": "4.3.1"}
#: what `-e '.[test]'` adds, and unrelated releases of packages that compute nothing
TEST_ONLY = {"pytest": "9.2.0", "pluggy": "1.7.0", "iniconfig": "2.3.1", "pytest-benchmark": "5.3.1",
             "submitit": "1.5.4", "cloudpickle": "3.1.3"}


def fingerprint_with(monkeypatch, installed: dict[str, str]) -> dict:
    """The CPU fingerprint of an environment where exactly ``installed`` is installed."""
    def version(name: str) -> str:
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(meta.importlib.metadata, "version", version)
    monkeypatch.setattr(meta, "onednn_isa", lambda: "Intel AVX2")
    return meta.fingerprint(torch.device("cpu"))


def test_fingerprint_ignores_test_only_and_unrelated_packages(monkeypatch):
    plain = fingerprint_with(monkeypatch, RUNTIME)
    with_tests = fingerprint_with(monkeypatch, {**RUNTIME, **TEST_ONLY, "filelock": "4.3.2", "pandas": "3.2.0",
                                                "matplotlib": "3.12.0", "tqdm": "4.71.0"})
    assert plain == with_tests
    assert not set(plain["packages"]) & {"pytest", "pluggy", "pandas", "matplotlib", "tqdm", "jinja2", "filelock"}
    assert choose_mode(plain, with_tests).name == "exact"


@pytest.mark.parametrize("package", ["numpy", "torch", "opencv-python-headless", "scikit-image", "scipy", "pillow",
                                     "pypatchmatch"])
def test_a_new_release_of_a_package_that_computes_changes_the_fingerprint(monkeypatch, package):
    before = fingerprint_with(monkeypatch, RUNTIME)
    after = fingerprint_with(monkeypatch, {**RUNTIME, package: RUNTIME[package] + ".post1"})
    assert before != after
    assert meta.fingerprint_differences(before, after) == [
        f"packages.{package} {RUNTIME[package]!r} -> {RUNTIME[package] + '.post1'!r}"]
    assert choose_mode(before, after).name == "statistical"


def test_installing_lpips_changes_the_fingerprint(monkeypatch):
    """LPIPS fills the lpips column that the exact mode compares: its presence decides a number."""
    before = fingerprint_with(monkeypatch, RUNTIME)
    after = fingerprint_with(monkeypatch, {**RUNTIME, "lpips": "0.1.4", "torchvision": "0.28.0"})
    assert choose_mode(before, after).name == "statistical"


def test_a_fingerprint_stored_with_every_pinned_package_still_compares_exactly(monkeypatch):
    """A reference made when the fingerprint listed every package of constraints/cpu.txt: only the packages that
    compute are compared."""
    now = fingerprint_with(monkeypatch, RUNTIME)
    stored = {**now, "packages": {**now["packages"], **TEST_ONLY, "filelock": "4.3.1"}}
    assert meta.fingerprint_differences(stored, now) == []


@pytest.mark.parametrize("method, needs, not_needs", [
    ("telea", {"opencv-python-headless"}, {"pypatchmatch", "torch"}),
    ("ns", {"opencv-python-headless"}, {"pypatchmatch", "torch"}),
    ("biharmonic", {"scikit-image", "scipy"}, {"pypatchmatch", "torch"}),
    ("patchmatch", {"pypatchmatch"}, {"torch"}),
    ("dip-skip", {"torch"}, {"pypatchmatch"}),
    ("dip-bicubic", {"torch"}, {"pypatchmatch"}),
])
def test_deciding_packages_name_what_computes_a_method_and_its_scores(monkeypatch, method, needs, not_needs):
    monkeypatch.setattr(meta, "package_versions", lambda names: dict.fromkeys(names))  # lpips not installed
    packages = set(meta.deciding_packages(method))
    assert packages >= needs | {"numpy", "scikit-image", "scipy", "pillow"}  # scores and inputs: every method
    assert not packages & not_needs
    assert set(meta.deciding_packages("mine:make")) == set(meta.NUMERIC_PACKAGES)  # unknown: every one


@pytest.mark.parametrize("moved, release, excused", [
    (["telea"], {"filelock": "4.3.2"}, False),  # an unrelated release excuses nothing
    (["telea"], {"pypatchmatch": "2.2.1"}, False),  # nor another method's library
    (["telea", "ns"], {"opencv-python-headless": "5.1.0.96"}, True),
    (["biharmonic"], {"opencv-python-headless": "5.1.0.96"}, True),  # OpenCV decodes 16-bit colour inputs
    (["biharmonic"], {"scipy": "1.17.2"}, True),
    (["telea", "biharmonic"], {"scikit-image": "0.26.1"}, True),  # the metrics' package: every method's scores
    (["telea", "dip-skip"], {"opencv-python-headless": "5.1.0.96"}, False),  # a DIP row moved: never excused
])
def test_reference_slice_excuses_only_the_packages_that_compute_the_moved_rows(tmp_path, moved, release, excused):
    import json

    from test_reference import REFERENCE, _skip_if_only_library_versions_moved_classical_rows
    from dip_bench.bench.reference import load_reference

    stored = load_reference(REFERENCE).meta["fingerprint"]["packages"]
    (tmp_path / "meta.json").write_text(json.dumps({"fingerprint": {"packages": {**stored, **release}}}))
    verdict = {"configurations": [{"method": name, "verdict": "CHANGED (3 rows)"} for name in moved]}
    if excused:
        with pytest.raises(pytest.skip.Exception, match=next(iter(release))):
            _skip_if_only_library_versions_moved_classical_rows(verdict, tmp_path)
    else:
        _skip_if_only_library_versions_moved_classical_rows(verdict, tmp_path)


# --- paths: a suite's name never writes outside runs/ (issue 27, item 7) --------------------------------------------

SMALL_SUITE = """{name_line}device = "cpu"
seeds = {seeds}
[[data]]
size = 64
images = ["astronaut"]
masks = ["text"]
[[methods]]
name = "{method}"
{extra}
"""


def write_suite(folder, name_line='name = "small"\n', seeds="[0]", method="telea", extra="", file="suite.toml"):
    path = folder / file
    path.write_text(SMALL_SUITE.format(name_line=name_line, seeds=seeds, method=method, extra=extra))
    return path


def run_cli(argv, capsys) -> tuple[int, str]:
    from dip_bench.bench.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_exit_2(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("dip-bench: warning")]
    assert len(lines) == 1 and lines[0].startswith("dip-bench: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute-run", "a/b", "..", ".hidden", "", "x" * 65,
                                  "two\nlines", "back\\slash"])
def test_a_suite_name_that_leaves_runs_is_refused(tmp_path, monkeypatch, capsys, name):
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    suite = write_suite(tmp_path / "work", name_line=f"name = {json.dumps(name)}\n")
    monkeypatch.chdir(tmp_path / "work")
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, "name", "runs/<name>")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["suite.toml", "work"]  # nothing written anywhere
    assert not Path("/tmp/absolute-run").exists()


def test_a_suite_file_name_that_cannot_name_a_folder_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, name_line="", file="my suite!.toml")
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, "my suite!.toml", "no name key")
    assert not (tmp_path / "runs").exists()


def test_run_folder_refuses_a_name_set_in_code():
    from dip_bench.bench.suite import run_folder
    from dip_bench.contract import UserError

    assert run_folder("quick") == Path("runs") / "quick"
    with pytest.raises(UserError, match="runs/"):
        run_folder("../x")


# --- one line, exit 2, before work (issue 27, item 9) ---------------------------------------------------------------

@pytest.mark.parametrize("body, shown", [
    ("raise RuntimeError('plugin exploded')\n", "RuntimeError: plugin exploded"),
    ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ("1 +\n", "SyntaxError"),
    ("raise KeyError('cfg')\n", "KeyError"),
])
def test_a_plugin_module_that_raises_anything_at_import(tmp_path, monkeypatch, capsys, body, shown):
    module = f"boom_{abs(hash(body)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = write_suite(tmp_path, method=f"{module}:make")
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, module, shown, "fix that module")
    assert not (tmp_path / "runs").exists()


def test_an_entry_point_whose_module_raises_is_one_line(monkeypatch, capsys, tmp_path):
    from dip_bench.bench import registry

    (tmp_path / "boom_entry.py").write_text("raise ValueError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = registry.MethodSpec("boomer", "external", "entry point boom_entry:make", "boom_entry:make")
    monkeypatch.setitem(registry.BUILTIN, "boomer", spec)
    assert "ValueError: bad config" in spec.unavailable_reason()
    code, err = run_cli(["inpaint", str(tmp_path / "a.png"), str(tmp_path / "m.png"), "--method", "boomer",
                         "--out", str(tmp_path / "o.png")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "boom_entry" in err, err


@pytest.mark.parametrize("signature, shown", [
    ("def make(iterations: int = 10):", "does not accept the keyword seed, device"),
    ("def make(*, seed: int = 0):", "does not accept the keyword device"),
    ("def make(image, /, *, seed=0, device='cpu'):", "needs the positional argument image"),
    ("def make(*, seed=0, device='cpu', strength):", "needs parameter strength"),
])
def test_a_factory_that_cannot_take_the_call_contract_is_refused_before_work(tmp_path, monkeypatch, capsys,
                                                                             signature, shown):
    module = f"shape_{abs(hash(signature)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(f"{signature}\n    raise AssertionError('never called')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = write_suite(tmp_path, method=f"{module}:make")
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, shown)
    assert not (tmp_path / "runs").exists()


def test_a_factory_with_keyword_catch_all_is_accepted(tmp_path, monkeypatch):
    from dip_bench.bench import registry

    (tmp_path / "catchall.py").write_text("def make(**kwargs):\n    return kwargs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.create("catchall:make", seed=3) == {"seed": 3, "device": "cpu"}


@pytest.mark.parametrize("seeds", ["[18446744073709551616]", "[9223372036854775808]", "[-1]"])
def test_a_seed_beyond_int64_is_refused(tmp_path, monkeypatch, capsys, seeds):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, seeds=seeds)
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, "seeds", "2**63-1")
    assert not (tmp_path / "runs").exists()


def test_the_largest_seed_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, seeds=f"[{2**63 - 1}]")
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert code == 0, err


def test_registry_create_refuses_a_seed_beyond_int64():
    from dip_bench.bench.registry import create
    from dip_bench.contract import UserError

    with pytest.raises(UserError, match="2\\*\\*63-1"):
        create("telea", seed=2**64)


def test_an_absurd_iteration_count_stops_before_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, method="dip-skip", extra='preset = "text"\niterations = 10000000000000')
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, "[[methods]] #1 (dip-skip, iterations = 10000000000000)", "--allow-long")
    assert not (tmp_path / "runs").exists()


def test_an_iteration_count_as_a_float_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, method="dip-skip", extra='preset = "text"\niterations = 1e13')
    code, err = run_cli(["run", "--suite", str(suite), "--no-report"], capsys)
    assert_one_line_exit_2(code, err, "iterations", "not an integer")


def test_unknown_mplbackend_is_one_line_for_a_command_that_draws(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "no-such-backend")
    suite = write_suite(tmp_path)
    code, err = run_cli(["run", "--suite", str(suite)], capsys)
    assert_one_line_exit_2(code, err, "MPLBACKEND='no-such-backend'", "unset MPLBACKEND or set it to Agg")
    assert not (tmp_path / "runs").exists()


def test_unknown_mplbackend_is_a_warning_for_a_command_that_draws_nothing(monkeypatch, capsys):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MPLBACKEND": "no-such-backend"}
    done = subprocess.run([sys.executable, "-m", "dip_bench.bench.cli", "methods"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "dip-bench: warning: MPLBACKEND='no-such-backend' is not a matplotlib backend; ignored (this command draws "
        "nothing)"]


@pytest.mark.parametrize("option", ["--trace", "--json"])
def test_profile_refuses_an_unwritable_output_before_work(tmp_path, capsys, option):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker / "sub" / "t.json", tmp_path):
        code, err = run_cli(["profile", "--size", "64", "--iters", "1", "--warmup", "0", "--device", "cpu", option,
                             str(target)], capsys)
        assert_one_line_exit_2(code, err, option)
        assert "ms/iter" not in capsys.readouterr().out
