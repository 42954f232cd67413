"""One output contract for every command that writes a folder (corpus, dedup, tokenize, train-tokenizer).

A run writes into a staging folder next to its output (`.NAME.ccrefine-staging`), and publishes it when done:
the last file written is `_SUCCESS`, holding the sha256 of the run's summary file (stats.json, manifest.json,
training.json), and the staging folder is then renamed to the output. A folder without a valid `_SUCCESS` is
unfinished, and every reader refuses it (`ccrefine.files.require_complete`). Locally the publish is one rename
(two with `--overwrite`: the old output is moved aside first, then deleted); on object stores (gs://, s3://),
which have no folder rename, files are copied one by one and `_SUCCESS` comes last, so a reader never takes a
half-copied output for a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid

from apache_beam.io.filesystems import FileSystems

from ccrefine.errors import UsageError
from ccrefine.files import (
    SUCCESS,
    TEMPORARY_SUFFIX,
    ensure_folder,
    files_under,
    holds_files,
    is_remote,
    read_bytes,
    success_problem,
    write_bytes,
)

STAGING_SUFFIX = ".ccrefine-staging"
# Files only a ccrefine output holds: a folder with none of them is never replaced.
OUTPUT_MARKERS = (SUCCESS, "stats.json", "manifest.json", "training.json")


def delete_tree(folder: str) -> None:
    if not is_remote(folder):
        shutil.rmtree(folder, ignore_errors=True)
    elif files := files_under(folder):
        FileSystems.delete(files)


# ---- the completion marker ----------------------------------------------------------------------------------------


def write_success(folder: str, summary_name: str) -> None:
    """Mark `folder` complete: `_SUCCESS` = the sha256 of its summary file, which must be non-empty JSON."""
    summary = read_bytes(FileSystems.join(folder, summary_name))
    json.loads(summary)  # a summary cut short by a full disk must never be marked complete
    marker = {"file": summary_name, "sha256": hashlib.sha256(summary).hexdigest()}
    write_bytes(FileSystems.join(folder, SUCCESS), json.dumps(marker).encode())


# ---- the output folder of one run ---------------------------------------------------------------------------------


class OutputFolder:
    """Where a command writes: `staging` while it runs, `path` once `publish` has run."""

    def __init__(self, path: str, overwrite: bool = False, flag: str = "--output"):
        self.path = path.rstrip("/") if len(path) > 1 else path
        self.overwrite, self.flag = overwrite, flag
        parent, name = FileSystems.split(self.path)
        if not name:
            raise UsageError(f"{flag} {path!r} is not a folder name; give a folder such as out/corpus")
        self.parent = parent
        self.staging = FileSystems.join(parent, f".{name}{STAGING_SUFFIX}") if parent else f".{name}{STAGING_SUFFIX}"

    def check(self) -> None:
        """Refuse, before anything runs, an output that is a file, is not writable, or is complete already."""
        if not is_remote(self.path):
            if os.path.isfile(self.path):
                raise UsageError(f"{self.flag} {self.path!r} is a file; give a folder path")
            parent = os.path.abspath(self.parent or ".")
            existing = parent
            while not os.path.exists(existing):
                existing = os.path.dirname(existing)
            if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
                raise UsageError(f"{self.flag} {self.path!r}: cannot write in {existing!r}; choose a writable folder")
        if not holds_files(self.path):
            return
        if not any(FileSystems.exists(FileSystems.join(self.path, name)) for name in OUTPUT_MARKERS):
            # --overwrite never deletes a folder ccrefine did not write (a typo such as `--output ~`)
            raise UsageError(f"{self.flag} {self.path!r} holds files that are not a ccrefine output; choose a new "
                             "folder (or delete that one yourself)")
        if self.overwrite:
            return
        if success_problem(self.path) is None:
            raise UsageError(f"{self.flag} {self.path!r} holds a complete output already; add --overwrite to replace "
                             "it or choose a new folder")
        raise UsageError(f"{self.flag} {self.path!r} holds an unfinished ccrefine output; add --overwrite to replace "
                         "it or choose a new folder")

    def start(self) -> str:
        """A fresh, empty staging folder; returns its path."""
        delete_tree(self.staging)
        ensure_folder(self.staging)
        return self.staging

    def publish(self, summary_name: str) -> None:
        """Mark the staging folder complete and move it to the output path, replacing what was there."""
        remove_temporary_files(self.staging)
        write_success(self.staging, summary_name)
        if not is_remote(self.path):
            self._publish_local()
            return
        if FileSystems.exists(FileSystems.join(self.path, SUCCESS)):
            FileSystems.delete([FileSystems.join(self.path, SUCCESS)])  # the old output stops counting first
        delete_tree(self.path)
        prefix = self.staging.rstrip("/") + "/"
        files = [f for f in files_under(self.staging) if not f.endswith("/" + SUCCESS)]
        for source in [*files, FileSystems.join(self.staging, SUCCESS)]:
            target = FileSystems.join(self.path, source[len(prefix):])
            ensure_folder(FileSystems.split(target)[0])  # a no-op on object stores, needed on HDFS
            FileSystems.copy([source], [target])
        delete_tree(self.staging)

    def _publish_local(self) -> None:
        if os.path.lexists(self.path):
            aside = f"{self.staging}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.path, aside)
            os.replace(self.staging, self.path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            os.replace(self.staging, self.path)


def remove_temporary_files(folder: str) -> int:
    """Delete the `.tmp` files a killed or retried writer left in `folder`; returns how many."""
    leftovers = [path for path in files_under(folder) if path.endswith(TEMPORARY_SUFFIX)]
    if leftovers:
        FileSystems.delete(leftovers)
    return len(leftovers)
