"""The regression check's maths and decisions on synthetic tables: tolerance rule, mode choice, exact mode down to
one ulp, statistical mode per configuration mean, and the references it refuses to judge."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dip_bench.bench.check import choose_mode, compare
from dip_bench.bench.reference import (FLOOR, K_DETECT, K_MAX, K_SE, Reference, load_reference,
                                       measure_tolerances, normalised, trimmed_mean, write_reference)
from dip_bench.contract import UserError

FINGERPRINT = {"device": "cpu", "cpu": "X", "onednn_isa": "Intel AVX-512", "threads": 2,
               "packages": {"torch": "2.13.0", "numpy": "2.4.6"}}
PARAMS = '{"iterations": 300, "preset": "region"}'


def table(shift: float = 0.0, rows: int = 4, rng_seed: int = 0) -> pd.DataFrame:
    """A DIP configuration with ``rows`` rows (its PSNR shifted by ``shift``) and a classical one."""
    rng = np.random.default_rng(rng_seed)
    records = []
    for i in range(rows):
        records.append({"method": "dip-skip", "preset": "region", "params": PARAMS, "image": f"im{i}", "mask": "text",
                        "seed": 0, "status": "ok", "psnr": 25.0 + i + shift + 0.1 * rng.standard_normal(),
                        "ssim": 0.8 + 0.01 * rng.standard_normal()})
        records.append({"method": "telea", "preset": "", "params": "{}", "image": f"im{i}", "mask": "text", "seed": 0,
                        "status": "ok", "psnr": 20.0 + i, "ssim": 0.7})
        records.append({"method": "edgeconnect", "preset": "", "params": "{}", "image": f"im{i}", "mask": "text",
                        "seed": 0, "status": "skipped: no weights", "psnr": math.nan, "ssim": math.nan})
    return normalised(pd.DataFrame(records), "test")


def reference(tmp_path: Path, base: pd.DataFrame, variants: dict[str, pd.DataFrame]) -> Reference:
    path = tmp_path / "ref.csv"
    tolerances, centers = measure_tolerances(base, variants, [0]) if variants else ([], None)
    if centers is not None:
        base = base.merge(centers.drop(columns="runs"), on=["method", "preset", "params", "image", "mask", "seed"], how="left")
    write_reference(path, base, {"suite": "t", "fingerprint": FINGERPRINT, "tolerances": tolerances})
    return load_reference(path)


def test_tolerance_rule_pools_the_per_row_spread_around_the_centres(tmp_path: Path):
    runs = [table(rng_seed=s) for s in range(3)]
    ref = reference(tmp_path, runs[0], {"v1": runs[1], "v2": runs[2]})
    dip = ref.tolerances[("dip-skip", "region", PARAMS.replace(" ", ""))]
    values = np.stack([run.psnr[run.method == "dip-skip"].to_numpy() for run in runs])  # runs x rows
    k, n = values.shape
    residuals = (values - values.mean(axis=0)) * math.sqrt((k + 1) / (k - 1))
    se = math.sqrt(np.mean(residuals ** 2) / n)
    loo = [values[i] - np.delete(values, i, axis=0).mean(axis=0) for i in range(k)]
    assert dip["n"] == 4 and dip["runs"] == 3
    assert dip["sd_psnr"] == pytest.approx(math.sqrt(values.var(axis=0, ddof=1).mean()))
    assert dip["se_psnr"] == pytest.approx(se)
    assert dip["tol_psnr"] == pytest.approx(max(K_SE * se, K_MAX * max(abs(d.mean()) for d in loo)))
    # 4 rows: the trimmed mean leaves one out at each end; winsorized spread of the 12 pooled residuals (3 each end)
    ordered = np.sort(residuals.ravel())
    se_trimmed = np.clip(ordered, ordered[3], ordered[-4]).std(ddof=1) / (0.5 * math.sqrt(4))
    assert dip["se_psnr_trimmed"] == pytest.approx(se_trimmed)
    assert dip["tol_psnr_trimmed"] == pytest.approx(
        max(K_SE * se_trimmed, K_MAX * max(abs(np.sort(d)[1:3].mean()) for d in loo)))
    assert dip["detect_psnr"] == pytest.approx(min(dip["tol_psnr"] + K_DETECT * se,
                                                   dip["tol_psnr_trimmed"] + K_DETECT * se_trimmed))
    assert [d["variant"] for d in dip["deviations"]] == ["v1", "v2"]
    centres = ref.table[ref.table.method == "dip-skip"]["psnr_center"].to_numpy()
    assert centres == pytest.approx(values.mean(axis=0))
    telea = ref.tolerances[("telea", "", "{}")]
    assert telea["tol_psnr"] == telea["tol_psnr_trimmed"] == FLOOR["psnr"] and telea["sd_psnr"] == 0.0
    assert telea["tol_ssim"] == FLOOR["ssim"]


def test_trimmed_mean():
    assert trimmed_mean(np.array([5.0, 1.0, 2.0])) == pytest.approx(8 / 3)  # under 4 values: the plain mean
    assert trimmed_mean(np.array([-9.0, 1.0, 2.0, 30.0])) == pytest.approx(1.5)
    assert trimmed_mean(np.arange(8.0)) == pytest.approx(3.5) and math.isnan(trimmed_mean(np.array([])))


def test_the_trimmed_mean_ignores_one_odd_row_and_catches_a_shift_of_all_rows(tmp_path: Path):
    runs = [table(rows=8, rng_seed=s) for s in range(4)]
    ref = reference(tmp_path, runs[0], {f"v{k}": run for k, run in enumerate(runs[1:])})
    other = {**FINGERPRINT, "threads": 1}
    odd = table(rows=8, rng_seed=9)
    odd.loc[odd.index[odd.method == "dip-skip"][3], "psnr"] -= 3.0
    result = compare(odd, ref, other)
    line = next(line for line in result.lines if line["method"] == "dip-skip")
    assert line["d_psnr"] < -0.3 and abs(line["d_psnr_trimmed"]) < 0.2
    shifted = table(rows=8, shift=-0.5, rng_seed=9)
    problems = compare(shifted, ref, other).problems
    assert any(p.startswith("dip-skip[region] iterations=300 (n=8): ") and "trimmed mean psnr" in p for p in problems)


def test_the_statistical_mode_compares_with_the_centres(tmp_path: Path):
    runs = [table(rng_seed=s) for s in range(4)]
    ref = reference(tmp_path, runs[0], {f"v{k}": run for k, run in enumerate(runs[1:])})
    centre = np.mean([run.psnr[run.method == "dip-skip"].mean() for run in runs])
    result = compare(runs[0], ref, {**FINGERPRINT, "threads": 1})
    line = next(line for line in result.lines if line["method"] == "dip-skip")
    assert line["d_psnr"] == pytest.approx(runs[0].psnr[runs[0].method == "dip-skip"].mean() - centre)
    assert compare(runs[0], ref, FINGERPRINT).mode.name == "exact" and compare(runs[0], ref, FINGERPRINT).ok


def test_mode_choice():
    assert choose_mode(FINGERPRINT, dict(FINGERPRINT)).name == "exact"
    other = {**FINGERPRINT, "onednn_isa": "Intel AVX2", "threads": 1}
    mode = choose_mode(FINGERPRINT, other)
    assert mode.name == "statistical" and "onednn_isa" in mode.why and "threads 2 -> 1" in mode.why
    assert "numpy" in choose_mode(FINGERPRINT, {**FINGERPRINT, "packages": {"torch": "2.13.0", "numpy": "2.5"}}).why
    assert choose_mode(FINGERPRINT, None).name == "statistical"
    gpu = {**FINGERPRINT, "device": "cuda"}
    assert choose_mode(gpu, dict(gpu)).name == "statistical"


def test_exact_mode_catches_a_one_ulp_scale_change(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {})
    assert compare(base, ref, FINGERPRINT).ok
    moved = base.copy()
    moved.loc[moved.index[moved.method == "telea"][2], "psnr"] *= 1 + 1e-12
    result = compare(moved, ref, FINGERPRINT)
    assert result.mode.name == "exact" and not result.ok
    assert len(result.problems) == 1 and result.problems[0].startswith("telea im2/text seed 0: psnr")


def test_statistical_mode_passes_noise_and_fails_a_shift(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {f"v{s}": table(rng_seed=s) for s in range(1, 6)})
    other = {**FINGERPRINT, "threads": 1}
    assert compare(table(rng_seed=7), ref, other).ok
    result = compare(table(shift=-1.0, rng_seed=7), ref, other)
    assert result.mode.name == "statistical" and not result.ok
    assert len(result.problems) == 1
    assert result.problems[0].startswith("dip-skip[region] iterations=300 (n=4): mean psnr")
    assert {line["method"]: line["verdict"] for line in result.lines} == {"dip-skip": "MOVED", "telea": "ok",
                                                                           "edgeconnect": "ok"}


def test_statistical_mode_scales_the_tolerance_for_a_slice(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {f"v{s}": table(rng_seed=s) for s in range(1, 4)})
    run = table(rng_seed=9)
    result = compare(run[run.image.isin(["im0"])], ref, {**FINGERPRINT, "threads": 1}, only_present=True)
    lines = {line["method"]: line for line in result.lines}
    full = ref.tolerances[("dip-skip", "region", base.params.iloc[0])]["tol_psnr"]
    assert lines["dip-skip"]["n"] == 1 and lines["dip-skip"]["tol_psnr"] == pytest.approx(full * 2)


def test_missing_rows_and_changed_status_fail(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {})
    result = compare(base.iloc[1:], ref, FINGERPRINT)
    assert any("missing from the run" in p for p in result.problems)
    assert compare(base.iloc[1:], ref, FINGERPRINT, only_present=True).ok
    failed = base.copy()
    failed.loc[0, "status"] = "failed: boom"
    assert any("status 'ok' -> 'failed: boom'" in p for p in compare(failed, ref, FINGERPRINT).problems)


def test_a_new_configuration_fails_and_extra_seeds_are_not_compared(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {})
    changed = base.copy()
    changed.loc[changed.method == "dip-skip", "params"] = '{"iterations":600,"preset":"region"}'
    problems = compare(changed, ref, FINGERPRINT, only_present=True).problems
    assert any("not in the reference: dip-skip[region] iterations=600" in p for p in problems)
    more_seeds = pd.concat([base, base.assign(seed=1, psnr=base.psnr + 5)], ignore_index=True)
    assert compare(more_seeds, ref, FINGERPRINT).ok


def test_refuses_what_it_cannot_judge(tmp_path: Path):
    base = table()
    ref = reference(tmp_path, base, {"v": table(rng_seed=1)})
    exact_only = tmp_path / "exact-only.csv"
    write_reference(exact_only, base, {"suite": "t", "fingerprint": FINGERPRINT, "tolerances": []})
    with pytest.raises(UserError, match="no measured tolerances"):
        compare(base, load_reference(exact_only), {**FINGERPRINT, "threads": 1})
    meta_file = tmp_path / "ref.meta.json"
    meta = json.loads(meta_file.read_text())
    for bad in (float("inf"), -0.1, "0.1"):
        meta["tolerances"][0]["tol_psnr"] = bad
        meta_file.write_text(json.dumps(meta))
        with pytest.raises(UserError, match="tolerance tol_psnr of dip-skip"):
            load_reference(ref.path)
    pd.read_csv(ref.path).drop(columns=["ssim"]).to_csv(ref.path, index=False)
    with pytest.raises(UserError, match="missing column\\(s\\) ssim"):
        load_reference(ref.path)
    with pytest.raises(UserError, match="rows share a key"):
        normalised(pd.concat([base, base.iloc[:1]]), "dup.csv")
    with pytest.raises(UserError, match="reference not found"):
        load_reference(tmp_path / "nothing.csv")
