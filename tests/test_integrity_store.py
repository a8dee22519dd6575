"""Hostile cases of issue 27 on the results store: sealed rows (a hand-edited number, a replaced or missing output
is named by every verb and rerun by --resume), merge never mixes, the shipped reference is protected, files keep
the user's umask, a full disk is one line and --resume recovers, a legacy results.csv without a column is handled."""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dip_bench.bench import atomic, seal
from dip_bench.bench.cli import main
from dip_bench.bench.results import FORMAT, read_results, scan_rows
from dip_bench.datasets import load_builtin_image, load_builtin_mask

from conftest import tiny_suite

SUITE = tiny_suite("{name}", ("camera", "astronaut"), ("text", "pixels50"), """
[[methods]]
name = "telea"
[[methods]]
name = "ns"
""")


def _run(folder: Path, suite: Path, *extra: str) -> int:
    return main(["run", "--suite", str(suite), "--out", str(folder), "--no-report", *extra])


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A workspace with suites ``s`` (name "h") and ``other`` (name "other") and a finished run ``run/`` of ``s``."""
    ws = tmp_path_factory.mktemp("store")
    (ws / "s.toml").write_text(SUITE.format(name="h"))
    (ws / "other.toml").write_text(SUITE.format(name="other"))
    assert _run(ws / "run", ws / "s.toml") == 0
    return ws


@pytest.fixture
def ws(made: Path, tmp_path: Path) -> Path:
    shutil.copytree(made, tmp_path / "ws")
    return tmp_path / "ws"


def _rows(run: Path) -> list[Path]:
    return sorted((run / "rows").glob("*.json"))


def _body(path: Path) -> dict:
    return json.loads(path.read_text())


def _edit_metric(run: Path) -> tuple[str, str]:
    path = _rows(run)[0]
    body = _body(path)
    body["result"]["psnr"] += 0.5
    path.write_text(json.dumps(body))
    return body["row_id"], "psnr"


def _replace_output(run: Path) -> tuple[str, str]:
    first, second = _body(_rows(run)[0]), _body(_rows(run)[1])
    shutil.copyfile(run / second["seals"]["output"]["file"], run / first["seals"]["output"]["file"])
    return first["row_id"], first["seals"]["output"]["file"]


def _remove_output(run: Path) -> tuple[str, str]:
    body = _body(_rows(run)[0])
    (run / body["seals"]["output"]["file"]).unlink()
    return body["row_id"], body["seals"]["output"]["file"]


TAMPER = {"hand-edited metric": _edit_metric, "replaced output": _replace_output, "missing output": _remove_output}


# --- sealed rows ---------------------------------------------------------------------------------------------------


def test_every_ok_row_is_sealed_and_its_numbers_recompute_bit_for_bit(ws: Path, recwarn):
    run = ws / "run"
    valid, damaged = scan_rows(run)
    assert not damaged and len(valid) == 8 and not [w for w in recwarn if "seal" in str(w.message)]
    for stored in valid.values():
        assert stored.format == FORMAT and stored.status == "ok" and not stored.broken
        assert set(stored.seals) == {"output", "image", "mask"}
    image, mask = load_builtin_image("camera", 64), load_builtin_mask("text", 64)
    assert np.array_equal(seal._decode_image(run / "inputs" / "camera.png"), image)
    assert np.array_equal(seal._decode_mask(run / "inputs" / "camera__text.mask.png"), mask)


@pytest.mark.parametrize("tamper", TAMPER)
def test_a_tampered_row_is_named_by_report_check_and_merge_and_rerun_by_resume(ws: Path, tamper: str, capsys):
    run = ws / "run"
    shutil.copytree(run, ws / "clean")
    rid, file = TAMPER[tamper](run)
    with pytest.warns(UserWarning, match=f"row {rid}: seal broken .*{file}"):
        table = read_results(run)
    row = table[table["row_id"] == rid].iloc[0]
    assert row["status"].startswith("failed: seal broken: ") and file in row["status"]
    assert np.isnan(row["psnr"]) and (table["status"] == "ok").sum() == 7  # never presented as ok

    assert main(["check", str(run), "--reference", str(ws / "clean")]) == 1
    assert f"seal broken: {file}" in capsys.readouterr().out or tamper == "hand-edited metric"
    assert main(["merge", str(run), "--out", str(ws / "m"), "--no-report"]) == 2
    error = capsys.readouterr().err
    assert rid in error and "seal broken" in error and not (ws / "m" / "rows").exists()

    assert _run(run, ws / "s.toml", "--resume") == 0
    assert f"seal broken" in capsys.readouterr().out
    assert (run / "damaged" / f"{rid}.json").is_file()
    valid, _ = scan_rows(run)
    assert all(stored.status == "ok" and stored.seals for stored in valid.values())
    assert main(["check", str(run), "--reference", str(ws / "clean")]) == 0


def test_a_row_of_format_1_is_reported_unsealed_and_resume_seals_it(ws: Path, capsys):
    run = ws / "run"
    path = _rows(run)[0]
    body = _body(path)
    body["format"] = "dip-bench-row/1"
    del body["seals"]
    path.write_text(json.dumps(body))
    with pytest.warns(UserWarning, match="1 of 8 rows are unsealed"):
        assert (read_results(run)["status"] == "ok").all()
    assert _run(run, ws / "s.toml", "--resume") == 0
    assert "1 unsealed rows" in capsys.readouterr().out
    assert _body(path)["format"] == FORMAT and _body(path)["seals"]


def test_seals_that_are_not_file_and_sha256_make_a_damaged_row(ws: Path):
    path = _rows(ws / "run")[0]
    body = _body(path)
    body["seals"]["output"] = {"file": "outputs/x.png"}
    path.write_text(json.dumps(body))
    with pytest.warns(UserWarning, match="damaged or foreign"):
        _, damaged = scan_rows(ws / "run")
    assert [p for p, _ in damaged] == [path]


def test_a_sealed_file_outside_the_run_folder_is_refused(ws: Path):
    run = ws / "run"
    path = _rows(run)[0]
    body = _body(path)
    shutil.copyfile(run / body["seals"]["output"]["file"], ws / "outside.png")
    body["seals"]["output"]["file"] = "../outside.png"
    path.write_text(json.dumps(body))
    with pytest.warns(UserWarning, match="outside the run folder"):
        valid, _ = scan_rows(run)
    assert valid[body["row_id"]].status == "failed"


def test_a_16_bit_image_is_stored_losslessly_and_its_rows_verify(tmp_path: Path):
    data = tmp_path / "data" / "set"
    data.mkdir(parents=True)
    yy, xx = np.mgrid[0:64, 0:64]
    pixels = np.stack([xx * 1000 + 7, yy * 1000 + 3, (xx + yy) * 500 + 1], -1).astype(np.uint16)
    cv2.imwrite(str(data / "deep.png"), pixels[..., ::-1])
    mask = np.full((64, 64), 255, np.uint8)
    mask[20:30, 20:40] = 0
    Image.fromarray(mask).save(data / "deep_mask.png")
    (tmp_path / "f.toml").write_text('name = "f"\ndevice = "cpu"\nseeds = [0]\n[[data]]\nsource = "folder"\n'
                                     'path = "set"\nmasks = ["file"]\n[[methods]]\nname = "telea"\n')
    assert main(["run", "--suite", str(tmp_path / "f.toml"), "--out", str(tmp_path / "r"), "--data-root",
                 str(tmp_path / "data"), "--no-report"]) == 0
    stored = next(iter(scan_rows(tmp_path / "r")[0].values()))
    assert stored.status == "ok" and stored.seals["image"]["file"] == "inputs/deep.16bit.png"
    clean = seal._decode_image(tmp_path / "r" / "inputs" / "deep.16bit.png")
    assert np.array_equal(clean, pixels.astype(np.float32) / np.float32(65535))


def test_row_floats_round_trip_through_the_row_file_exactly(ws: Path):
    for path in _rows(ws / "run"):
        body = _body(path)
        assert json.loads(json.dumps(body["result"])) == body["result"]
        assert all(isinstance(body["result"][k], float) for k in seal.RECOMPUTED)


# --- merge ---------------------------------------------------------------------------------------------------------


def _reencode_output(run: Path) -> str:
    """Re-encode the first row's output with other PNG settings (same pixels, same numbers, other bytes) and reseal
    it, as a second machine's encoder might: the row still verifies but its output bytes differ."""
    path = _rows(run)[0]
    body = _body(path)
    output = run / body["seals"]["output"]["file"]
    buffer = io.BytesIO()
    Image.open(output).save(buffer, format="PNG", compress_level=0)
    output.write_bytes(buffer.getvalue())
    body["seals"]["output"]["sha256"] = seal.file_sha256(output)
    path.write_text(json.dumps(body))
    return body["row_id"]


def test_merge_names_both_folders_when_one_row_has_other_output_bytes(ws: Path, capsys):
    shutil.copytree(ws / "run", ws / "run2")
    rid = _reencode_output(ws / "run2")
    assert scan_rows(ws / "run2")[0][rid].status == "ok"
    assert main(["merge", str(ws / "run"), str(ws / "run2"), "--out", str(ws / "m"), "--no-report"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and rid in error and str(ws / "run") in error and str(ws / "run2") in error
    assert not (ws / "m" / "rows").exists()


def test_merge_keeps_each_rows_own_output(ws: Path):
    shutil.copytree(ws / "run", ws / "a")
    shutil.copytree(ws / "run", ws / "b")
    for path in _rows(ws / "b")[:4]:
        path.unlink()
    for path in _rows(ws / "a")[4:]:
        path.unlink()
    assert main(["merge", str(ws / "a"), str(ws / "b"), "--out", str(ws / "m"), "--no-report"]) == 0
    valid, damaged = scan_rows(ws / "m")
    assert len(valid) == 8 and not damaged and all(s.status == "ok" for s in valid.values())


def test_merge_of_other_suites_needs_allow_mixed_and_records_every_source(ws: Path, capsys):
    assert _run(ws / "o", ws / "other.toml", "--methods", "telea") == 0
    capsys.readouterr()
    argv = ["merge", str(ws / "run"), str(ws / "o"), "--out", str(ws / "m"), "--no-report"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "suite 'h'" in error and "'other'" in error and "--allow-mixed" in error and not (ws / "m").exists()
    assert main(argv + ["--allow-mixed"]) == 0
    meta = json.loads((ws / "m" / "meta.json").read_text())
    assert [s["folder"] for s in meta["sources"]] == [str(ws / "run"), str(ws / "o")]
    assert [s["suite"] for s in meta["sources"]] == ["h", "other"]
    assert all(s["fingerprint"] and "git_commit" in s for s in meta["sources"]) and meta["mixed"]


def test_merge_refuses_runs_of_other_environments_without_allow_mixed(ws: Path, capsys):
    shutil.copytree(ws / "run", ws / "run2")
    meta = json.loads((ws / "run2" / "meta.json").read_text())
    meta["fingerprint"]["threads"] = 99
    (ws / "run2" / "meta.json").write_text(json.dumps(meta))
    assert main(["merge", str(ws / "run"), str(ws / "run2"), "--out", str(ws / "m"), "--no-report"]) == 2
    assert "different environments" in capsys.readouterr().err


# --- the reference -------------------------------------------------------------------------------------------------


@pytest.fixture
def shipped(ws: Path, monkeypatch) -> Path:
    """A stand-in for the shipped reference ``reports/reference/quick-cpu.*`` (suite quick) in the working folder."""
    monkeypatch.chdir(ws)
    folder = ws / "reports" / "reference"
    folder.mkdir(parents=True)
    (folder / "quick-cpu.csv").write_text("measured\n")
    (folder / "quick-cpu.meta.json").write_text(json.dumps({"suite": "quick", "tolerances": [1]}))
    return folder


def test_check_update_writes_only_to_an_explicit_reference(ws: Path, shipped: Path, capsys):
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    assert main(["check", str(ws / "run"), "--update"]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["check", str(ws / "run"), "--update", "--reference", str(shipped / "quick-cpu.csv")]) == 2
    assert "suite 'quick'" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


def test_check_update_to_a_folder_is_one_line(ws: Path, capsys):
    (ws / "refs").mkdir()
    assert main(["check", str(ws / "run"), "--update", "--reference", str(ws / "refs")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "is a folder" in error and not any((ws / "refs").iterdir())


def test_check_update_backs_up_what_it_replaces(ws: Path, capsys):
    target = ws / "refs" / "h.csv"
    assert main(["check", str(ws / "run"), "--update", "--reference", str(target)]) == 0
    first = target.read_bytes(), target.with_name("h.meta.json").read_bytes()
    assert main(["check", str(ws / "run"), "--update", "--reference", str(target)]) == 0
    assert "backed up" in capsys.readouterr().out
    (backup,) = (ws / "refs" / "backups").iterdir()
    assert ((backup / "h.csv").read_bytes(), (backup / "h.meta.json").read_bytes()) == first
    assert main(["check", str(ws / "run"), "--reference", str(target)]) == 0


def test_no_reference_is_made_from_a_run_with_a_broken_seal(ws: Path, capsys):
    _edit_metric(ws / "run")
    assert main(["check", str(ws / "run"), "--update", "--reference", str(ws / "refs" / "h.csv")]) == 2
    assert "seal broken" in capsys.readouterr().err and not (ws / "refs" / "h.csv").exists()


# --- files ---------------------------------------------------------------------------------------------------------


def test_files_are_written_with_the_users_umask(tmp_path: Path):
    old = os.umask(0o002)
    try:
        atomic.write_text(tmp_path / "a" / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "f.txt").stat().st_mode) == 0o664


def test_a_full_disk_is_one_line_keeps_the_rows_and_resume_recovers(ws: Path, monkeypatch, capsys):
    real, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 12:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    assert _run(ws / "full", ws / "s.toml") == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if line.startswith("dip-bench:")]
    assert "Traceback" not in err
    assert len(error) == 1 and "disk full" in error[0] and "--resume" in error[0] and str(ws / "full") in error[0]
    kept = {path.name for path in _rows(ws / "full")}
    assert 0 < len(kept) < 8
    monkeypatch.setattr(atomic.os, "fsync", real)
    assert _run(ws / "full", ws / "s.toml", "--resume") == 0
    valid, _ = scan_rows(ws / "full")
    assert len(valid) == 8 and all(s.status == "ok" and s.seals for s in valid.values())
    assert kept <= {path.name for path in _rows(ws / "full")}


# --- legacy tables -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["report", "check", "merge"])
def test_a_legacy_results_csv_without_a_column_is_handled_in_every_verb(ws: Path, verb: str, capsys):
    legacy = ws / "legacy"
    legacy.mkdir()
    pd.read_csv(ws / "run" / "results.csv").drop(columns=["psnr_hole", "output", "row_id"]).to_csv(
        legacy / "results.csv", index=False)
    argv = {"report": ["report", str(legacy)], "check": ["check", str(legacy), "--reference", str(ws / "run")],
            "merge": ["merge", str(legacy), "--out", str(ws / "m"), "--no-report"]}[verb]
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code == {"report": 0, "check": 2, "merge": 2}[verb]
    if verb == "report":
        assert "no column row_id, psnr_hole, output" in captured.err and "unsealed" in captured.err
    else:
        assert len(captured.err.strip().splitlines()[-1:]) == 1


def test_a_legacy_results_csv_without_a_key_column_is_one_line(ws: Path, capsys):
    legacy = ws / "legacy"
    legacy.mkdir()
    pd.read_csv(ws / "run" / "results.csv").drop(columns=["seed"]).to_csv(legacy / "results.csv", index=False)
    for argv in (["report", str(legacy)], ["check", str(legacy), "--reference", str(ws / "run")]):
        assert main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "no column seed" in error
