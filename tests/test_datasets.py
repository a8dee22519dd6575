"""The built-in set (committed PNGs + manifest), the seeded mask generators, external folders and `dip-bench data`."""
from __future__ import annotations

import argparse
import ast
import hashlib
import shutil
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dip_bench import datasets
from dip_bench.bench.cli import data as cmd_data
from dip_bench.datasets import (
    HOLE_RANGES,
    IMAGES,
    MASK_KINDS,
    RESOLUTIONS,
    InputError,
    NothingToInpaint,
    check_pair,
    hole_ratio,
    load_builtin_image,
    load_builtin_mask,
    load_folder,
    make_mask,
    mask_seed,
)
from dip_bench.datasets import build, builtin, font, raster
from dip_bench.datasets.images import IMAGE_SOURCES
from dip_bench.datasets.masks import _WORDS

OFFICIAL_INPAINTING = Path(__file__).resolve().parents[2] / "shared" / "data" / "dip-official" / "inpainting"


def in_range(kind: str, mask: np.ndarray) -> bool:
    lo, hi = HOLE_RANGES[kind]
    return lo < hole_ratio(mask) <= hi


# --- committed built-in set -------------------------------------------------------------------------------------


def test_manifest_verifies() -> None:
    assert datasets.verify_manifest() == []


def test_manifest_lists_every_image_and_mask_at_every_resolution() -> None:
    table = datasets.list_builtin()
    assert list(table.columns) == ["name", "kind", "size", "channels", "hole_ratio", "file"]
    assert len(table) == (len(IMAGES) + len(MASK_KINDS)) * len(RESOLUTIONS)
    images, masks = table[table.kind == "image"], table[table.kind == "mask"]
    assert set(images.name) == set(IMAGES) and set(masks.name) == set(MASK_KINDS)
    assert set(images.channels) == {1, 3}  # gray and colour both present
    assert images.hole_ratio.isna().all() and masks.channels.isna().all()
    assert len(IMAGES) >= 10


def test_committed_pngs_stay_small() -> None:
    total = sum(path.stat().st_size for path in builtin.DATA_DIR.rglob("*.png"))
    assert total < 12 * 2**20


def test_every_image_has_a_source_and_licence() -> None:
    for entry in builtin.read_manifest():
        assert entry["source"] and entry["licence"], entry["file"]


@pytest.mark.parametrize("name", IMAGES)
def test_builtin_image_is_float_in_unit_range(name: str) -> None:
    image = load_builtin_image(name, 64)
    assert image.dtype == np.float32 and image.shape[:2] == (64, 64) and image.shape[2] in (1, 3)
    assert 0.0 <= image.min() < image.max() <= 1.0
    with Image.open(builtin.image_path(name, 64)) as png:
        assert png.mode == ("L" if image.shape[2] == 1 else "RGB")


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_builtin_masks_are_binary_pngs_regenerated_exactly_by_make_mask(kind: str) -> None:
    """Every kind at every size (under a second in all). make_mask draws with our own integer rasteriser, so this
    holds with every OpenCV, Pillow and numpy; it ran under OpenCV 5.0.0.93, 5.1.0.95 and the lowest declared one."""
    for size in RESOLUTIONS:
        with Image.open(builtin.mask_path(kind, size)) as png:
            assert png.mode == "L"
            assert set(np.unique(np.asarray(png))) <= {0, 255}
        mask = load_builtin_mask(kind, size)
        assert mask.dtype == bool and mask.shape == (size, size) and in_range(kind, mask)
        regenerated = make_mask(kind, (size, size), mask_seed(kind))
        assert np.array_equal(mask, regenerated), (
            f"{builtin.mask_path(kind, size)} differs from make_mask; if the generator changed on purpose, run"
            " python -m dip_bench.datasets.build"
        )


def test_builtin_seed_depends_on_the_kind_only() -> None:
    seeds = [mask_seed(kind) for kind in MASK_KINDS]
    assert len(set(seeds)) == len(seeds) and seeds == [mask_seed(kind) for kind in MASK_KINDS]


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: load_builtin_image("lena", 64), "astronaut"),
        (lambda: load_builtin_image("astronaut", 100), "64, 128, 256, 512"),
        (lambda: load_builtin_mask("stroke", 64), "strokes-10-20"),
    ],
)
def test_unknown_builtin_names_and_sizes_list_the_choices(call, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        call()


def test_export_writes_byte_identical_pngs(tmp_path: Path) -> None:
    count = datasets.export_builtin(tmp_path / "out")
    files = sorted((tmp_path / "out").iterdir())
    assert count == len(files) == (len(IMAGES) + len(MASK_KINDS)) * len(RESOLUTIONS)
    assert (tmp_path / "out" / "astronaut_64.png").read_bytes() == builtin.image_path("astronaut", 64).read_bytes()
    assert (tmp_path / "out" / "mask_text_512.png").is_file()


def test_export_refuses_a_file_as_folder(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        datasets.export_builtin(target)


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of datasets/data that verify_manifest checks instead of the committed one."""
    copy = tmp_path / "data"
    shutil.copytree(builtin.DATA_DIR, copy)
    monkeypatch.setattr(builtin, "DATA_DIR", copy)
    monkeypatch.setattr(builtin, "MANIFEST", copy / "manifest.json")
    return copy


def test_verify_reports_every_difference(data_copy: Path) -> None:
    changed = data_copy / "images" / "camera_64.png"
    changed.write_bytes(changed.read_bytes() + b"\0")
    (data_copy / "masks" / "mask_region_64.png").unlink()
    shutil.copyfile(data_copy / "images" / "brick_64.png", data_copy / "images" / "extra_64.png")
    problems = datasets.verify_manifest()
    assert any("camera_64.png" in p and "SHA-256" in p for p in problems)
    assert any("camera_64.png" in p and "bytes" in p for p in problems)
    assert any("mask_region_64.png" in p and "missing" in p for p in problems)
    assert any("extra_64.png" in p and "not in the manifest" in p for p in problems)
    assert all("\n" not in p for p in problems)


def run_data_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cmd_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *argv])
    return args.func(args)


def test_data_command_verify_list_export(data_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_data_command(["verify"]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    assert run_data_command(["list", "--json"]) == 0
    assert '"hole_ratio"' in capsys.readouterr().out
    assert run_data_command(["export", str(tmp_path / "exported")]) == 0
    assert len(list((tmp_path / "exported").glob("*.png"))) == (len(IMAGES) + len(MASK_KINDS)) * len(RESOLUTIONS)
    (data_copy / "masks" / "mask_text_64.png").write_bytes(b"not a png")
    assert run_data_command(["verify"]) == 1
    assert "mask_text_64.png" in capsys.readouterr().err


def test_build_keeps_committed_images_whose_pixels_would_change(
    data_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = next(source for source in IMAGE_SOURCES if source.name == "camera")
    monkeypatch.setattr(build, "IMAGE_SOURCES", (camera,))
    monkeypatch.setattr(build, "MASK_KINDS", ("boxes",))
    monkeypatch.setattr(build, "square_resize", lambda pixels, size: np.zeros((size, size), np.uint8))  # "new Pillow"
    before = {size: builtin.image_path("camera", size).read_bytes() for size in RESOLUTIONS}
    changed, kept = build.build()
    assert kept == [builtin.image_path("camera", size) for size in RESOLUTIONS]
    assert all(builtin.image_path("camera", size).read_bytes() == before[size] for size in RESOLUTIONS)
    assert not (data_copy / "images" / "astronaut_64.png").exists()  # no longer in the (patched) set: deleted
    assert all("built-in file not in the manifest" in line for line in datasets.verify_manifest())  # checksums ok
    changed, kept = build.build(rewrite_images=True)
    assert kept == [] and builtin.image_path("camera", 64) in changed
    assert not load_builtin_image("camera", 64).any()


# --- our rasteriser and font ---------------------------------------------------------------------------------------


def test_mask_code_imports_no_drawing_library() -> None:
    """Masks must not depend on a library's rasteriser (OpenCV 5.1 changed putText's pixels)."""
    allowed = {"__future__", "math", "zlib", "collections.abc", "dataclasses", "numpy"}
    for module in (datasets.masks, datasets.strokes, raster, font):
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert name in allowed or name.startswith("dip_bench."), f"{module.__name__} imports {name}"


def capsule_reference(shape: tuple[int, int], start, end, width: int) -> np.ndarray:
    """Pixel centres within width/2 of the segment, by exact rational distance (an independent brute force)."""
    (x0, y0), (x1, y1) = start, end
    out = np.zeros(shape, bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            dx, dy = x1 - x0, y1 - y0
            length2 = dx * dx + dy * dy
            t = Fraction(0) if length2 == 0 else min(max(Fraction((x - x0) * dx + (y - y0) * dy, length2), 0), 1)
            px, py = x0 + t * dx, y0 + t * dy
            out[y, x] = (x - px) ** 2 + (y - py) ** 2 <= Fraction(width, 2) ** 2
    return out


def test_segment_matches_an_exact_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(25):
        start, end = (tuple(int(v) for v in rng.integers(-6, 26, 2)) for _ in range(2))
        width = int(rng.integers(1, 9))
        canvas = np.zeros((19, 23), bool)
        raster.draw_segment(canvas, start, end, width)
        assert np.array_equal(canvas, capsule_reference((19, 23), start, end, width)), (start, end, width)


def test_segment_shapes_by_hand() -> None:
    canvas = np.zeros((9, 12), bool)
    raster.draw_segment(canvas, (2, 4), (9, 4), 3)  # horizontal, 3 px wide: rows 3-5 between the caps
    assert canvas[3:6, 2:10].all() and not canvas[2].any() and not canvas[6].any()
    assert canvas[3:6, 1].all() and not canvas[:, 0].any() and not canvas[:, 11].any()  # round caps, radius 1.5
    disc = np.zeros((9, 9), bool)
    raster.draw_segment(disc, (4, 4), (4, 4), 5)  # radius 2.5 at pixel centres: 21 pixels
    assert np.count_nonzero(disc) == 21
    with pytest.raises(ValueError, match="width"):
        raster.draw_segment(canvas, (0, 0), (3, 3), 0)
    with pytest.raises(ValueError, match="integer"):
        raster.draw_segment(canvas, (0.5, 0), (3, 3), 1)


def inside_reference(shape: tuple[int, int], points) -> np.ndarray:
    """Even-odd test at pixel centres with a ray to the right, exact rationals (an independent brute force)."""
    out = np.zeros(shape, bool)
    edges = list(zip(points, points[1:] + points[:1]))
    for y in range(shape[0]):
        for x in range(shape[1]):
            crossings = 0
            for (xa, ya), (xb, yb) in edges:
                if (ya <= y) != (yb <= y) and x < xa + Fraction((y - ya) * (xb - xa), yb - ya):
                    crossings += 1
            out[y, x] = crossings % 2 == 1
    return out


def test_polygon_matches_an_exact_brute_force() -> None:
    rng = np.random.default_rng(1)
    for n in (3, 4, 5, 7, 9):
        points = [(int(x), int(y)) for x, y in rng.integers(-5, 30, (n, 2))]  # self-intersecting too
        canvas = np.zeros((21, 24), bool)
        raster.fill_polygon(canvas, points)
        assert np.array_equal(canvas, inside_reference((21, 24), points)), points


def test_polygon_rectangle_by_hand() -> None:
    canvas = np.zeros((10, 10), bool)
    raster.fill_polygon(canvas, [(2, 3), (7, 3), (7, 8), (2, 8)])  # half-open rows and columns: 5 x 5
    assert np.count_nonzero(canvas) == 25 and canvas[3:8, 2:7].all()


def test_font_draws_every_word_of_the_text_mask() -> None:
    unit = 1.5
    for word in _WORDS:
        strokes = font.layout(word, 0, 20, unit)
        xs = [x for stroke in strokes for x, _ in stroke]
        assert max(xs) <= round(font.text_width(word, unit)) and min(xs) >= 0
    ys = [y for stroke in font.layout("bdfhkl", 0, 20, 1.0) for _, y in stroke]
    assert min(ys) == 20 - font.ASCENDER
    with pytest.raises(ValueError, match="no glyph for 'Q'"):
        font.layout("Q", 0, 0, 1.0)


# --- mask generators ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("size", [64, 128, 256])
def test_hole_ratio_in_stated_range(kind: str, size: int) -> None:
    for seed in range(5):
        mask = make_mask(kind, (size, size), seed)
        assert mask.dtype == bool and mask.shape == (size, size)
        assert in_range(kind, mask), (kind, size, seed, hole_ratio(mask))


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("size", [(32, 32), (37, 41), (48, 80), (96, 40)])
def test_small_and_non_square_sizes(kind: str, size: tuple[int, int]) -> None:
    for seed in range(5):
        mask = make_mask(kind, size, seed)
        assert mask.shape == size and in_range(kind, mask)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_same_seed_same_mask_other_seed_other_mask(kind: str) -> None:
    assert np.array_equal(make_mask(kind, (64, 64), 3), make_mask(kind, (64, 64), 3))
    assert not np.array_equal(make_mask(kind, (64, 64), 3), make_mask(kind, (64, 64), 4))


def test_kinds_with_the_same_seed_are_not_nested() -> None:
    thin, thick = make_mask("strokes-10-20", (128, 128), 0), make_mask("strokes-40-50", (128, 128), 0)
    assert np.count_nonzero(~thin & thick) > 0  # a shared random stream would make the 10-20 % holes a subset


def test_region_is_one_connected_hole() -> None:
    for seed in range(5):
        hole = (~make_mask("region", (128, 128), seed)).astype(np.uint8)
        assert cv2.connectedComponents(hole, connectivity=8)[0] == 2


def test_boxes_has_the_central_box() -> None:
    for seed in range(5):
        assert not make_mask("boxes", (128, 128), seed)[64, 64]


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError, match="unknown mask kind 'strokes'") as info:
        make_mask("strokes", (64, 64), 0)
    assert all(kind in str(info.value) for kind in MASK_KINDS)


@pytest.mark.parametrize(
    ("size", "seed", "text"),
    [((16, 64), 0, "at least 32"), ((64,), 0, "pair of ints"), ((64.0, 64), 0, "pair of ints"), ((64, 64), -1, "seed")],
)
def test_bad_size_or_seed(size, seed, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        make_mask("text", size, seed)


# --- external folders --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not OFFICIAL_INPAINTING.is_dir(), reason="../shared/data is absent (a fresh clone has none)")
def test_official_inpainting_folder_loads_as_is() -> None:
    pairs = load_folder(OFFICIAL_INPAINTING)
    assert [pair.name for pair in pairs] == ["kate", "library", "vase"]
    kate = pairs[0]
    assert kate.image.shape == (512, 512, 3) and kate.image.dtype == np.float32
    assert kate.mask.shape == (512, 512) and kate.mask.dtype == bool
    assert hole_ratio(kate.mask) == pytest.approx(0.043, abs=0.001)
    assert kate.mask_path.name == "kate_mask.png"
    digest = hashlib.sha256(kate.mask_path.read_bytes()).hexdigest()
    assert digest.startswith("631ffd05")  # the official file, untouched


def write_pair(folder: Path, name: str, known: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(known.shape + (3,), 120, np.uint8)).save(folder / f"{name}.png")
    Image.fromarray(known.astype(np.uint8) * 255).save(folder / f"{name}_mask.png")


def test_folder_pairs_sorted_and_a_pair_without_hole_is_kept_for_the_caller_to_skip(tmp_path: Path) -> None:
    known = np.ones((40, 40), bool)
    write_pair(tmp_path, "b_full", known)
    known_with_hole = known.copy()
    known_with_hole[10:20, 10:20] = False
    write_pair(tmp_path, "a_hole", known_with_hole)
    (tmp_path / "notes.txt").write_text("ignored")
    pairs = load_folder(tmp_path)
    assert [pair.name for pair in pairs] == ["a_hole", "b_full"]
    check_pair(pairs[0].image, pairs[0].mask, pairs[0].image_path, pairs[0].mask_path)
    with pytest.raises(NothingToInpaint, match="b_full_mask.png"):
        check_pair(pairs[1].image, pairs[1].mask, pairs[1].image_path, pairs[1].mask_path)


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda d: None, "no images found"),
        (lambda d: Image.new("RGB", (40, 40)).save(d / "x.png"), "images without a mask: x.png"),
        (lambda d: Image.new("L", (40, 40)).save(d / "y_mask.png"), "masks without an image: y_mask.png"),
        (lambda d: (write_pair(d, "z", np.eye(40, dtype=bool)), Image.new("RGB", (40, 40)).save(d / "z.jpg")),
         "same name"),
    ],
)
def test_folder_problems_are_refused(tmp_path: Path, make, text: str) -> None:
    make(tmp_path)
    with pytest.raises(InputError, match=text) as info:
        load_folder(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        load_folder(tmp_path / "absent")
