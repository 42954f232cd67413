"""The corpus pipeline: crawl archives -> read -> the recipe's stages -> Parquet files + stats.json.

Output layout (OUTPUT may be any Beam filesystem path; the contract is in pipelines/outputs.py):
    OUTPUT/documents/lang=<code>/<archive>-<hash>.parquet   kept documents of one archive (DOCUMENT_SCHEMA)
    OUTPUT/rejected/stage=<stage>/<archive>-<hash>.parquet  one row per record that stage dropped (REJECTED_SCHEMA)
    OUTPUT/archives/<archive>-<hash>.json                   per archive: its files, rows, rejections by reason
    OUTPUT/stats.json                                       the retention funnel, summed from the archive records
    OUTPUT/recipe.yaml                                      the resolved recipe, every option spelled out
    OUTPUT/_SUCCESS                                         written last: the sha256 of stats.json

No shuffle: one DoFn call reads one archive, runs every stage on each record as it is read and streams the
results into that archive's files, so memory does not grow with the input and a file's rows are in archive
order (the bytes are the same on every run). An archive's record under archives/ is written after its files, so
a killed run, rerun with the same command, skips the archives that have one.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from importlib.metadata import version

import apache_beam as beam
import yaml
from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.inputs import DUPLICATE_PATH, Archive, Duplicate
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.pipelines.recipe import Recipe
from ccrefine.pipelines.shards import PartitionFiles
from ccrefine.pipelines.stats import build_funnel, cross_check, metrics_or_none
from ccrefine.transforms.progress import report_file_done
from ccrefine.transforms.ptransforms import StepCounters, read_archive
from ccrefine.transforms.read.crawl import STAGE as READ_STAGE
from ccrefine.transforms.records import Page, Rejected

from ccrefine.errors import UsageError
from ccrefine.files import ensure_folder, files_under, read_bytes, write_bytes

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"  # in the staging folder: what a resumed run must match
ARCHIVES = "archives"
DUPLICATES_FILE = "duplicate-inputs"


class _RefineArchiveFn(beam.DoFn):
    """One archive in, its files and its completion record out (the record is also yielded, for nothing)."""

    def __init__(self, recipe: Recipe, folder: str, progress_dir: str | None):
        self._read_options = recipe.read
        self._steps = [spec.transform().step for spec in recipe.stages]
        self._folder, self._progress_dir = folder, progress_dir
        self._read = StepCounters(READ_STAGE)
        self._counters = [StepCounters(step.stage) for step in self._steps]
        self._files = beam.metrics.Metrics.counter(READ_STAGE, "files")

    def setup(self):
        for step in self._steps:
            step.setup()

    def teardown(self):
        for step in self._steps:
            step.teardown()

    def process(self, archive: Archive):
        files = PartitionFiles(self._folder, archive.name)
        records = pages = 0
        try:
            for item in read_archive(archive.path, self._read_options):
                records += 1
                if not isinstance(item, Page):
                    self._read.drop(item.reason)
                    files.add_rejected(item)
                    continue
                pages += 1
                self._read.kept.inc()
                self._refine(item, files)
        except BaseException:
            files.abandon()
            raise
        written = files.close()
        self._files.inc()
        rejected: dict[str, dict[str, int]] = {}
        for (stage, reason), count in sorted(files.rejected_reasons.items()):
            rejected.setdefault(stage, {})[reason] = count
        record = {"source": archive.path, "fingerprint": archive.fingerprint, "records": records, "pages": pages,
                  "files": written,
                  "documents": sum(rows for path, rows in written.items() if path.startswith("documents/")),
                  "rejected": rejected}
        write_bytes(FileSystems.join(self._folder, ARCHIVES, f"{archive.name}.json"),
                    json.dumps(record, indent=1).encode())
        if self._progress_dir:
            report_file_done(self._progress_dir, archive.path, records, pages)
        yield archive.name

    def _refine(self, record, files: PartitionFiles) -> None:
        for step, counters in zip(self._steps, self._counters, strict=True):
            verdict = step.judge(record)
            if verdict.reason is not None:
                counters.drop(verdict.reason)
                files.add_rejected(Rejected.of(verdict.document, step.stage, verdict.reason, verdict.detail))
                return
            counters.kept.inc()
            record = verdict.document
        files.add_document(record)


def build_corpus(pipeline, archives: list[Archive], folder: str, recipe: Recipe, progress_dir=None):
    """Add the corpus graph to `pipeline`: the archives fan out over workers, each is refined where it is read."""
    return (
        pipeline
        | "Archives" >> beam.Create(archives)
        | "FanOut" >> beam.Reshuffle()
        | "Refine" >> beam.ParDo(_RefineArchiveFn(recipe, folder, progress_dir))
    )


def stage_names(recipe: Recipe) -> list[str]:
    return [READ_STAGE, *(spec.transform().step.stage for spec in recipe.stages)]


def funnel_counters(records: list[dict], duplicates: list[Duplicate], stages: list[str]) -> dict[str, dict]:
    """{stage: {"kept": n, "dropped.<reason>": n}} from what was written: rejected rows by stage and reason, kept
    documents per file; a stage kept what the next one received (its kept plus its drops)."""
    dropped: dict[str, Counter] = {stage: Counter() for stage in stages}
    for record in records:
        for stage, reasons in record["rejected"].items():
            dropped.setdefault(stage, Counter()).update(reasons)
    if duplicates:
        dropped[READ_STAGE][DUPLICATE_PATH] += len(duplicates)
    unknown = set(dropped) - set(stages)
    if unknown:
        raise ValueError(f"rejected rows of stages not in the recipe: {sorted(unknown)}")
    counters, kept = {}, sum(record["documents"] for record in records)
    for stage in reversed(stages):
        counters[stage] = {"kept": kept, **{f"dropped.{r}": n for r, n in dropped[stage].items()}}
        kept += sum(dropped[stage].values())
    counters[READ_STAGE]["files"] = len(records)
    return counters


def _run_key(recipe: Recipe, archives: list[Archive]) -> dict:
    return {"ccrefine": version("ccrefine"), "recipe": recipe.resolved(),
            "archives": [[archive.path, archive.fingerprint] for archive in archives]}


def _completed(folder: str, archives: list[Archive]) -> dict[str, dict]:
    """The archives whose completion record is readable and matches; files of any other archive are removed."""
    done = {}
    for archive in archives:
        path = FileSystems.join(folder, ARCHIVES, f"{archive.name}.json")
        try:
            record = json.loads(read_bytes(path))
        except (OSError, ValueError):
            continue  # not reached, or cut short
        if record.get("source") == archive.path and record.get("fingerprint") == archive.fingerprint:
            done[archive.name] = record
    keep = {FileSystems.join(folder, relative) for record in done.values() for relative in record["files"]}
    keep |= {FileSystems.join(folder, ARCHIVES, f"{name}.json") for name in done}
    keep.add(FileSystems.join(folder, RUN_FILE))
    stale = [path for path in files_under(folder) if path not in keep]
    if stale:
        FileSystems.delete(stale)
    return done


def prepare_staging(output: OutputFolder, recipe: Recipe, archives: list[Archive]) -> dict[str, dict]:
    """Start a staging folder, or resume the one a killed run of the same command left; returns the records of
    archives already complete. Another run's staging folder is refused unless --overwrite discards it."""
    key = json.dumps(_run_key(recipe, archives), sort_keys=True)
    run_file = FileSystems.join(output.staging, RUN_FILE)
    previous = None
    if FileSystems.exists(run_file):
        try:
            previous = read_bytes(run_file).decode()
        except OSError:
            previous = ""
    if previous is not None and previous == key:
        done = _completed(output.staging, archives)
        logger.info("resuming %s: %d of %d archive(s) already complete", output.path, len(done), len(archives))
        return done
    if previous is not None and not output.overwrite:
        raise UsageError(f"{output.staging!r} holds an unfinished run with another recipe, other inputs or another "
                         "ccrefine version; rerun that command to finish it, or add --overwrite to discard it")
    output.start()
    write_bytes(run_file, key.encode())
    return {}


def _write_duplicates(folder: str, duplicates: list[Duplicate]) -> None:
    if not duplicates:
        return
    files = PartitionFiles(folder, DUPLICATES_FILE)
    for duplicate in duplicates:
        detail = f"{duplicate.kind} as {duplicate.same_as}"
        files.add_rejected(Rejected(id=duplicate.path, url="", stage=READ_STAGE, reason=DUPLICATE_PATH,
                                    source=duplicate.path, detail=detail))
    files.close()


def write_run_files(folder: str, recipe: Recipe, funnel: dict) -> None:
    """stats.json and recipe.yaml next to the data files."""
    write_bytes(FileSystems.join(folder, "stats.json"), json.dumps(funnel, indent=2).encode())
    write_bytes(FileSystems.join(folder, "recipe.yaml"),
                yaml.safe_dump(recipe.resolved(), sort_keys=False, allow_unicode=True).encode())


def run_corpus(options, archives: list[Archive], duplicates: list[Duplicate], output: OutputFolder, recipe: Recipe,
               patterns: list[str], progress_dir=None) -> dict:
    """Resume or start, run the archives not yet complete, then write stats.json and recipe.yaml and publish.
    Returns the funnel."""
    done = prepare_staging(output, recipe, archives)
    todo = [archive for archive in archives if archive.name not in done]
    stages = stage_names(recipe)
    ensure_folder(FileSystems.join(output.staging, ARCHIVES))
    if progress_dir:
        for record in done.values():
            report_file_done(progress_dir, record["source"], record["records"], record["pages"])
    metrics = None
    if todo:
        pipeline = beam.Pipeline(options=options)
        build_corpus(pipeline, todo, output.staging, recipe, progress_dir)
        result = pipeline.run()
        result.wait_until_finish()
        metrics = metrics_or_none(result)
    records = list(_completed(output.staging, archives).values())
    if len(records) != len(archives):
        raise RuntimeError(f"{len(archives) - len(records)} archive(s) have no completion record after the run")
    _write_duplicates(output.staging, duplicates)
    funnel = build_funnel(funnel_counters(records, duplicates, stages), stages)
    if metrics is not None:
        this_run = [record for record in records if record["source"] in {archive.path for archive in todo}]
        funnel["problems"] += cross_check(funnel_counters(this_run, [], stages), metrics, stages)
    funnel["recipe"] = recipe.name
    funnel["inputs"] = patterns
    funnel["duplicate_inputs"] = [{"path": d.path, "same_as": d.same_as, "kind": d.kind} for d in duplicates]
    write_run_files(output.staging, recipe, funnel)
    FileSystems.delete([FileSystems.join(output.staging, RUN_FILE)])
    output.publish("stats.json")
    if funnel["problems"]:
        logger.warning("the funnel does not add up: %s", "; ".join(funnel["problems"]))
    return funnel
