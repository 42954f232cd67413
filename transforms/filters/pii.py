"""PII redaction: e-mail addresses, public IP addresses, phone numbers (international, North American and
Chinese mobile formats) and Chinese resident identity numbers, replaced by typed placeholders.

Private, loopback and documentation IP ranges are left alone (they identify nobody), and an 18-digit
number counts as a resident ID only when its ISO 7064 check digit is right, so order numbers survive.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict

PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP_ADDRESS>", "phone": "<PHONE>", "cn_id": "<CN_ID>"}

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_CN_ID = re.compile(r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?:"  # ASCII boundaries: Chinese text puts digits right next to characters
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}"  # international, +CC ...
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}"  # North American
    r"|1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}"  # Chinese mobile
    r")(?![A-Za-z0-9])"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class PiiOptions:
    max_hits: int | None = None  # drop documents with more PII matches than this; None keeps them all

    def __post_init__(self):
        if self.max_hits is not None and self.max_hits < 0:
            raise ValueError(f"max_hits must be >= 0 or null, got {self.max_hits}")


def _valid_cn_id(number: str) -> bool:
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _public_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def redact_pii(text: str) -> tuple[str, dict[str, int]]:
    """The text with PII replaced by placeholders, and the number of replacements per type."""
    counts = dict.fromkeys(PLACEHOLDERS, 0)

    def replace(kind: str, accept=lambda value: True):
        def substitute(match: re.Match) -> str:
            if not accept(match.group(0)):
                return match.group(0)
            counts[kind] += 1
            return PLACEHOLDERS[kind]

        return substitute

    text = _EMAIL.sub(replace("email"), text)
    text = _CN_ID.sub(replace("cn_id", _valid_cn_id), text)  # before phones: an ID contains phone-like runs
    text = _IPV4.sub(replace("ip", _public_ip), text)
    text = _PHONE.sub(replace("phone"), text)
    return text, counts


class PiiStep(Step):
    stage = "pii"

    def __init__(self, options: PiiOptions = PiiOptions()):
        self.options = options

    def judge(self, document: Document) -> Verdict:
        redacted, counts = redact_pii(document.text)
        scores = {f"pii.{kind}": float(count) for kind, count in counts.items()}
        if self.options.max_hits is not None and sum(counts.values()) > self.options.max_hits:
            return Verdict(document.with_scores(scores), "too_much_pii")
        return Verdict(document.with_scores(scores, text=redacted))
