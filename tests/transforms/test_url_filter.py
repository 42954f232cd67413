"""URL filtering on the real UT1 lists and on lists written here: blocklists, word rules, the allow list."""

from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.transforms.filters.url_filter import (
    BANNED_SUBWORD,
    BANNED_WORD,
    BLOCKLIST,
    SOFT_BANNED_SCORE,
    SOFT_BANNED_WORDS,
    UrlFilterOptions,
    UrlFilterStep,
    split_url,
    url_decision,
)
from ccrefine.transforms.ptransforms import ApplyStep
from ccrefine.transforms.records import Document, Page, Rejected
from ccrefine.transforms.step import Verdict

from tests.processes import HANG_GUARD_S

CLEAN_URLS = [
    "https://en.wikipedia.org/wiki/Bread",
    "https://www.example.cn/keji/2024/dianchi-huishou.html",
    "https://kitchen-lab.example.com/bread/why-sourdough-rises",
    "https://www.nhs.uk/conditions/sexually-transmitted-infections/",
    "https://tourisme.example.fr/pornic-plages",  # "porn" inside a word is not the word
    "https://essexcameraclub.example.org.uk/",  # no sub-word may match across two innocent words
]


def document(url: str) -> Document:
    return Document(id=f"id:{url}", url=url, date="2024-01-01T00:00:00Z", dump="", text="Some text.")


def loaded(**options) -> UrlFilterStep:
    step = UrlFilterStep(UrlFilterOptions(**options))
    step.setup()
    return step


def write_list(path: Path, *lines: str, gzipped: bool = False) -> str:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return str(path)


def reason(step: UrlFilterStep, url: str) -> str | None:
    return step.judge(document(url)).reason


def entries(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split()


# --- the real UT1 lists ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ut1(shared_data) -> Path:
    return shared_data / "blocklist"


@pytest.fixture(scope="module")
def ut1_step(ut1) -> UrlFilterStep:
    lists = ("ut1_gambling/domains", "ut1_dating/domains", "ut1_adult/urls")
    return loaded(blocklists=tuple(str(ut1 / name) for name in lists))


@pytest.mark.parametrize("listed", ["ut1_gambling/domains", "ut1_dating/domains"])
def test_every_listed_domain_and_its_subdomains_are_blocked(ut1, ut1_step, listed):
    domains, allowed = entries(ut1 / listed), []
    assert len(domains) > 6000
    for domain in domains:
        decision = url_decision(f"http://{domain}/", ut1_step.lists)
        if decision.detail.startswith("allow_list:"):
            allowed.append(domain)  # e.g. eastmidlandsgambling.nhs.uk, an NHS gambling addiction service
            continue
        assert decision.reason == BLOCKLIST, domain
        if not domain[0].isdigit():  # IP addresses have no subdomains
            assert url_decision(f"https://a.b.{domain.upper()}:8080/p?id=1", ut1_step.lists).reason == BLOCKLIST, domain
    assert len(allowed) < 10, allowed


def test_blocked_with_www_port_userinfo_and_upper_case(ut1, ut1_step):
    domain = entries(ut1 / "ut1_gambling/domains")[1000]
    for url in (f"HTTPS://WWW.{domain.upper()}/", f"http://user:secret@www.{domain}:8443/x#top", f"//{domain}"):
        assert reason(ut1_step, url) == BLOCKLIST, url
    assert ut1_step.explain(f"https://www.sub.{domain}/") == f"blocklist:{domain}"


def test_every_listed_url_prefix_blocks_its_urls(ut1, ut1_step):
    prefixes = [p for p in entries(ut1 / "ut1_adult/urls") if "wikisource.org" not in p]  # allow list wins there
    assert len(prefixes) > 1000
    for prefix in prefixes:
        assert reason(ut1_step, f"https://{prefix}") == BLOCKLIST, prefix
        assert reason(ut1_step, f"http://www.{prefix}") == BLOCKLIST, prefix


def test_url_prefix_blocks_below_it_but_not_its_siblings(ut1, ut1_step):
    assert "178.128.25.172/watch" in entries(ut1 / "ut1_adult/urls")
    assert "1512h.itch.io/life-in-teyvat" in entries(ut1 / "ut1_adult/urls")
    for url in (
        "http://178.128.25.172/watch?v=42",
        "http://178.128.25.172/watch/42",
        "https://1512h.itch.io/life-in-teyvat",
    ):
        assert reason(ut1_step, url) == BLOCKLIST, url
    assert ut1_step.explain("http://178.128.25.172/watch/42") == "blocklist:178.128.25.172/watch"
    for url in ("http://178.128.25.172/watchmaking", "http://178.128.25.172/", "https://1512h.itch.io/other-game"):
        assert reason(ut1_step, url) is None, url


def test_clean_urls_are_kept(ut1_step):
    for url in CLEAN_URLS:
        verdict = ut1_step.judge(document(url))
        assert verdict.reason is None, (url, ut1_step.explain(url))
        assert verdict.document.scores[SOFT_BANNED_SCORE] == 0.0


# --- lists written here ------------------------------------------------------------------------------------


def test_allow_list_overrides_blocklists_and_words(tmp_path):
    blocklist = write_list(tmp_path / "domains", "wikipedia.org", "kitchen-lab.example.com", "other.example.com")
    step = loaded(blocklists=(blocklist,), allow_domains=("kitchen-lab.example.com",))
    for url in ("https://en.wikipedia.org/wiki/Porn_(disambiguation)", CLEAN_URLS[2]):
        assert reason(step, url) is None, url
    assert step.explain("https://de.m.wikipedia.org/wiki/Brot") == "allow_list:wikipedia.org"
    assert reason(step, "https://other.example.com/") == BLOCKLIST
    assert reason(step, "https://wikipedia.org.other.example.com/") == BLOCKLIST  # a look-alike is not allowed


def test_allow_list_file_replaces_the_shipped_one(tmp_path):
    allow = write_list(tmp_path / "allow.txt", "# only this", "kitchen-lab.example.com")
    step = loaded(blocklists=(write_list(tmp_path / "d", "wikipedia.org"),), allow_list_file=allow)
    assert reason(step, "https://en.wikipedia.org/wiki/Bread") == BLOCKLIST


def test_parent_domains_match_but_siblings_and_parents_of_an_entry_do_not(tmp_path):
    step = loaded(blocklists=(write_list(tmp_path / "d", "b.example.com", "bet.br"),))
    assert step.explain("https://a.b.example.com/") == "blocklist:b.example.com"
    assert reason(step, "https://casa.bet.br/") == BLOCKLIST  # UT1 lists this public suffix on purpose
    for url in ("https://example.com/", "https://c.example.com/", "https://ab.example.com/", "https://b.example.org/"):
        assert reason(step, url) is None, url


def test_list_file_syntax_comments_gzip_and_line_endings(tmp_path):
    lines = (
        "# a comment line",
        "",
        "Casino-Example.COM\r",
        "  spaced.example.net  ",
        "www.www-stripped.example.org",
        "*.wildcard.example.org",
        "prefix.example.net/blocked/path # an inline comment",
        "https://scheme.example.net/x/",
    )
    for name, gzipped in (("plain.txt", False), ("packed.gz", True), ("packed-without-suffix", True)):
        step = loaded(blocklists=(write_list(tmp_path / name, *lines, gzipped=gzipped),))
        for url in (
            "http://casino-example.com/",
            "http://spaced.example.net/",
            "http://www-stripped.example.org/",
            "http://a.wildcard.example.org/",
            "http://prefix.example.net/blocked/path/1",
            "http://scheme.example.net/x/y",
        ):
            assert reason(step, url) == BLOCKLIST, (name, url)
        for url in ("http://prefix.example.net/", "http://scheme.example.net/y", "http://a-comment-line.example/"):
            assert reason(step, url) is None, (name, url)


def test_many_list_files_and_every_line_form_hash_alike(tmp_path):
    # Plain lines are hashed vectorised, unusual ones one by one: both must land on the same hash.
    plain = write_list(tmp_path / "plain", *(f"site{i}.example.com" for i in range(500)))
    unusual = write_list(tmp_path / "unusual", *(f" WWW.other{i}.example.com. " for i in range(500)))
    step = loaded(blocklists=(plain, unusual))
    assert all(reason(step, f"https://x.site{i}.example.com/") == BLOCKLIST for i in range(500))
    assert all(reason(step, f"https://other{i}.example.com/") == BLOCKLIST for i in range(500))
    assert reason(step, "https://site500.example.com/") is None


def test_international_domains_match_in_unicode_and_punycode(tmp_path):
    step = loaded(blocklists=(write_list(tmp_path / "d", "xn--bcher-kva.de", "赌场.example.com"),))
    assert split_url("https://BÜCHER.de/") == ("xn--bcher-kva.de", "/")
    for url in ("https://www.BÜCHER.de/", "https://xn--bcher-kva.de/", "http://a.xn--mes317j.example.com/"):
        assert reason(step, url) == BLOCKLIST, url


def test_hard_banned_word_rejects_on_one_whole_word():
    step = loaded()
    assert step.explain("https://example.com/free-porn-videos") == "banned_word:porn"
    assert reason(step, "https://bocai.example.cn/") == BANNED_WORD
    assert step.explain("https://news.example.cn/%E8%B5%8C%E5%9C%BA/1.html") == "banned_word:赌场"  # percent-encoded
    assert step.explain("https://news.example.cn/澳门赌场开业") == "banned_word:赌场"  # Chinese matches inside text
    assert reason(step, "https://example.com/pornic-and-the-loire") is None


def test_strict_subword_rejects_inside_longer_words():
    step = loaded()
    assert step.explain("https://freepornvideos.example.net/") == "banned_subword:freeporn"
    assert reason(step, "https://example.com/xyzpornhubabc") == BANNED_SUBWORD
    assert reason(step, "https://example.com/aomenduchang-guide") == BANNED_SUBWORD


@pytest.mark.parametrize("threshold", [2, 3])
def test_soft_banned_words_reject_at_the_threshold(threshold):
    step = loaded(soft_banned_threshold=threshold)
    words = ["escort", "webcam", "sexy", "casino"]
    below = step.judge(document("https://example.com/" + "-".join(words[: threshold - 1])))
    assert below.reason is None and below.document.scores[SOFT_BANNED_SCORE] == threshold - 1
    at = step.judge(document("https://example.com/" + "-".join(words[:threshold])))
    assert at.reason == SOFT_BANNED_WORDS and at.document.scores[SOFT_BANNED_SCORE] == threshold


def test_soft_banned_words_count_distinct_words_and_chinese():
    step = loaded()
    assert step.explain("https://example.com/webcam-escort") == "soft_banned_words:escort,webcam"
    assert reason(step, "https://health.example.org/sex/sex-ed/sex") is None
    assert reason(step, "https://example.cn/" + "美女性感") == SOFT_BANNED_WORDS


def test_own_word_list_files(tmp_path):
    step = loaded(
        banned_words_file=write_list(tmp_path / "hard", "# mine", "sourdough"),
        soft_banned_words_file=write_list(tmp_path / "soft", "bread", "rises"),
        banned_subwords_file=write_list(tmp_path / "sub", "kitchenlab"),
    )
    assert step.explain(CLEAN_URLS[2]) == "banned_word:sourdough"
    assert step.explain("https://example.com/bread-rises") == "soft_banned_words:bread,rises"
    assert step.explain("https://mykitchenlab.example/") == "banned_subword:kitchenlab"
    assert reason(step, "https://example.com/free-porn") is None  # the shipped lists are replaced, not extended


@pytest.mark.parametrize(
    "options, message",
    [
        ({"blocklists": "ut1/adult/domains"}, "blocklists must be a list"),
        ({"blocklists": ("",)}, "non-empty"),
        ({"soft_banned_threshold": 0}, "soft_banned_threshold"),
        ({"soft_banned_threshold": True}, "soft_banned_threshold"),
        ({"soft_banned_threshold": "2"}, "soft_banned_threshold"),
        ({"allow_domains": ("example.org/path",)}, "bare domains"),
        ({"banned_words_file": ""}, "banned_words_file"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        UrlFilterOptions(**options)


def test_options_from_lists_become_tuples_and_a_missing_file_names_its_option(tmp_path):
    options = UrlFilterOptions(blocklists=[str(tmp_path / "missing")], allow_domains=["example.org"])
    assert options.blocklists == (str(tmp_path / "missing"),) and options.allow_domains == ("example.org",)
    with pytest.raises(FileNotFoundError, match="blocklists.*missing"):
        UrlFilterStep(options).setup()


def test_pages_are_judged_and_lists_never_travel_with_the_step(tmp_path):
    step = loaded(blocklists=(write_list(tmp_path / "d", "casino.example.com"),))
    page = Page("p1", "https://casino.example.com/", "", "", "text/html", "utf-8", "<p>x</p>", None, "f.warc.gz", 0)
    assert step.judge(page) == Verdict(page, BLOCKLIST, "blocklist:casino.example.com")
    copy = pickle.loads(pickle.dumps(step))
    assert copy._lists is None and reason(copy, "https://casino.example.com/") == BLOCKLIST
    assert copy.lists is step.lists  # steps in one process share the loaded lists


def test_loading_needs_no_network():
    probe = (
        "import socket\n"
        "def refuse(*args, **kwargs): raise OSError('network used')\n"
        "socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse\n"
        "from ccrefine.transforms.filters.url_filter import UrlFilterOptions, UrlFilterStep\n"
        "step = UrlFilterStep(UrlFilterOptions())\n"
        "print(step.explain('https://www.example.co.uk/porn'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "banned_word:porn"


def test_step_in_a_beam_pipeline(tmp_path):
    options = UrlFilterOptions(blocklists=(write_list(tmp_path / "d", "casino.example.com"),))
    urls = [
        *CLEAN_URLS[:3],
        "https://casino.example.com/",
        "https://example.com/free-porn",
        "https://example.com/sexy-escort",
    ]
    with TestPipeline() as pipeline:
        outputs = pipeline | beam.Create([document(url) for url in urls]) | ApplyStep(UrlFilterStep(options))
        assert_that(outputs.kept | "KeptUrls" >> beam.Map(lambda d: d.url), equal_to(CLEAN_URLS[:3]), label="Kept")
        rejected = outputs.rejected | beam.Map(
            lambda r: (isinstance(r, Rejected), r.url, r.stage, r.reason, r.scores[SOFT_BANNED_SCORE])
        )
        expected = [
            (True, urls[3], "url_filter", BLOCKLIST, 1.0),  # "casino" is a soft word
            (True, urls[4], "url_filter", BANNED_WORD, 0.0),
            (True, urls[5], "url_filter", SOFT_BANNED_WORDS, 2.0),
        ]
        assert_that(rejected, equal_to(expected), label="Rejected")
