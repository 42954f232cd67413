"""Optional Simplified/Traditional conversion with OpenCC (the `opencc` wheel), as its own stage.

ccrefine's policy: Simplified and Traditional Chinese are both `zh` and are kept in the script they were
written in. A recipe that wants one script adds `convert_chinese` (e.g. `conversion: t2s`); nothing converts
silently. The conversion names are OpenCC's configurations: t2s maps characters (網際網路 -> 网际网路), the
regional ones also map phrases (tw2sp: 網際網路 -> 互联网).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict

CONVERSIONS = ("s2t", "t2s", "s2tw", "tw2s", "s2hk", "hk2s", "s2twp", "tw2sp", "t2tw", "t2hk")


@dataclass(frozen=True)
class ChineseScriptOptions:
    conversion: str = "t2s"  # an OpenCC configuration: t2s (to Simplified), s2t (to Traditional), ...
    languages: tuple[str, ...] = ("zh",)  # documents in other languages pass unchanged

    def __post_init__(self):
        if self.conversion not in CONVERSIONS:
            raise ValueError(f"conversion must be one of {', '.join(CONVERSIONS)} (OpenCC configurations), "
                             f"got {self.conversion!r}")


class ChineseScriptStep(Step):
    """Rewrites the text of Chinese documents into one script; records how many characters changed."""

    stage = "script"

    def __init__(self, options: ChineseScriptOptions = ChineseScriptOptions()):
        self.options = options
        self._converter = None

    def setup(self) -> None:
        import opencc

        self._converter = opencc.OpenCC(self.options.conversion)

    def judge(self, document: Document) -> Verdict:
        if document.lang not in self.options.languages:
            return Verdict(document)
        if self._converter is None:  # judged outside a Beam worker (tests, benches)
            self.setup()
        converted = self._converter.convert(document.text)
        changed = sum(a != b for a, b in zip(document.text, converted, strict=False))
        return Verdict(document.with_scores({"script.changed_chars": float(changed)}, text=converted))

    def __getstate__(self):  # the OpenCC converter is made by setup on each worker, never pickled
        return {**self.__dict__, "_converter": None}
