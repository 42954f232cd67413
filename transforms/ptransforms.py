"""The thin Beam half of every step: PTransforms named with verbs, each calling a pure part.

Every transform here returns a DoOutputsTuple with `.kept` (the records that go on) and `.rejected`
(`Rejected` records), and counts `kept` / `dropped.<reason>` under its stage name.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from ccrefine.transforms.filters.c4_fineweb import C4Options, C4Step, FineWebOptions, FineWebStep
from ccrefine.transforms.filters.chinese_script import ChineseScriptOptions, ChineseScriptStep
from ccrefine.transforms.filters.gopher import QualityOptions, QualityStep, RepetitionOptions, RepetitionStep
from ccrefine.transforms.filters.language import LanguageOptions, LanguageStep
from ccrefine.transforms.filters.line_corrections import LineCorrectionOptions, LineCorrectionStep
from ccrefine.transforms.filters.perplexity import PerplexityOptions, PerplexityStep
from ccrefine.transforms.filters.pii import PiiOptions, PiiStep
from ccrefine.transforms.filters.prefilter_language import PrefilterOptions, PrefilterStep
from ccrefine.transforms.filters.quality_classifier import ClassifierOptions, ClassifierStep
from ccrefine.transforms.filters.spam import SpamOptions, SpamStep
from ccrefine.transforms.filters.url_filter import UrlFilterOptions, UrlFilterStep
from ccrefine.transforms.progress import report_file_done
from ccrefine.transforms.read.crawl import STAGE as READ_STAGE
from ccrefine.transforms.read.crawl import ReadOptions, read_crawl_file
from ccrefine.transforms.read.extract import ExtractionStep, ExtractOptions
from ccrefine.transforms.records import Page, Rejected
from ccrefine.transforms.step import Step

KEPT = "kept"
REJECTED = "rejected"


class StepCounters:
    """The Beam metrics every step counts under its stage name: `kept` (`self.kept.inc()`) and one
    `dropped.<reason>` counter per reason (`self.drop(reason)`, created the first time the reason occurs). Shared by
    every DoFn (and the corpus stage's per-archive writer), so stats and cross-checks read the same names."""

    def __init__(self, stage: str):
        self.stage = stage
        self.kept = Metrics.counter(stage, KEPT)
        self._dropped: dict[str, object] = {}

    def drop(self, reason: str) -> None:
        counter = self._dropped.get(reason)
        if counter is None:
            counter = self._dropped[reason] = Metrics.counter(self.stage, f"dropped.{reason}")
        counter.inc()


class _StepFn(beam.DoFn):
    def __init__(self, step: Step):
        self._step = step
        self._counters = StepCounters(step.stage)

    def setup(self):
        self._step.setup()

    def teardown(self):
        self._step.teardown()

    def process(self, record):
        verdict = self._step.judge(record)
        if verdict.reason is None:
            self._counters.kept.inc()
            yield verdict.document
            return
        self._counters.drop(verdict.reason)
        rejected = Rejected.of(verdict.document, self._step.stage, verdict.reason, verdict.detail)
        yield beam.pvalue.TaggedOutput(REJECTED, rejected)


class ApplyStep(beam.PTransform):
    """Run a `Step` over a PCollection; outputs `.kept` and `.rejected`."""

    def __init__(self, step: Step, label: str | None = None):
        super().__init__(label)
        self.step = step

    def expand(self, records):
        return records | beam.ParDo(_StepFn(self.step)).with_outputs(REJECTED, main=KEPT)


def read_archive(path: str, options: ReadOptions):
    """The Pages and read-stage Rejected records of one archive on any Beam filesystem, streamed."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        yield from read_crawl_file(stream, path, options)


class _ReadFileFn(beam.DoFn):
    def __init__(self, options: ReadOptions, progress_dir: str | None):
        self._options = options
        self._progress_dir = progress_dir
        self._counters = StepCounters(READ_STAGE)
        self._files = Metrics.counter(READ_STAGE, "files")

    def process(self, path: str):
        records = pages = 0
        for item in read_archive(path, self._options):
            records += 1
            if isinstance(item, Page):
                pages += 1
                self._counters.kept.inc()
                yield item
            else:
                self._counters.drop(item.reason)
                yield beam.pvalue.TaggedOutput(REJECTED, item)
        self._files.inc()
        if self._progress_dir:
            report_file_done(self._progress_dir, path, records, pages)


class ReadCrawl(beam.PTransform):
    """WARC / WET / ARC files (local globs or any Beam filesystem) -> `.kept` Pages and `.rejected`.

    Files are matched, then reshuffled so that they fan out across workers; each file is streamed.
    """

    def __init__(
        self, patterns: str | list[str], options: ReadOptions = ReadOptions(), progress_dir: str | None = None
    ):
        super().__init__()
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.options = options
        self.progress_dir = progress_dir  # a local folder for progress files, when workers share the disk

    def expand(self, pipeline):
        return (
            pipeline
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "FanOut" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadFileFn(self.options, self.progress_dir)).with_outputs(REJECTED, main=KEPT)
        )


class FilterUrls(ApplyStep):
    """RefinedWeb URL filtering: UT1-format blocklists, banned / soft-banned / sub-words, an allow-list."""

    def __init__(self, options: UrlFilterOptions = UrlFilterOptions()):
        super().__init__(UrlFilterStep(options))


class SkipOtherLanguages(ApplyStep):
    """Resiliparse plain text + lid.176 before extraction: pages confidently in other languages skip trafilatura."""

    def __init__(self, options: PrefilterOptions):
        super().__init__(PrefilterStep(options))


class ExtractText(ApplyStep):
    """Pages -> Documents with trafilatura's main text (time- and size-guarded)."""

    def __init__(self, options: ExtractOptions = ExtractOptions()):
        super().__init__(ExtractionStep(options))


class IdentifyLanguage(ApplyStep):
    """fastText lid.176: sets `lang` / `lang_score`, keeps wanted languages above the threshold."""

    def __init__(self, options: LanguageOptions = LanguageOptions()):
        super().__init__(LanguageStep(options))


class FilterRepetition(ApplyStep):
    """Gopher repetition: duplicate lines, paragraphs and n-grams."""

    def __init__(self, options: RepetitionOptions = RepetitionOptions()):
        super().__init__(RepetitionStep(options))


class FilterQuality(ApplyStep):
    """Gopher quality: length, word length, symbols, bullets, ellipses, alphabetic words, stop words."""

    def __init__(self, options: QualityOptions = QualityOptions()):
        super().__init__(QualityStep(options))


class CorrectLines(ApplyStep):
    """RefinedWeb line-wise corrections: removes debris lines, drops documents that were mostly debris."""

    def __init__(self, options: LineCorrectionOptions = LineCorrectionOptions()):
        super().__init__(LineCorrectionStep(options))


class RedactPii(ApplyStep):
    """E-mail, public IP, phone and Chinese resident ID numbers -> typed placeholders, counted per type."""

    def __init__(self, options: PiiOptions = PiiOptions()):
        super().__init__(PiiStep(options))


class FilterC4(ApplyStep):
    """C4 rules: keeps prose lines, drops pages with code, lorem ipsum or fewer than 5 sentences."""

    def __init__(self, options: C4Options = C4Options()):
        super().__init__(C4Step(options))


class FilterFineWeb(ApplyStep):
    """FineWeb quality rules: punctuated lines, short lines, duplicated line characters, newlines per word."""

    def __init__(self, options: FineWebOptions = FineWebOptions()):
        super().__init__(FineWebStep(options))


class ScorePerplexity(ApplyStep):
    """KenLM perplexity per language, CCNet head/middle/tail buckets, filtering by bucket or threshold."""

    def __init__(self, options: PerplexityOptions):
        super().__init__(PerplexityStep(options))


class ScoreQualityClassifier(ApplyStep):
    """GPT-3-style fastText quality score; keeps by threshold or Pareto sampling."""

    def __init__(self, options: ClassifierOptions):
        super().__init__(ClassifierStep(options))


class ScoreSpam(ApplyStep):
    """Content spam: weighted gambling / porn / ad lexicon hits, flagged lines, bracket runs, keyword lists."""

    def __init__(self, options: SpamOptions = SpamOptions()):
        super().__init__(SpamStep(options))


class ConvertChinese(ApplyStep):
    """OpenCC Simplified/Traditional conversion of Chinese documents (optional: ccrefine keeps both scripts)."""

    def __init__(self, options: ChineseScriptOptions = ChineseScriptOptions()):
        super().__init__(ChineseScriptStep(options))
