"""The pure half of every document step.

A `Step` looks at one record and returns a `Verdict`: the record (possibly with new scores or text), and a
rejection reason when it is dropped. It imports no Beam; `transforms.ptransforms.ApplyStep` is the thin
Beam half that every stage reuses (counters, the `rejected` output, loading resources once per worker).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ccrefine.transforms.records import Document, Page
from ccrefine.transforms.text.units import TextUnits, units_of


@dataclass(frozen=True)
class Verdict:
    """What a step decided: the (possibly updated) record, and a reason when it is dropped."""

    document: Document | Page
    reason: str | None = None
    detail: str = ""  # what matched, kept on the Rejected record (e.g. `blocklist:casino.example.com`)


class Step(ABC):
    """Pure document logic. Subclasses set `stage` and implement `judge`; heavy resources load in `setup`."""

    stage: str = ""

    def setup(self) -> None:
        """Load models or lists; called once per worker, never pickled with the pipeline."""

    def teardown(self) -> None:
        """Release what `setup` acquired (processes, file handles)."""

    @abstractmethod
    def judge(self, document) -> Verdict: ...


class ScoringStep(Step):
    """A step that only measures and judges: `score` the text's units, keep the scores on the document,
    and `decide` from the scores alone (so thresholds can change later without recomputing)."""

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def score(self, units: TextUnits) -> dict[str, float]: ...

    @abstractmethod
    def decide(self, scores: dict[str, float], lang: str) -> str | None: ...

    def judge(self, document: Document) -> Verdict:
        scores = self.score(units_of(document.text, document.lang))
        return Verdict(document.with_scores(scores), self.decide(scores, document.lang))
