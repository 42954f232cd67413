"""Pipelines touch input and output only through Beam's FileSystems, so gs://, s3:// and hdfs:// work where
a local path does. No such service runs here; this fake registers a remote-looking scheme backed by a local
folder, and the corpus pipeline must read its archives, recipe and blocklist and write all its output there."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.dataset as ds
import yaml
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from ccrefine.pipelines.cli import main
from ccrefine.pipelines.recipe import PRESETS_DIR as PRESETS

SCHEME = "fakeremote"
PREFIX = f"{SCHEME}://"


class FakeRemoteFileSystem(LocalFileSystem):
    """`fakeremote://bucket/key` stored under $CCREFINE_FAKE_REMOTE_ROOT/bucket/key."""

    @classmethod
    def scheme(cls):
        return SCHEME

    @staticmethod
    def _local(path: str) -> str:
        assert path.startswith(PREFIX), f"a local path reached the remote filesystem: {path}"
        return os.path.join(os.environ["CCREFINE_FAKE_REMOTE_ROOT"], path[len(PREFIX):])

    @staticmethod
    def _remote(local: str) -> str:
        return PREFIX + os.path.relpath(local, os.environ["CCREFINE_FAKE_REMOTE_ROOT"])

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        os.makedirs(self._local(path), exist_ok=True)

    def _list(self, dir_or_prefix):
        local = self._local(dir_or_prefix)
        for folder, _, names in os.walk(local if os.path.isdir(local) else os.path.dirname(local)):
            for name in names:
                path = os.path.join(folder, name)
                if path.startswith(local):
                    yield FileMetadata(self._remote(path), os.path.getsize(path), os.path.getmtime(path))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(self._local(path)), exist_ok=True)
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def rename(self, sources, destinations):
        super().rename([self._local(s) for s in sources], [self._local(d) for d in destinations])

    def copy(self, sources, destinations):
        super().copy([self._local(s) for s in sources], [self._local(d) for d in destinations])

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def metadata(self, path):
        local = super().metadata(self._local(path))
        return FileMetadata(path, local.size_in_bytes, local.last_updated_in_seconds)

    def delete(self, paths):
        for path in paths:  # LocalFileSystem.delete would match the local path through this class again
            local = self._local(path)
            shutil.rmtree(local) if os.path.isdir(local) else os.remove(local)


def test_corpus_reads_and_writes_only_through_filesystems(sample_warc, shared_data, tmp_path, monkeypatch):
    root = tmp_path / "remote"
    monkeypatch.setenv("CCREFINE_FAKE_REMOTE_ROOT", str(root))
    bucket = root / "bucket"
    (bucket / "crawl").mkdir(parents=True)
    shutil.copy(sample_warc, bucket / "crawl" / "sample.warc.gz")
    shutil.copy(shared_data / "warc" / "whirlwind.warc.gz", bucket / "crawl" / "whirlwind.warc.gz")
    (bucket / "lists").mkdir()
    (bucket / "lists" / "domains").write_text("river-notes.example.org\n")
    recipe = yaml.safe_load((PRESETS / "multilingual.yaml").read_text())
    recipe["stages"][0] = {"filter_urls": {"blocklists": [f"{PREFIX}bucket/lists/domains"]}}
    local_recipe = tmp_path / "recipe.yaml"  # recipes are read by the launcher, which may use a local file
    local_recipe.write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)

    assert main(["corpus", "--input", f"{PREFIX}bucket/crawl/*.warc.gz", "--output", f"{PREFIX}bucket/out",
                 "--recipe", str(local_recipe), "--direct_running_mode", "in_memory"]) == 0

    out = bucket / "out"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["problems"] == [] and stats["stages"][0]["files"] == 2
    assert stats["stages"][1]["dropped"] == {"blocklist": 1}  # the blocklist was read from the fake remote
    documents = ds.dataset(out / "documents", format="parquet", partitioning="hive").to_table()
    assert documents.num_rows == stats["documents_out"] > 0
    assert all(source.startswith(PREFIX) for source in documents.column("source").to_pylist())
    assert (out / "recipe.yaml").exists() and list((out / "rejected").rglob("*.parquet"))
