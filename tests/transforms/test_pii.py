"""PII redaction: each type found and replaced, look-alikes left alone."""

from __future__ import annotations

import pytest
from ccrefine.transforms.filters.pii import PiiOptions, PiiStep, redact_pii
from ccrefine.transforms.records import Document


@pytest.mark.parametrize(
    "text, expected, kind",
    [
        ("Write to jane.doe+news@example.co.uk today.", "Write to <EMAIL> today.", "email"),
        ("The resolver 8.8.8.8 answered.", "The resolver <IP_ADDRESS> answered.", "ip"),
        ("Call +44 20 7946 0958 now.", "Call <PHONE> now.", "phone"),
        ("US office: (415) 555-0132.", "US office: <PHONE>.", "phone"),
        ("请拨打13812345678咨询。", "请拨打<PHONE>咨询。", "phone"),
        ("手机 138 1234 5678", "手机 <PHONE>", "phone"),
        ("身份证号 11010519491231002X。", "身份证号 <CN_ID>。", "cn_id"),
    ],
)
def test_each_type_is_replaced_and_counted(text, expected, kind):
    redacted, counts = redact_pii(text)
    assert redacted == expected and counts[kind] == 1 and sum(counts.values()) == 1


@pytest.mark.parametrize(
    "text",
    ["Router at 192.168.1.1 and 10.0.0.1, loopback 127.0.0.1.",
     "Version 1.2.3.4.5 of the tool.",
     "订单号 123456789012345678 已发货。",  # 18 digits, wrong check digit: not an ID
     "In 2024 the town had 12,500 people."],
)
def test_look_alikes_are_left_alone(text):
    assert redact_pii(text) == (text, {"email": 0, "ip": 0, "phone": 0, "cn_id": 0})


def test_step_scores_and_optional_drop():
    document = Document("a", "u", "", "", "mail a@b.org or c@d.org, call +1 415 555 0132")
    kept = PiiStep().judge(document)
    assert kept.reason is None and kept.document.scores["pii.email"] == 2.0 and "<PHONE>" in kept.document.text
    assert PiiStep(PiiOptions(max_hits=2)).judge(document).reason == "too_much_pii"
    with pytest.raises(ValueError):
        PiiOptions(max_hits=-1)
