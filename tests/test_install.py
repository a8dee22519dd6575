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
