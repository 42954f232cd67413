"""The corpus report: every section from a real run over the fixtures, crawl text escaped, and the page
rendered by a real browser (Debian's chromium) without console errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ccrefine.eval.report import build_report
from ccrefine.pipelines.cli import main
from ccrefine.transforms.records import REJECTED_SCHEMA, Rejected, to_row

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
        capture_output=True, text=True, timeout=120)


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
