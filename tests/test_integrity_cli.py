"""Hostile cases of issue 27 on the harness's edges: the fingerprint holds only what decides a number, a suite name
never writes outside ``runs/``, and every bad plugin, seed, iteration count, backend or trace path is one line and
exit 2 before any work starts."""
from __future__ import annotations

import importlib.metadata

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
