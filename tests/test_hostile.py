"""A hostile user's battery: each case is what the user typed, the exit code, the one line on stderr (never a
traceback), and that nothing on disk was lost or changed. Tiny inputs (64 px, telea; DIP only where the point is
that it never starts)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dip_bench.bench.cli import main
from dip_bench.bench.results import read_results

from conftest import tiny_suite

SUITE = tiny_suite("h", ("astronaut", "camera"), ("text",), """
[[methods]]
name = "telea"
{extra}
""")


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A workspace: image/mask files, bad files, suites, and a finished run folder ``run/``."""
    ws = tmp_path_factory.mktemp("ws")
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).astype(np.uint8)
    _png(ws / "img.png", image)
    mask = np.full((64, 64), 255, np.uint8)
    mask[20:30, 20:40] = 0
    _png(ws / "mask.png", mask)
    _png(ws / "small_mask.png", mask[:32, :32])
    _png(ws / "empty_mask.png", np.zeros((64, 64), np.uint8))
    _png(ws / "full_mask.png", np.full((64, 64), 255, np.uint8))
    _png(ws / "colour_mask.png", np.stack([mask, mask * 0, mask], -1))
    _png(ws / "ref_small.png", image[:32, :32])
    (ws / "notes.png").write_text("not an image")
    (ws / "trunc.png").write_bytes((ws / "img.png").read_bytes()[:100])
    (ws / "a_folder").mkdir()
    (ws / "photos").mkdir()
    (ws / "photos" / "holiday.jpg").write_bytes(b"my photo")
    (ws / "a_file").write_text("keep me")
    (ws / "weights").mkdir()
    (ws / "weights" / "EdgeModel_gen.pth").write_bytes(b"\x80\x04garbage pickle")
    (ws / "weights" / "InpaintingModel_gen.pth").write_bytes(b"\x80\x04garbage pickle")
    suites = {
        "good": "", "bad_toml": "name = [", "method": '[[methods]]\nname = "telea-x"',
        "param": "[[methods]]\nname = \"telea\"\ncolour = 1", "type": '[[methods]]\nname = "telea"\nradius = "big"',
        "dup": '[[methods]]\nname = "telea"', "radius0": '[[methods]]\nname = "telea"\nradius = 0',
        "selector": '[[methods]]\nname = "ns"\nimages = ["lena"]', "factory": '[[methods]]\nname = "nosuchmod:make"',
        "every0": '[[methods]]\nname = "dip-skip"\niterations = 2\nevery = 0',
        "lr": '[[methods]]\nname = "dip-skip"\niterations = 2\nlr = -1.0',
    }
    for name, extra in suites.items():
        (ws / f"{name}.toml").write_text(SUITE.format(extra=extra))
    for name, text in {"top_key": 'colour = "red"\n' + SUITE, "image": SUITE.replace('"camera"', '"lena"'), "maskkind": SUITE.replace('["text"]', '["txt"]'),
                       "pad": SUITE.replace("size = 64", "size = 64\npad = -1"),
                       "seeds": SUITE.replace("seeds = [0]", "seeds = [0, 0]"),
                       "folder": SUITE.replace('source = "builtin"\nsize = 64', 'source = "folder"\npath = "x"'),
                       "filepad": SUITE.replace('source = "builtin"\nsize = 64', 'source = "folder"\npad = 1')
                       .replace('masks = ["text"]', 'masks = ["file"]')}.items():
        (ws / f"{name}.toml").write_text(text.format(extra=""))
    assert main(["run", "--suite", str(ws / "good.toml"), "--out", str(ws / "run"), "--no-report"]) == 0
    legacy = ws / "legacy"
    legacy.mkdir()
    shutil.copy(ws / "run" / "results.csv", legacy / "results.csv")
    return ws


@pytest.fixture
def ws(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base, tmp_path / "ws", symlinks=True)
    return tmp_path / "ws"


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _conflict(ws: Path) -> None:
    shutil.copytree(ws / "run", ws / "run2")
    row = next((ws / "run2" / "rows").glob("*.json"))
    body = json.loads(row.read_text())
    body["result"]["psnr"] += 1.0
    row.write_text(json.dumps(body))


def _damage(ws: Path) -> None:
    next((ws / "run" / "rows").glob("*.json")).write_text('{"format": "dip-bench-row/1", "result": {')


INPAINT = ["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "telea", "--out"]
DIP = ["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "dip-skip", "--preset", "region", "--out"]
RUN = ["run", "--suite", "{ws}/good.toml", "--no-report", "--out"]
CASES = {
    # inpaint: outputs
    "out is the input image": (INPAINT + ["{ws}/img.png"], "same file as the image", None),
    "out is the mask": (INPAINT + ["{ws}/mask.png"], "same file as the mask", None),
    "out is a symlink to the image": (INPAINT + ["{ws}/link.png"], "same file as the image",
                                      lambda ws: (ws / "link.png").symlink_to(ws / "img.png")),
    "out is the reference": (INPAINT + ["{ws}/o.png", "--reference", "{ws}/o.png"], "--reference",
                             lambda ws: shutil.copy(ws / "img.png", ws / "o.png")),
    "out under a file": (INPAINT + ["{ws}/a_file/o.png"], "a parent path is a file", None),
    "out unwritable before a long DIP fit": (DIP + ["/proc/dip-bench/o.png", "--iters", "5000"], "cannot write", None),
    "out is a folder": (INPAINT + ["{ws}/a_folder"], "is a folder", None),
    "out is a jpeg": (INPAINT + ["{ws}/o.jpg"], "ending in .png", None),
    # inpaint: options
    "param lr=fast": (DIP + ["{ws}/o.png", "--param", "lr=fast"], "lr = 'fast' is not a finite number", None),
    "param lr=nan": (DIP + ["{ws}/o.png", "--param", "lr=nan"], "is not a finite number", None),
    "param every=0": (DIP + ["{ws}/o.png", "--param", "every=0"], "every", None),
    "param unknown": (INPAINT + ["{ws}/o.png", "--param", "colour=1"], "has no parameter colour", None),
    "param without =": (INPAINT + ["{ws}/o.png", "--param", "radius"], "is not KEY=VALUE", None),
    "param given twice": (INPAINT + ["{ws}/o.png", "--param", "radius=3", "--param", "radius=4"], "twice", None),
    "param radius=0": (INPAINT + ["{ws}/o.png", "--param", "radius=0"], "radius must be a positive", None),
    "device gpu": (INPAINT + ["{ws}/o.png", "--device", "gpu"], "--device 'gpu'", None),
    "iters 0": (DIP + ["{ws}/o.png", "--iters", "0"], "--iters 0", None),
    "seed -1": (INPAINT + ["{ws}/o.png", "--seed", "-1"], "--seed -1", None),
    "unknown method": (["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "teela", "--out", "{ws}/o.png"],
                       "did you mean telea", None),
    "factory not importable": (["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "nosuchmod:make", "--out",
                                "{ws}/o.png"], "cannot import nosuchmod", None),
    "unknown preset": (DIP + ["{ws}/o.png", "--preset", "textt"], "unknown preset", None),
    "reference of another size": (INPAINT + ["{ws}/o.png", "--reference", "{ws}/ref_small.png"], "ref_small.png", None),
    "reference missing": (INPAINT + ["{ws}/o.png", "--reference", "{ws}/nope.png"], "nope.png", None),
    "edgeconnect without weights": (["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "edgeconnect",
                                     "--weights", "{ws}/nowhere", "--out", "{ws}/o.png"], "nowhere", None),
    "edgeconnect with garbage weights": (["inpaint", "{ws}/img.png", "{ws}/mask.png", "--method", "edgeconnect",
                                          "--weights", "{ws}/weights", "--out", "{ws}/o.png"], "Model_gen.pth", None),
    # inpaint: files
    "image missing": (["inpaint", "{ws}/nope.png", "{ws}/mask.png", "--method", "telea", "--out", "{ws}/o.png"],
                      "nope.png: no such file", None),
    "image is a folder": (["inpaint", "{ws}/a_folder", "{ws}/mask.png", "--method", "telea", "--out", "{ws}/o.png"],
                          "is not a file", None),
    "text file named png": (["inpaint", "{ws}/notes.png", "{ws}/mask.png", "--method", "telea", "--out",
                             "{ws}/o.png"], "not a readable image", None),
    "truncated png": (["inpaint", "{ws}/trunc.png", "{ws}/mask.png", "--method", "telea", "--out", "{ws}/o.png"],
                      "trunc.png", None),
    "mask of another size": (["inpaint", "{ws}/img.png", "{ws}/small_mask.png", "--method", "telea", "--out",
                              "{ws}/o.png"], "small_mask.png: is 32x32", None),
    "mask all black": (["inpaint", "{ws}/img.png", "{ws}/empty_mask.png", "--method", "telea", "--out",
                        "{ws}/o.png"], "no known pixel", None),
    "mask all white": (["inpaint", "{ws}/img.png", "{ws}/full_mask.png", "--method", "telea", "--out",
                        "{ws}/o.png"], "no hole", None),
    "mask in colour": (["inpaint", "{ws}/img.png", "{ws}/colour_mask.png", "--method", "telea", "--out",
                        "{ws}/o.png"], "mask has colour", None),
    # run: options and folders
    "run out is a file": (RUN + ["{ws}/a_file"], "is a file", None),
    "run out is someone's photos": (RUN + ["{ws}/photos"], "not a dip-bench run folder", None),
    "run twice without resume": (RUN + ["{ws}/run"], "already holds results", None),
    "run resume and overwrite": (RUN + ["{ws}/run", "--resume", "--overwrite"], "contradict", None),
    "run resume an old-format folder": (RUN + ["{ws}/legacy", "--resume"], "older dip-bench", None),
    "run device gpu": (RUN + ["{ws}/new", "--device", "gpu"], "--device 'gpu'", None),
    "run shard 3/2": (RUN + ["{ws}/new", "--shard", "3/2"], "--shard 3/2", None),
    "run shard x": (RUN + ["{ws}/new", "--shard", "x"], "is not K/N", None),
    "run seeds 0": (RUN + ["{ws}/new", "--seeds", "0"], "--seeds 0", None),
    "run unknown method filter": (RUN + ["{ws}/new", "--methods", "dip"], "--methods: 'dip'", None),
    "run unknown image filter": (RUN + ["{ws}/new", "--images", "lena"], "--images: 'lena'", None),
    "run data root missing": (RUN + ["{ws}/new", "--data-root", "{ws}/nowhere"], "--data-root", None),
    # suite files
    "suite missing": (["run", "--suite", "{ws}/nope.toml", "--out", "{ws}/new"], "suite file not found", None),
    "suite not toml": (["run", "--suite", "{ws}/bad_toml.toml", "--out", "{ws}/new"], "not valid TOML", None),
    "suite unknown key": (["run", "--suite", "{ws}/top_key.toml", "--out", "{ws}/new"], "unknown key colour", None),
    "suite unknown method": (["run", "--suite", "{ws}/method.toml", "--out", "{ws}/new"], "unknown method", None),
    "suite unknown factory": (["run", "--suite", "{ws}/factory.toml", "--out", "{ws}/new"], "nosuchmod", None),
    "suite unknown parameter": (["run", "--suite", "{ws}/param.toml", "--out", "{ws}/new"], "no parameter colour",
                                None),
    "suite parameter type": (["run", "--suite", "{ws}/type.toml", "--out", "{ws}/new"], "radius = 'big'", None),
    "suite duplicate rows": (["run", "--suite", "{ws}/dup.toml", "--out", "{ws}/new"], "defined twice", None),
    "suite radius 0": (["run", "--suite", "{ws}/radius0.toml", "--out", "{ws}/new"], "radius must be", None),
    "suite every 0": (["run", "--suite", "{ws}/every0.toml", "--out", "{ws}/new"], "every", None),
    "suite lr -1": (["run", "--suite", "{ws}/lr.toml", "--out", "{ws}/new"], "lr", None),
    "suite selector matches nothing": (["run", "--suite", "{ws}/selector.toml", "--out", "{ws}/new"], "lena", None),
    "suite unknown image": (["run", "--suite", "{ws}/image.toml", "--out", "{ws}/new"], "'lena'", None),
    "suite unknown mask kind": (["run", "--suite", "{ws}/maskkind.toml", "--out", "{ws}/new"], "'txt'", None),
    "suite negative pad": (["run", "--suite", "{ws}/pad.toml", "--out", "{ws}/new"], "pad = -1", None),
    "suite repeated seed": (["run", "--suite", "{ws}/seeds.toml", "--out", "{ws}/new"], "repeat a seed", None),
    "suite folder without data root": (["run", "--suite", "{ws}/folder.toml", "--out", "{ws}/new"], "--data-root",
                                       None),
    "suite pad with file masks": (["run", "--suite", "{ws}/filepad.toml", "--out", "{ws}/new"], "pad works only",
                                  None),
    # merge, report, data
    "merge into an input": (["merge", "{ws}/run", "--out", "{ws}/run"], "is one of the folders", None),
    "merge a foreign folder": (["merge", "{ws}/run", "{ws}/photos", "--out", "{ws}/m"], "not a dip-bench run", None),
    "merge an old-format folder": (["merge", "{ws}/run", "{ws}/legacy", "--out", "{ws}/m"], "older dip-bench", None),
    "merge conflicting rows": (["merge", "{ws}/run", "{ws}/run2", "--out", "{ws}/m"], "different results", _conflict),
    "merge a damaged row": (["merge", "{ws}/run", "--out", "{ws}/m"], "damaged or foreign", _damage),
    "report of a missing folder": (["report", "{ws}/nowhere"], "no such folder", None),
    "report of someone's photos": (["report", "{ws}/photos"], "not a dip-bench run folder", None),
    "data export onto a file": (["data", "export", "{ws}/a_file"], "is a file", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistake_is_one_line_exit_2_and_nothing_changes(case: str, ws: Path, capsys, monkeypatch):
    argv, text, setup = CASES[case]
    if setup is not None:
        setup(ws)
    monkeypatch.chdir(ws)
    before = snapshot(ws)
    start = time.perf_counter()
    code = main([part.replace("{ws}", str(ws)) for part in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("dip-bench: warning")]
    assert len(lines) == 1 and lines[0].startswith("dip-bench: error: ") and "Traceback" not in err, err
    assert text in lines[0], lines[0]
    assert time.perf_counter() - start < 30, "a user mistake must be found before any long work"
    assert snapshot(ws) == before


# --- results that must never be lost or silently wrong -------------------------------------------------------------


def test_rows_differing_only_by_a_parameter_are_both_kept(ws: Path):
    (ws / "two.toml").write_text(SUITE.format(extra='[[methods]]\nname = "telea"\nradius = 7'))
    assert main(["run", "--suite", str(ws / "two.toml"), "--out", str(ws / "two"), "--no-report"]) == 0
    table = read_results(ws / "two")
    assert len(table) == 4 and table.row_id.is_unique and sorted(table.params.unique()) == ['{"radius": 7}', "{}"]
    assert table.seed.dtype == np.int64


def test_damaged_row_is_reported_and_recomputed_not_duplicated(ws: Path, capsys):
    _damage(ws)
    with pytest.warns(UserWarning, match="damaged or foreign row file"):
        assert len(read_results(ws / "run")) == 1
    assert main(["run", "--suite", str(ws / "good.toml"), "--out", str(ws / "run"), "--resume", "--no-report"]) == 0
    assert "1 of 2 rows already done" in capsys.readouterr().out
    table = read_results(ws / "run")
    assert len(table) == 2 and (table.status == "ok").all() and len(list((ws / "run" / "damaged").iterdir())) == 1


def test_garbage_and_cut_lines_in_an_old_results_csv(ws: Path):
    path = ws / "legacy" / "results.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + ["garbage,,,", lines[1][: len(lines[1]) // 3]]) + "\n")
    with pytest.warns(UserWarning, match="damaged and left out"):
        table = read_results(ws / "legacy")
    assert len(table) == 2 and table.seed.dtype == np.int64


def test_resume_after_parameters_changed_reruns_and_sets_old_rows_aside(ws: Path, capsys):
    old = snapshot(ws / "run" / "rows")
    (ws / "good.toml").write_text(SUITE.replace('name = "telea"', 'name = "telea"\nradius = 5').format(extra=""))
    assert main(["run", "--suite", str(ws / "good.toml"), "--out", str(ws / "run"), "--resume", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "0 of 2 rows already done" in out and "2 rows of a definition no longer in the suite" in out
    table = read_results(ws / "run")
    assert len(table) == 2 and set(table.params) == {'{"radius": 5}'}
    assert snapshot(ws / "run" / "stale") == old


def test_skipped_rows_are_retried_once_the_weights_exist(ws: Path, monkeypatch, capsys):
    module = ws / "hostile_weights_method.py"
    module.write_text(
        "from pathlib import Path\n"
        "from dip_bench.baselines.opencv import make_telea\n"
        "def make(*, seed: int = 0, device: str = 'cpu'):\n    return make_telea(seed=seed, device=device)\n"
        "def unavailable_reason(**params):\n"
        "    return None if Path('weights.bin').exists() else 'no weights.bin'\n"
        "make.unavailable_reason = unavailable_reason\n")
    (ws / "w.toml").write_text(SUITE.replace('"telea"', '"hostile_weights_method:make"').format(extra=""))
    monkeypatch.chdir(ws)
    argv = ["run", "--suite", "w.toml", "--out", "w", "--no-report"]
    assert main(argv) == 0
    assert (read_results(ws / "w").status == "skipped: no weights.bin").all()
    assert main(argv + ["--resume"]) == 0
    assert "2 of 2 rows already done" in capsys.readouterr().out
    (ws / "weights.bin").write_bytes(b"w")
    assert main(argv + ["--resume"]) == 0
    table = read_results(ws / "w")
    assert len(table) == 2 and (table.status == "ok").all()


def test_overwrite_moves_earlier_results_to_a_backup(ws: Path):
    before = snapshot(ws / "run")
    argv = ["run", "--suite", str(ws / "good.toml"), "--out", str(ws / "run"), "--overwrite", "--no-report"]
    assert main(argv) == 0 and main(argv) == 0
    backups = sorted((ws / "run" / "backups").iterdir())
    assert len(backups) == 2 and snapshot(backups[0]) == before
    assert len(read_results(ws / "run")) == 2


def test_two_runs_on_one_out_lose_and_duplicate_nothing(tmp_path: Path):
    (tmp_path / "s.toml").write_text(SUITE.replace('["astronaut", "camera"]', '["astronaut", "camera", "coffee", '
                                                   '"brick", "grass", "gravel"]').replace(
        '["text"]', '["text", "boxes", "strokes-10-20"]').format(extra='[[methods]]\nname = "ns"'))
    command = [sys.executable, "-m", "dip_bench.bench.cli", "run", "--suite", str(tmp_path / "s.toml"), "--out",
               str(tmp_path / "out"), "--no-report", "--resume"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    table = read_results(tmp_path / "out")
    assert len(table) == 36 and table.row_id.is_unique and (table.status == "ok").all()
