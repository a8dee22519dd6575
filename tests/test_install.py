"""dip-bench starts beside packages that take the usual top-level names (Hugging Face ``datasets``, and the PyPI
projects ``bench``, ``dip``, ``baselines``): its import names all live under ``dip_bench``."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(sys.executable).with_name("dip-bench")
STUBS = ("datasets", "bench", "dip", "baselines")


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    image = (np.mgrid[0:32, 0:32].sum(0) * 3).astype(np.uint8)
    mask = np.full((32, 32), 255, np.uint8)
    mask[10:20, 10:20] = 0
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    return tmp_path / "a.png", tmp_path / "a_mask.png"


def _dip_bench(tmp_path: Path, env: dict[str, str]) -> None:
    image, mask = _pair(tmp_path)
    for argv in (["methods"], ["inpaint", str(image), str(mask), "--method", "telea", "--out", str(tmp_path / "o.png")]):
        result = subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True, env=env, cwd=tmp_path,
                                timeout=300)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.png").is_file()


@pytest.mark.skipif(not SCRIPT.exists(), reason="the dip-bench console script is not installed beside this Python")
def test_dip_bench_runs_with_packages_named_datasets_bench_dip_baselines_first_on_the_path(tmp_path: Path):
    stubs = tmp_path / "stubs"
    for name in STUBS:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(f"raise ImportError('stub {name}: not dip-bench')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(stubs), os.environ.get("PYTHONPATH", "")])}
    _dip_bench(tmp_path, env)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the dip-bench console script is not installed beside this Python")
def test_dip_bench_runs_beside_hugging_face_datasets(tmp_path: Path):
    spec = importlib.util.find_spec("datasets")
    if spec is None or spec.origin is None or "site-packages" not in spec.origin:
        pytest.skip("Hugging Face datasets is not installed in this environment (pip install datasets to test)")
    _dip_bench(tmp_path, dict(os.environ))


ROOT = Path(__file__).resolve().parents[1]
#: the folders setup.py maps into the import namespace ``dip_bench``
MAPPED = {"dip_bench": "dip_bench", "dip": "dip_bench/dip", "baselines": "dip_bench/baselines",
          "bench": "dip_bench/bench", "datasets": "dip_bench/datasets"}


def _tree_files() -> set[str]:
    """Every file of the mapped folders (no caches) under its name in the wheel."""
    files = set()
    for folder, inside in MAPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(f"{inside}/{path.relative_to(ROOT / folder).as_posix()}")
    return files


def test_the_wheel_holds_every_module_template_preset_and_data_file_of_the_tree_and_nothing_else(tmp_path: Path):
    """Built from a clean copy (a stale build/ folder cannot add or hide files): a new sub-package, template, suite
    or data file can never be left out of the wheel silently."""
    import shutil
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in MAPPED:
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    inside = {name for name in zipfile.ZipFile(wheel).namelist() if not name.split("/")[0].endswith(".dist-info")}
    expected = _tree_files()
    assert sorted(expected - inside) == [], "left out of the wheel"
    assert sorted(inside - expected) == [], "in the wheel but not in the tree"
    assert {"dip_bench/bench/cli/__main__.py", "dip_bench/bench/report/templates/report.html.j2",
            "dip_bench/dip/presets.toml", "dip_bench/bench/suites/quick.toml"} <= inside
