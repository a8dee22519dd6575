"""The HTML report in a real browser: a tiny run's ``report.html`` loads in headless Chromium with every image
loaded and no script error, and in a 1400 x 900 window the leaderboard of every mask kind lies inside the first
screen (its screenshot is saved). Skipped where no Chromium/Chrome is installed.

The page's own script records its state on ``<body>`` (``data-errors``, ``data-images-total``/``-loaded``/
``-failed``, ``data-ready``); ``--dump-dom`` prints the DOM after the page has loaded and its scripts have run. The
first-screen check loads a copy of the page with a probe script added that writes each leaderboard's box (from
``getBoundingClientRect``, page coordinates) onto ``<body>``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dip_bench.bench.cli import main

from conftest import tiny_suite

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for path in map(shutil.which, BROWSERS) if path), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason=f"no browser on PATH (looked for {', '.join(BROWSERS)})")

SUITE = tiny_suite("tiny", ("astronaut", "coffee"), ("text", "region"), """
[[methods]]
name = "dip-skip"
preset = "text"
iterations = 5
[[methods]]
name = "telea"
[[methods]]
name = "ns"
""")


WIDTH, HEIGHT = 1400, 900
PROBE = """<script>
window.addEventListener("load", function () {
  var boxes = Array.prototype.map.call(document.querySelectorAll(".board"), function (board) {
    var box = board.getBoundingClientRect();
    return [board.dataset.mask, box.left + window.scrollX, box.top + window.scrollY, box.right + window.scrollX,
            box.bottom + window.scrollY].join(":");
  });
  document.body.dataset.boards = boxes.join(";");
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--allow-file-access-from-files", "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    suite = folder / "tiny.toml"
    suite.write_text(SUITE)
    assert main(["run", "--suite", str(suite), "--out", str(folder / "run")]) == 0
    return folder / "run" / "report.html"


def _body(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, "no <body> in the dumped DOM"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))


def test_every_image_loads_without_script_errors(report: Path) -> None:
    result = _chromium("--dump-dom", f"--window-size={WIDTH},{HEIGHT}", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    body = _body(result.stdout)
    assert body.get("data-ready") == "1", body
    assert body.get("data-errors") == "0", body
    total = int(body["data-images-total"])
    assert total >= 3 + 2 * 4  # the figures (quality-cost, grid, curves) and two images per comparer of 4 pairs
    assert int(body["data-images-loaded"]) == total and body["data-images-failed"] == "0", body
    assert result.stdout.count('class="comparer"') == 4



def test_first_screen_shows_the_leaderboard_of_every_mask_kind(report: Path, tmp_path: Path) -> None:
    probe = report.with_name("report-probe.html")
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    result = _chromium("--dump-dom", f"--window-size={WIDTH},{HEIGHT}", probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    body = _body(result.stdout)
    assert body.get("data-errors") == "0", body
    boxes = {mask: [float(v) for v in rest] for mask, *rest in
             (entry.split(":") for entry in body.get("data-boards", "").split(";") if entry)}
    assert set(boxes) == {"text", "region"}, body
    for mask, (left, top, right, bottom) in boxes.items():
        assert 0 <= left < right <= WIDTH and 0 < top < bottom <= HEIGHT, (mask, boxes[mask])

    screenshot = tmp_path / "first-screen.png"
    shot = _chromium(f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", report.as_uri())
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
