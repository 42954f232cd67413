"""Decoding on evidence: labels are kept unless the bytes contradict them, on real pages in both directions."""

from __future__ import annotations

import io
import random

import pytest
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.read.decode import decode_html, looks_binary
from ccrefine.transforms.records import Page

from tests.transforms.reader_archives import FRENCH, Doc, warc

GBK_PAGE = "zh/html/trafilatura/tests__eval__archive.org.he.xinhuanet.com.25340717.html"  # real GB2312 page
# Real pages whose meta tag says gb2312 or gbk, stored as UTF-8 (the fixtures were re-encoded, the tags kept).
UTF8_PAGES_LABELLED_GB = ["zh/html/gne/tests/163/9.html", "zh/html/gne/tests/people/1.html",
                          "zh/html/readability/test__test-pages__qq__source.html"]


def french_page(stray: bytes = b"") -> bytes:
    half = len(FRENCH) // 2
    return f"<html><head><title>École</title></head><body><p>{FRENCH[:half]}".encode() + stray + (
        f"{FRENCH[half:]}</p></body></html>".encode())


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", None])
def test_stray_bytes_in_a_utf8_page_are_replaced_in_place(content_type):
    text, codec = decode_html(french_page(b"\xff\xfe"), content_type)
    assert codec == "utf-8"
    assert text == french_page().decode().replace(FRENCH, FRENCH[: len(FRENCH) // 2] + "\ufffd\ufffd"
                                                  + FRENCH[len(FRENCH) // 2 :])


def test_real_gbk_page_labelled_utf8_is_detected(shared_data):
    payload = (shared_data / GBK_PAGE).read_bytes()
    only_utf8_label = payload.replace(b"charset=gb2312", b"")  # the archive's injected head says utf-8
    text, codec = decode_html(only_utf8_label, "text/html; charset=utf-8")
    assert codec == "gb18030" and text == only_utf8_label.decode("gb18030")
    assert "话剧《约定无期限》河北各市巡演结束" in text


def test_real_gbk_page_with_two_bad_bytes_keeps_its_label(shared_data):
    payload = (shared_data / GBK_PAGE).read_bytes()
    body = payload.index("河北".encode("gb18030"), payload.index(b"<body"))
    damaged = payload[:body] + b"\x80\xff" + payload[body:]
    text, codec = decode_html(damaged, "text/html; charset=gb2312")
    assert codec == "gb18030"
    assert text.replace("\ufffd", "") == payload.decode("gb18030") and 1 <= text.count("\ufffd") <= 2


@pytest.mark.parametrize("name", UTF8_PAGES_LABELLED_GB)
def test_real_utf8_pages_labelled_gb2312_stay_utf8(shared_data, name):
    payload = (shared_data / name).read_bytes()
    assert b"charset=gb2312" in payload[:4096].lower().replace(b'"', b"") or b"gbk" in payload[:4096].lower()
    text, codec = decode_html(payload, None)
    assert codec == "utf-8" and text == payload.decode("utf-8")


def test_correct_legacy_labels_are_kept():
    samples = {"euc_jp": "東京の大学で日本語", "shift_jis": "東京の大学で日本語", "gb2312": "北京的春天来得很早",
               "big5": "臺北的圖書館", "cp1252": FRENCH}
    for encoding, sample in samples.items():
        payload = f"<html><body><p>{sample}</p></body></html>".encode(encoding)
        text, _ = decode_html(payload, f"text/html; charset={encoding}")
        assert sample in text


def test_nul_and_control_bytes_do_not_make_a_page_binary():
    page = french_page().replace(b"<title>", b"<title>\x00\x01").replace(b"<p>", b"<p>\x00\x08\x00")
    assert not looks_binary(page)
    text, _ = decode_html(page, "text/html; charset=utf-8")
    assert "\x00" not in text and "<title>École</title>" in text
    items = list(read_crawl_file(io.BytesIO(warc("1.0", [Doc("http://x.fr/", page, "text/html")])), "t.warc"))
    (kept,) = [item for item in items if isinstance(item, Page)]
    assert FRENCH in kept.html


def test_binary_payloads_are_recognised_on_evidence():
    noise = random.Random(7).randbytes(5000)
    assert looks_binary(noise)  # no magic number, but ~10% control bytes
    assert looks_binary(b"\x89PNG\r\n\x1a\n" + b"A" * 5000) and looks_binary(b"%PDF-1.4\n" + b"A" * 5000)
    utf16 = "\ufeff<html><body>École</body></html>".encode("utf-16-le")
    assert not looks_binary(utf16) and "École" in decode_html(utf16, None)[0]
    no_bom = "<html><body>Montréal</body></html>".encode("utf-16-le")
    assert not looks_binary(no_bom) and "Montréal" in decode_html(no_bom, "text/html; charset=utf-16le")[0]
