"""A researcher's own method (``tests/dipbench_example.py``) through the registry and the regression check: by
``module:attribute`` name and through an installed package's entry point (group ``dip_bench.methods``)."""
from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import test_battery
from dip_bench.bench import registry
from dip_bench.bench.cli import main
from dip_bench.contract import UserError

from conftest import tiny_suite

EXAMPLE = Path(__file__).with_name("dipbench_example.py")
SUITE = tiny_suite("mine", ("astronaut", "camera"), ("text", "region"), """
[[methods]]
name = "{name}"
iterations = 10
[[methods]]
name = "telea"
""")


def test_factory_by_module_attribute_is_validated_and_runs():
    spec = registry.get_method("dipbench_example:make")
    assert spec.family == "external" and spec.unavailable_reason() is None
    assert spec.parameters() == ["iterations", "rate"]
    with pytest.raises(UserError, match="has no parameter lr"):
        registry.create("dipbench_example:make", lr=0.1)
    with pytest.raises(UserError, match="rate = 'fast' is not a finite number"):
        registry.create("dipbench_example:make", rate="fast")
    with pytest.raises(UserError, match="cannot import no_such_module"):
        registry.get_method("no_such_module:make")
    image = np.full((16, 16, 3), 0.5, np.float32)
    mask = np.ones((16, 16), bool)
    mask[4:8, 4:8] = False
    output, record = registry.create("dipbench_example:make", seed=1, iterations=50)(image * mask[..., None], mask)
    assert np.abs(output - 0.5).max() < 0.01 and record["iterations"] == 50


@pytest.mark.parametrize("channels", [3, 1])
def test_external_method_passes_the_battery(channels: int, monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "example", registry.get_method("dipbench_example:make"))
    test_battery.test_method_battery("example", channels)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch) -> Path:
    """``mymodel.py`` (a copy of the example) installed with an entry point ``my-diffusion = mymodel:make``."""
    site = tmp_path / "site"
    (site / "mymodel-0.1.dist-info").mkdir(parents=True)
    shutil.copyfile(EXAMPLE, site / "mymodel.py")
    (site / "mymodel-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mymodel\nVersion: 0.1\n")
    (site / "mymodel-0.1.dist-info" / "entry_points.txt").write_text(
        "[dip_bench.methods]\nmy-diffusion = mymodel:make\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    registry._entry_point_methods.cache_clear()
    yield site / "mymodel.py"
    registry._entry_point_methods.cache_clear()
    sys.modules.pop("mymodel", None)


def test_entry_point_method_is_registered(installed: Path):
    assert "my-diffusion" in registry.all_methods()
    spec = registry.get_method("my-diffusion")
    assert spec.factory == "mymodel:make" and spec.parameters() == ["iterations", "rate"]


def test_changed_own_model_fails_the_check_and_is_named(installed: Path, tmp_path: Path, capsys):
    suite = tmp_path / "mine.toml"
    suite.write_text(SUITE.format(name="my-diffusion"))
    reference = tmp_path / "ref" / "mine.csv"
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "a"), "--no-report"]) == 0
    assert main(["check", str(tmp_path / "a"), "--reference", str(reference), "--update"]) == 0
    capsys.readouterr()
    assert main(["check", str(tmp_path / "a"), "--reference", str(reference)]) == 0
    assert "exact mode" in capsys.readouterr().out
    other_suite = tmp_path / "ref" / "other.csv"
    shutil.copyfile(reference, other_suite)
    meta = json.loads(reference.with_name("mine.meta.json").read_text())
    other_suite.with_name("other.meta.json").write_text(json.dumps({**meta, "suite": "quick"}))
    assert main(["check", str(tmp_path / "a"), "--reference", str(other_suite)]) == 2
    assert "a reference of suite 'quick', but" in capsys.readouterr().err

    installed.write_text(installed.read_text().replace("NOISE = 0.05", "NOISE = 0.075"))  # the researcher's change
    sys.modules.pop("mymodel", None)
    importlib.invalidate_caches()
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "b"), "--no-report"]) == 0
    capsys.readouterr()
    assert main(["check", str(tmp_path / "b"), "--reference", str(reference)]) == 1
    out = capsys.readouterr().out
    assert "exact mode" in out
    assert "check: MOVED my-diffusion iterations=10 astronaut/text seed 0: " in out
    assert "telea" not in "".join(line for line in out.splitlines() if line.startswith("check: MOVED"))
