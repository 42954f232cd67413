"""The corpus report: every section from a real run over the fixtures, crawl text escaped, "kept" examples taken
from what survived dedup, and the page rendered by a real browser (Debian's chromium) without console errors and
with every chart label drawn whole inside its chart."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from ccrefine.eval.report import build_report
from ccrefine.eval.svg_chart import ELLIPSIS, fit_text, svg_label
from ccrefine.pipelines.cli import main
from ccrefine.transforms.records import REJECTED_SCHEMA, Rejected, to_row

from tests.processes import HANG_GUARD_S

SECTIONS = ("funnel", "languages", "lengths", "scores", "domains", "dedup", "examples")


@pytest.fixture(scope="module")
def run_dir(shared_data, sample_warc, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("report") / "run"
    assert main(["corpus", "--input", str(sample_warc), "--input", str(shared_data / "warc" / "*.gz"),
                 "--output", str(output), "--direct_running_mode", "in_memory"]) == 0
    dedup = output.parent / "refined"
    assert main(["dedup", "--input", str(output), "--output", str(dedup), "--shards", "1",
                 "--direct_running_mode", "in_memory"]) == 0
    assert main(["report", str(output), "--dedup", str(dedup)]) == 0
    return output


@pytest.mark.slow
def test_every_section_is_populated_from_a_real_run(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<section id='{section}'>" in page
    assert "The funnel adds up." in page and "errors.truncated" in page
    assert "threshold 50" in page  # gopher.words with the recipe's min_words marked
    assert "Kept documents by cluster size" in page and "No dedup output" not in page
    assert "after extraction (" in page and "after extraction (0)" not in page
    assert "repetition.duplicate_lines" in page or "repetition.top_4gram" in page  # rejected examples
    assert "http://" not in page.split("<body>")[0]  # no external assets


def rows(folder: Path) -> list[dict]:
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()


def test_kept_examples_are_what_survived_dedup(run_dir):
    dedup = run_dir.parent / "refined"
    survivors = {row["url"] for row in rows(dedup / "documents")}
    removed = {row["url"] for row in rows(dedup / "rejected")} - survivors  # URL dedup leaves one of each URL
    assert "https://kitchen-lab.example.com/bread/why-sourdough-rises" in removed  # the MinHash near-duplicate
    shown = set()
    for seed in range(30):  # the examples are a random draw: many draws, so a removed document would show up
        page = build_report(run_dir, dedup, seed)
        shown |= {html.unescape(url) for url in re.findall(r"<summary><b>kept after dedup</b> ([^<]*)</summary>", page)}
        assert "<b>dedup_minhash.duplicate</b>" in page  # what dedup removed is an example of its own
        assert "<b>kept</b>" not in page
    assert shown <= survivors and not shown & removed and len(shown) > 10


def test_long_labels_lose_their_end_never_their_start():
    label = "cheap-pills-bonus.example.biz"
    shown = fit_text(label, 100)
    assert shown.endswith(ELLIPSIS) and label.startswith(shown.removesuffix(ELLIPSIS)) and len(shown) > 8
    assert fit_text("example.com", 100) == "example.com"
    text = svg_label("<b>" + label, 100, "x='1' y='2'")
    assert text.startswith("<text x='1' y='2'><title>&lt;b&gt;cheap-pills-bonus.example.biz</title>&lt;b&gt;")


def test_crawl_text_is_escaped(tmp_path):
    (tmp_path / "stats.json").write_text(json.dumps({"stages": [], "records_in": 1, "documents_out": 0}))
    hostile = Rejected("x", "https://e.org/<img src=x onerror=alert(1)>", "quality", "stop_words",
                       excerpt="<script>alert('pwned')</script> & more")
    (tmp_path / "rejected" / "stage=quality").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([to_row(hostile)], schema=REJECTED_SCHEMA),
                   tmp_path / "rejected" / "stage=quality" / "part-0.parquet")
    page = build_report(tmp_path)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<img" not in page


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    return browser


def _headless(browser: str, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *flags],
        capture_output=True, text=True, timeout=HANG_GUARD_S)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    browser = _chromium()
    url = (run_dir / "report.html").resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0 and dom.stdout.count("<svg") >= 8
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    screenshot = tmp_path / "report.png"
    shot = _headless(browser, tmp_path / "profile-shot", "--window-size=1200,2400", f"--screenshot={screenshot}", url)
    assert shot.returncode == 0 and screenshot.exists()
    from PIL import Image

    pixels = Image.open(screenshot).convert("RGB").getdata()
    bar_blue = sum(1 for r, g, b in pixels if abs(r - 0x4A) < 12 and abs(g - 0x7F) < 12 and abs(b - 0xB0) < 12)
    assert bar_blue > 5_000  # the charts' bars are drawn, not just text


# Written into a copy of the report: every <text> of every chart, as drawn, with its box in the chart's coordinates.
MEASURE_LABELS = """<script>
const drawn = [];
for (const svg of document.querySelectorAll('svg')) {
  for (const text of svg.querySelectorAll('text')) {
    const box = text.getBBox();
    const shown = Array.from(text.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join('');
    drawn.push({shown, left: box.x, right: box.x + box.width, width: svg.viewBox.baseVal.width});
  }
}
const out = document.createElement('pre'); out.id = 'drawn-labels'; out.textContent = JSON.stringify(drawn);
document.body.appendChild(out);
</script>"""


def test_chart_labels_are_drawn_whole_inside_their_charts(run_dir, tmp_path):
    browser = _chromium()
    measured = tmp_path / "measured.html"
    measured.write_text((run_dir / "report.html").read_text(encoding="utf-8").replace(
        "</body>", MEASURE_LABELS + "</body>"), encoding="utf-8")
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", measured.resolve().as_uri())
    found = re.search(r"<pre id=\"drawn-labels\">(.*?)</pre>", dom.stdout, re.S)
    assert dom.returncode == 0 and found
    drawn = json.loads(html.unescape(found.group(1)))
    outside = [label for label in drawn if label["left"] < -0.5 or label["right"] > label["width"] + 0.5]
    assert len(drawn) > 50 and outside == []
    shown = {label["shown"] for label in drawn}
    assert "kitchen-lab.example.com" in shown and "cheap-pills-bonus.example.biz" in shown  # domains, whole
    assert any(text.startswith("threshold ") for text in shown)
