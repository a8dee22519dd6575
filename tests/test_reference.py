"""A slice of the quick suite against the stored CPU reference (``reports/reference/quick-cpu``), here and on
"another machine" imitated on this one (``ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1``, set before torch is imported,
so in a subprocess): the check must pass unchanged code in whichever mode the fingerprints choose, and must still
fail a DIP fit whose learning rate was doubled. Also: the stored reference is reproducible from the repository.

The slice is every method on astronaut (all mask kinds), except that the expensive dip-skip presets run only on the
region mask (``text``) or not at all (``pixels``): a few minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dip_bench.bench
from dip_bench.bench.cli.reference import DETECT_DB
from dip_bench.bench.check import compare
from dip_bench.bench.meta import deciding_packages
from dip_bench.bench.reference import CENTER, CONFIG, config_label, load_reference, meta_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reports" / "reference" / "quick-cpu.csv"
QUICK = Path(dip_bench.bench.__file__).parent / "suites" / "quick.toml"
#: the masks the slice keeps of an expensive configuration (method, preset)
EXPENSIVE = {("dip-skip", "text"): ["region"], ("dip-skip", "pixels"): []}
OTHER_MACHINE = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"}
#: the "changed model": every DIP fit's Adam runs at twice its learning rate, the suite's parameters unchanged
DOUBLED_LR = ("import sys, torch\n"
              "class Adam(torch.optim.Adam):\n"
              "    def __init__(self, params, lr=1e-3, **kw):\n"
              "        super().__init__(params, lr=2 * lr, **kw)\n"
              "torch.optim.Adam = Adam\n"
              "from dip_bench.bench.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)


def write_slice(path: Path, dip_only: bool = False) -> Path:
    """The quick suite (same name, same method parameters) restricted to astronaut and the cheap configurations."""
    suite = tomllib.loads(QUICK.read_text())
    lines = [f"{key} = {_toml_value(value)}" for key, value in suite.items() if not isinstance(value, list)
             or not value or not isinstance(value[0], dict)]
    for data in suite["data"]:
        lines += ["[[data]]"] + [f"{k} = {_toml_value(['astronaut'] if k == 'images' else v)}" for k, v in data.items()]
    for method in suite["methods"]:
        key = (method["name"], method.get("preset"))
        if key in EXPENSIVE:
            method = {**method, "masks": [m for m in method.get("masks", EXPENSIVE[key]) if m in EXPENSIVE[key]]}
        if method.get("masks") == [] or (dip_only and not method["name"].startswith("dip")):
            continue
        if "images" in method and "astronaut" not in method["images"]:
            continue
        lines += ["[[methods]]"] + [f"{k} = {_toml_value(v)}" for k, v in method.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_and_check(tmp_path: Path, env: dict[str, str], dip_only: bool = False, prelude: str | None = None) -> dict:
    """Run the slice in a subprocess under ``env`` and return ``check --only-present --json``'s verdict."""
    suite, out = write_slice(tmp_path / "slice.toml", dip_only), tmp_path / "run"
    start = [sys.executable, "-c", prelude] if prelude else [sys.executable, "-m", "dip_bench.bench.cli"]
    environment = {**os.environ, **env}
    subprocess.run(start + ["run", "--suite", str(suite), "--out", str(out), "--no-report"], env=environment,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    check = subprocess.run([sys.executable, "-m", "dip_bench.bench.cli", "check", str(out), "--reference",
                            str(REFERENCE), "--only-present", "--json"], env=environment, capture_output=True,
                           text=True)
    assert check.returncode in (0, 1), check.stderr
    verdict = json.loads(check.stdout)
    assert verdict["ok"] == (check.returncode == 0)
    _skip_if_only_library_versions_moved_classical_rows(verdict, out)
    return verdict


def _skip_if_only_library_versions_moved_classical_rows(verdict: dict, run_dir: Path) -> None:
    """Classical outputs are exact functions of their library's version: when only classical configurations moved
    and, for every one of them, a package that computes its rows (``deciding_packages``: OpenCV for telea/ns,
    scikit-image and scipy for biharmonic, the inputs' and the metrics' packages) differs from the reference's, say
    which and skip (the check itself fails, as it should: a new release changed a stored number). An unrelated
    release excuses nothing."""
    moved = sorted({line["method"] for line in verdict["configurations"]
                    if line["verdict"].startswith(("MOVED", "CHANGED"))})
    if not moved or any(name.startswith("dip") for name in moved):
        return
    stored = load_reference(REFERENCE).meta["fingerprint"]["packages"]
    here = json.loads((run_dir / "meta.json").read_text())["fingerprint"]["packages"]
    differ = {name for name in set(stored) | set(here) if stored.get(name) != here.get(name)}
    if all(differ & set(deciding_packages(name)) for name in moved):
        changed = [f"{package} {stored.get(package)} -> {here.get(package)}" for package in sorted(differ)
                   if any(package in deciding_packages(method) for method in moved)]
        pytest.skip(f"{', '.join(moved)} depend on exact library output and the versions differ from the "
                    f"reference's ({'; '.join(changed)}); reproduce with `pip install -c constraints/cpu.txt`")


@pytest.mark.parametrize("env", [{}, OTHER_MACHINE], ids=["this-machine", "avx2-one-thread"])
def test_quick_suite_slice_passes_the_cpu_reference(tmp_path: Path, env: dict[str, str]):
    verdict = run_and_check(tmp_path, env)
    assert verdict["ok"], "\n".join(verdict["problems"])
    methods = {line["method"] for line in verdict["configurations"]}
    assert methods >= {"telea", "ns", "biharmonic", "dip-skip", "dip-encdec", "dip-bicubic"}
    if env:
        assert verdict["mode"] == "statistical" and "onednn_isa" in verdict["why"]


def test_doubled_learning_rate_fails_on_another_machine(tmp_path: Path):
    verdict = run_and_check(tmp_path, OTHER_MACHINE, dip_only=True, prelude=DOUBLED_LR)
    assert verdict["mode"] == "statistical" and not verdict["ok"]
    moved = {line["method"] for line in verdict["configurations"] if line["verdict"] == "MOVED"}
    assert moved and all(name.startswith("dip") for name in moved)
    assert all(any(problem.startswith(name) for problem in verdict["problems"]) for name in moved)


def test_stored_reference_is_reproducible_from_the_repository():
    reference = load_reference(REFERENCE)
    made_by = reference.meta["made_by"]
    assert made_by["command"].startswith("dip-bench reference --suite quick ") and not made_by["dirty"]
    assert re.fullmatch(r"[0-9a-f]{7,40}", made_by["git_commit"])
    assert reference.meta["fingerprint"]["device"] == "cpu" and reference.meta["tolerances"]
    dip = [entry for entry in reference.meta["tolerances"] if entry["method"].startswith("dip")]
    assert dip and all(len(entry["deviations"]) >= 3 and entry["runs"] >= 4 for entry in dip)
    assert reference.table.loc[reference.table.status == "ok", ["psnr_center", "ssim_center"]].notna().all().all()


def test_stored_reference_catches_a_one_db_shift_of_every_dip_configuration():
    """The measured detection threshold (tolerance + 2 standard errors) of every DIP configuration's mean PSNR."""
    entries = load_reference(REFERENCE).meta["tolerances"]
    blunt = {config_label(e["method"], e["preset"], e["params"]): round(e["detect_psnr"], 3) for e in entries
             if e["method"].startswith("dip") and not e["detect_psnr"] <= DETECT_DB}
    assert not blunt, f"detection thresholds above {DETECT_DB} dB: {blunt}"


def test_a_one_db_drop_of_any_dip_configuration_in_the_reference_run_fails_on_another_machine():
    """The reference environment's own rows pass the statistical gate; lowered by 1 dB, each DIP configuration
    alone fails and is named."""
    reference = load_reference(REFERENCE)
    run = reference.table.drop(columns=list(CENTER))
    other = {**reference.fingerprint, "onednn_isa": "Intel AVX2", "threads": 1}
    assert compare(run, reference, other).ok
    for key, rows in run[run.method.str.startswith("dip") & (run.status == "ok")].groupby(CONFIG):
        lowered = run.copy()
        lowered.loc[rows.index, "psnr"] -= 1.0
        result = compare(lowered, reference, other)
        assert result.mode.name == "statistical" and not result.ok
        assert [problem.split(" (n=")[0] for problem in result.problems] == [config_label(*key)]


def committed_reports() -> list[Path]:
    """The files under ``reports/`` that git tracks (every file there outside a git checkout)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "reports"], capture_output=True, text=True)
    if listed.returncode != 0:
        return sorted(path for path in (ROOT / "reports").rglob("*") if path.is_file())
    return [ROOT / name for name in listed.stdout.splitlines()]


def test_nothing_committed_under_reports_names_an_absolute_path():
    absolute = re.compile(r"(?<![\w.~])(?:/(?:home|work|tmp|root|Users|usr|opt|mnt|var|private)/|[A-Z]:\\\\)")
    for path in committed_reports():
        if path.is_file() and path.suffix in {".csv", ".json", ".md", ".html", ".txt", ".toml"}:
            found = absolute.search(path.read_text(errors="replace"))
            assert found is None, f"{path.relative_to(ROOT)} names an absolute path: {found.group(0)!r}..."


def test_reference_files_belong_together():
    assert meta_path(REFERENCE).exists()
