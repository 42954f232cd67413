"""The affix rules of spaCy's English tokenizer (spaCy 3.8), restated as Python regular expressions.

spaCy splits each whitespace-separated chunk by peeling prefixes (opening punctuation, quotes, currency
signs), then suffixes (closing punctuation, "'s", units after a number, a period after a lower-case letter),
then splitting infixes (hyphens and slashes between letters, "...", a period between a lower- and an upper-case
letter). `transforms.text.word_tokens` applies them in spaCy's order; this module only defines what matches.

spaCy lists its letters and symbols script by script; here Latin letters and symbols come from `unicodedata`
(Latin letters by case; every "So" symbol but those Unicode added after spaCy's list is an icon). The result
agrees with spaCy's classes except on a few hundred rare letters (Latin Extended-D and -E, Greek and Cyrillic
letters outside the alphabets spaCy lists).
"""

from __future__ import annotations

import re
import unicodedata

_LATIN_BLOCKS = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF),
                 (0xAB30, 0xAB6F), (0xFF21, 0xFF5A))
_PHONETIC = "\u0250-\u02af\u1d00-\u1d25\u1d6b-\u1d77\u1d79-\u1d9a"  # lower case to spaCy
# spaCy's Greek and Cyrillic are the Greek, Russian, Ukrainian, Tatar and Macedonian alphabets.
_GREEK_CYRILLIC_LOWER = "α-ωάέίόώήύёа-яәөүҗңһіїєґѓѕјљњќѐѝ"
_GREEK_CYRILLIC_UPPER = "Α-ΩΆΈΊΌΏΉΎЁА-ЯӘӨҮҖҢҺІЇЄҐЃЅЈЉЊЌЀЍ"
# Scripts without case count as both lower and upper case, as in spaCy (Ethiopic, Indic, Hebrew, Arabic and
# Persian, Sinhala, Hangul, kana, CJK with its punctuation block).
_UNCASED = (
    "\u1200-\u137f\u0980-\u09ff\u0591-\u05f4\ufb1d-\ufb4f\u0620-\u064a\u066e-\u06d5\u06e5-\u06ff\u0750-\u077f"
    "\u08a0-\u08bd\ufb50-\ufbb1\ufbd3-\ufd3d\ufd50-\ufdc7\ufdf0-\ufdfb\ufe70-\ufefc\U0001ee00-\U0001eebb"
    "\u0d80-\u0dff\u0900-\u097f\u0c80-\u0cff\u0b80-\u0bff\u0c00-\u0c7f\uac00-\ud7af\u1100-\u11ff\u3040-\u30ff"
    "\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002ebef\u2e80-\u2fdf\u2ff0-\u303f\u31c0-\u31ef\u3200-\u33ff"
    "\uf900-\ufaff\ufe30-\ufe4f\U0001f200-\U0001f2ff\U0002f800-\U0002fa1f"
)


def _char_class(chars) -> str:
    """A regex character-class body for a set of characters, as ranges."""
    codes = sorted(ord(c) for c in chars)
    parts, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(code)) if code != start else ""))
            start = None
    return "".join(parts)


def _latin_letters(predicate) -> str:
    return _char_class(chr(c) for lo, hi in _LATIN_BLOCKS for c in range(lo, hi + 1) if predicate(chr(c)))


LOWER = _latin_letters(str.islower) + _PHONETIC + _GREEK_CYRILLIC_LOWER + _UNCASED
UPPER = _latin_letters(str.isupper) + _GREEK_CYRILLIC_UPPER + _UNCASED
ALPHA = _latin_letters(str.isalpha) + _PHONETIC + _GREEK_CYRILLIC_LOWER + _GREEK_CYRILLIC_UPPER + _UNCASED

# Symbols Unicode added after spaCy wrote its icon list (mostly newer emoji): spaCy does not split them off.
_NEWER_SYMBOLS = re.compile(
    "[\u166d\u2b97\u2bc9\u2bff\u2e50\u2e51\u32ff\ufd40-\ufd4f\ufdcf\ufdfe\ufdff\U0001019c\U00011fd5-\U00011fdc"
    "\U00011fe1-\U00011ff1\U0001cf50-\U0001cfc3\U0001d1e9\U0001d1ea\U0001e14f\U0001ed2e\U0001f10d-\U0001f10f"
    "\U0001f16c-\U0001f16f\U0001f1ad\U0001f6d5-\U0001f6d7\U0001f6dd-\U0001f6df\U0001f6fa-\U0001f6fc"
    "\U0001f7e0-\U0001f7eb\U0001f7f0\U0001f8b0\U0001f8b1\U0001f90c-\U0001f90f\U0001f93f\U0001f971\U0001f972"
    "\U0001f977-\U0001f979\U0001f97b\U0001f9a3-\U0001f9af\U0001f9ba-\U0001f9bf\U0001f9c3-\U0001f9cf"
    "\U0001fa00-\U0001fa53\U0001fa70-\U0001fbff]"
)
ICONS = _char_class(chr(c) for c in range(0xA0, 0x20000)
                    if unicodedata.category(chr(c)) == "So" and not _NEWER_SYMBOLS.match(chr(c)))

PUNCT = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉\u2329\u232a⟦⟧"
CURRENCY = r"\$|£|€|¥|฿|US\$|C\$|A\$|₽|﷼|₴|₠|₡|₢|₣|₤|₥|₦|₧|₨|₩|₪|₫|₭|₮|₯|₰|₱|₲|₳|₵|₶|₷|₸|₹|₺|₻|₼|₾|₿"
UNITS = "|".join(re.escape(unit) for unit in (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz m/s km/h kmh mph "
    "hPa Pa mbar mb MB kb KB gb GB tb TB T G M K % км км² км³ м м² м³ дм дм² дм³ см см² см³ мм мм² мм³ нм кг г мг "
    "м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ тбكم كم² كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام "
    "جم كغ ملغ كوب اكواب"  # "тбكم" as in spaCy's list, which lacks a space there
).split())
HYPHENS = "-|–|—|--|---|——|~"
_ELLIPSIS = r"\.\.+|…"
_PUNCT_CLASS = re.escape(PUNCT)
_QUOTE_CLASS = re.escape(QUOTES)

# Used with `match`: the first alternative that matches at the start wins (spaCy joins its prefixes with "|^").
PREFIX = re.compile("|".join(f"(?:{p})" for p in (
    "§", "%", "=", "—", "–", r"\+(?![0-9])", f"[{_PUNCT_CLASS}]", "……", _ELLIPSIS, f"[{_QUOTE_CLASS}]",
    CURRENCY, f"[{ICONS}]")))
# The leftmost start that matches to the end wins. Only a run of periods is longer than SUFFIX_REACH characters,
# and no lookbehind reaches more than 2 characters further back.
SUFFIX_REACH = 5
SUFFIX = re.compile("(?:" + "|".join((
    f"[{_PUNCT_CLASS}]", "……", _ELLIPSIS, f"[{_QUOTE_CLASS}]", f"[{ICONS}]", "'s", "'S", "’s", "’S", "—", "–",
    r"(?<=[0-9])\+", r"(?<=°[FfCcKk])\.", f"(?<=[0-9])(?:{CURRENCY})", f"(?<=[0-9])(?:{UNITS})",
    # a period after a digit, a lower-case letter, %, ², -, +, punctuation or a quote (spaCy's class also holds
    # "|", "(", "?", ":" and ")")
    f"(?<=[0-9{LOWER}%²\\-+{_PUNCT_CLASS}|(?:{_QUOTE_CLASS})])\\.",
    f"(?<=[{UPPER}][{UPPER}])\\.",
)) + ")$")
INFIX = re.compile("|".join((
    _ELLIPSIS, f"[{ICONS}]", r"(?<=[0-9])[+\-*^](?=[0-9-])",
    f"(?<=[{LOWER}{_QUOTE_CLASS}])\\.(?=[{UPPER}{_QUOTE_CLASS}])",
    f"(?<=[{ALPHA}]),(?=[{ALPHA}])", f"(?<=[{ALPHA}0-9])(?:{HYPHENS})(?=[{ALPHA}])",
    f"(?<=[{ALPHA}0-9])[:<>=/](?=[{ALPHA}])",
)))

# spaCy keeps URLs, e-mail addresses and host names whole once their affixes are split off: an optional
# scheme and user, then a public IPv4 address or dotted host labels ending in a lower-case TLD, a port, a path.
_URL_HOST = (
    r"(?:(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))"
    r"|(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    f"(?:[{LOWER}]{{2,63}}))"
    r"(?::\d{2,5})?(?:[/?#]\S*)?$"
)
URL = re.compile(r"^(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?" + _URL_HOST)
# The same without the user part, for strings without "@" (where it cannot match but can backtrack for long).
URL_WITHOUT_USER = re.compile(r"^(?:[\w+\-.]{2,}://)?" + _URL_HOST)


# Tokens that end a sentence for spaCy's rule-based sentencizer (its default list: Unicode sentence terminators).
SENTENCE_TERMINALS = frozenset(
    "!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736"
    "\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d"
    "\u2047\u2048\u2049\u2e2e\u2e3c\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d"
    "\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\u3002\U00010a56\U00010a57\U00011047"
    "\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd"
    "\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3"
    "\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3"
    "\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43"
    "\U00011a9b\U00011a9c\U00011c41\U00011c42\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f"
    "\U0001da88"
)
