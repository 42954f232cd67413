"""The submission path Flink and Spark use, for real: Beam's portable job service and an external SDK worker
pool run as separate processes, the workers import ccrefine from an sdist built by setup.py and installed into a
folder of their own (as `--setup_file` ships it to a cluster), and the output equals the DirectRunner's. The
funnel is computed from the files the workers wrote, so it does not depend on the runner's metrics. (Beam's local
job service asks the pool for one SDK worker per environment whatever the flags; work spread over two worker
processes is what the default multi-process DirectRunner does in test_corpus.py.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from ccrefine.pipelines.cli import main

from tests.processes import HANG_GUARD_S

pytestmark = pytest.mark.slow  # an sdist, a job service and a worker pool

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on port {port}")


@pytest.fixture(scope="module")
def worker_site(tmp_path_factory) -> Path:
    """ccrefine as a cluster worker gets it: `python setup.py sdist` (what Beam's --setup_file runs), then
    installed into a folder of its own."""
    build = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(build)], cwd=REPO, check=True,
                   capture_output=True)
    (sdist,) = build.glob("ccrefine-*.tar.gz")
    site = build / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(sdist)],
                   check=True, capture_output=True)
    return site


@pytest.fixture(scope="module")
def portable(worker_site, tmp_path_factory):
    """A job service and an external worker pool, each its own process; yields the Beam flags to use them."""
    workdir = tmp_path_factory.mktemp("services")
    job_port, pool_port = _free_port(), _free_port()
    worker_env = {**os.environ, "PYTHONPATH": str(worker_site)}
    services = [
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                          "--port", str(job_port)], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                          "--service_port", str(pool_port)], cwd=workdir, env=worker_env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        _wait_for_port(job_port, services[0])
        _wait_for_port(pool_port, services[1])
        yield ["--runner", "PortableRunner", "--job_endpoint", f"localhost:{job_port}",
               "--environment_type", "EXTERNAL", "--environment_config", f"localhost:{pool_port}"]
    finally:
        for service in services:
            service.terminate()
            service.wait(timeout=HANG_GUARD_S)


def test_workers_import_the_installed_sdist(worker_site, tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import ccrefine.transforms, ccrefine.pipelines; "
                            "print(ccrefine.transforms.__file__); print(ccrefine.pipelines.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(worker_site)})
    assert all(line.startswith(str(worker_site)) for line in probe.stdout.split())
    # One package in site-packages, never a bare `model` or `eval` beside other projects' (bin/ holds the script).
    assert {path.name for path in worker_site.iterdir() if not path.name.endswith(".dist-info")} == {"ccrefine", "bin"}
    assert (worker_site / "ccrefine" / "pipelines" / "recipes" / "refinedweb.yaml").exists()  # package data shipped
    assert (worker_site / "ccrefine" / "transforms" / "filters" / "url_lists").is_dir()
    assert (worker_site / "ccrefine" / "transforms" / "filters" / "spam_lexicons" / "zh_porn.txt").exists()


def _rows(folder: Path) -> list[dict]:
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    return sorted(table.to_pylist(), key=lambda row: (row["id"], row.get("stage", ""), row["source"], row["offset"]))


def test_corpus_on_the_portable_runner_equals_the_direct_runner(portable, sample_warc, shared_data, tmp_path):
    inputs = ["--input", str(sample_warc), "--input", str(shared_data / "warc" / "*.gz")]
    assert main(["corpus", *inputs, "--output", str(tmp_path / "direct"), "--direct_running_mode", "in_memory"]) == 0
    assert main(["corpus", *inputs, "--output", str(tmp_path / "portable"), *portable]) == 0
    for folder in ("documents", "rejected"):
        direct, remote = _rows(tmp_path / "direct" / folder), _rows(tmp_path / "portable" / folder)
        assert direct and remote == direct
    stats = [json.loads((tmp_path / run / "stats.json").read_text()) for run in ("direct", "portable")]
    assert stats[0]["stages"] == stats[1]["stages"] and stats[1]["problems"] == []
    assert stats[1]["stages"][0]["files"] == 9 and stats[1]["documents_out"] > 0
    files = [sorted(p.relative_to(tmp_path / run) for p in (tmp_path / run).rglob("*.parquet"))
             for run in ("direct", "portable")]
    assert files[0] == files[1]  # the same per-archive file names, whichever runner wrote them


def test_dedup_on_the_portable_runner_equals_the_direct_runner(portable, sample_warc, tmp_path):
    corpus = tmp_path / "corpus"
    assert main(["corpus", "--input", str(sample_warc), "--output", str(corpus), "--recipe", "multilingual",
                 "--direct_running_mode", "in_memory"]) == 0
    assert main(["dedup", "--input", str(corpus), "--output", str(tmp_path / "direct"), "--shards", "1",
                 "--direct_running_mode", "in_memory"]) == 0
    assert main(["dedup", "--input", str(corpus), "--output", str(tmp_path / "portable"), "--shards", "1",
                 *portable]) == 0
    for folder in ("documents", "rejected"):
        assert _rows(tmp_path / "portable" / folder) == _rows(tmp_path / "direct" / folder)
    removed = _rows(tmp_path / "portable" / "rejected")
    assert any(row["stage"] == "dedup_minhash" for row in removed)  # the sample's near-duplicate pair
