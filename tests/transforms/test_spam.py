"""score_spam: weighted lexicon categories, flagged lines, structural spam, each decision at its threshold."""

from __future__ import annotations

import json
import pickle

import pytest
from ccrefine.pipelines.recipe import RecipeError, parse_recipe
from ccrefine.transforms.filters.spam import (
    SpamOptions,
    SpamStep,
    contacts,
    decide_spam,
    longest_bracket_run,
    longest_keyword_list,
    read_lexicon,
)
from ccrefine.transforms.records import Document

QUIET = {"spam.flagged_chars_frac": 0.0, "spam.bracket_run": 0.0, "spam.keyword_list_items": 0.0,
         "spam.contact_bait": 0.0, "spam.repeated_contact": 0.0,
         **{f"spam.{c}.{m}": 0.0 for c in ("gambling", "porn", "ads") for m in ("hits", "weight", "density")}}


def _judge(text: str, **options):
    step = SpamStep(SpamOptions(**options))
    return step.judge(Document("d", "", "", "", text, lang="zh"))


@pytest.fixture(scope="module")
def article(shared_data) -> str:
    """A real Chinese news article: magic-html's main-text answer for a kepu.gov.cn page."""
    index = shared_data / "zh" / "html" / "magic_html" / "index_with_ground_truth.jsonl"
    return json.loads(index.read_text(encoding="utf-8").splitlines()[0])["ground_truth_content"]


@pytest.mark.parametrize("key, limit, reason", [
    ("spam.bracket_run", 3, "bracket_run"), ("spam.keyword_list_items", 12, "keyword_list"),
    ("spam.repeated_contact", 2, "repeated_contact"), ("spam.contact_bait", 2, "contact_bait"),
    ("spam.flagged_chars_frac", 0.3, "flagged_lines")])
def test_structural_rules_drop_just_above_their_limit(key, limit, reason):
    options = SpamOptions()
    assert decide_spam({**QUIET, key: limit - 0.01}, options) is None
    assert decide_spam({**QUIET, key: limit}, options) is None
    assert decide_spam({**QUIET, key: limit + 0.01 if isinstance(limit, float) else limit + 1}, options) == reason


@pytest.mark.parametrize("weight, density, dropped", [
    (2.99, 50.0, False),  # dense but below the weight floor: one or two strong words
    (3.0, 4.0, False),  # at both limits: the density must be above 4 per 1,000 characters
    (3.0, 4.01, True),
    (40.0, 3.99, False)])  # much weight spread over a long text
def test_a_category_needs_both_weight_and_density(weight, density, dropped):
    scores = {**QUIET, "spam.gambling.weight": weight, "spam.gambling.density": density}
    assert (decide_spam(scores, SpamOptions()) == "gambling") is dropped


def test_bracket_keyword_list_and_contact_measures():
    assert longest_bracket_run("最新【随】【着】【新】【闻】报道【图】") == 4
    assert longest_bracket_run("【图】新闻【视频】") == 0
    assert longest_keyword_list("广告牌制作 广告灯箱制作 标识牌制作 楼宇亮化工程") == 4
    assert longest_keyword_list("首页 | 新闻 | 体育") == 3
    assert longest_keyword_list("这是一句完整的话，没有关键词列表。") == 0
    assert longest_keyword_list("The quick brown fox jumps over the lazy dog") == 0  # Latin words are not keywords
    numbers, baited = contacts("加qq123456789进群，联系电话13912345678，本报记者电话：010-12345678")
    assert numbers == ["123456789", "13912345678", "01012345678"] and baited == 2


def test_real_article_is_clean_and_one_word_does_not_drop_it(article):
    verdict = _judge(article)
    assert verdict.reason is None and verdict.document.scores["spam.flagged_chars_frac"] == 0.0
    tourism = article + "\n景区门票：成人票120元，儿童半价，澳门威尼斯人酒店提供接驳车。"
    lottery = article + "\n记者从省福利彩票中心获悉，本期彩票开奖后，一名彩民中得大奖，彩票站业主介绍了投注情况。"
    for text in (tourism, lottery):
        verdict = _judge(text)
        assert verdict.reason is None
        assert verdict.document.scores["spam.gambling.hits"] + verdict.document.scores["spam.porn.hits"] >= 1


def test_honest_news_about_gambling_is_kept(article):
    crackdown = ("警方通报：近日，市公安局破获一起跨境网络赌博案，抓获犯罪嫌疑人12名。经查，该团伙开设赌博网站，"
                 "组织境内人员参与赌博，涉案资金达3000万元。警方提醒，网络赌博危害大，请广大市民远离赌博。")
    casino = ("澳门博彩监察协调局公布，今年5月澳门博彩毛收入同比增长，赌场客流持续恢复。分析人士认为，"
              "博彩业复苏带动了酒店和零售消费，威尼斯人、新葡京等度假村入住率明显上升。")
    for news in (crackdown, casino):
        verdict = _judge(article[:600] + "\n" + news)
        assert verdict.reason is None and verdict.document.scores["spam.gambling.hits"] >= 4


def test_traditional_script_spam_is_found_by_the_simplified_lists():
    page = "\n".join(["線上娛樂城註冊送彩金，真人百家樂，首儲返水，出金秒到賬。"] * 3)
    verdict = _judge(page)
    assert verdict.reason == "gambling" and verdict.document.scores["spam.gambling.hits"] >= 9


def test_gambling_seo_and_a_porn_footer_are_dropped(article):
    brands = ("华体会", "欧宝体育", "贵宾会", "bt365")
    seo = "\n".join(f"{brand}注册送彩金，真人百家乐，在线投注秒到账。" for brand in brands)
    assert _judge(seo).reason == "gambling"
    footer = "国产自拍 午夜福利 免费成人视频\n友情链接：色情视频|av女优|无码|成人网站\n本站每日更新。"
    assert _judge(footer).reason == "porn"
    lines = article.split("\n")
    stuffed = "\n".join(lines[:1] + ["澳门赌场 网上赌场 真人百家乐 时时彩计划 在线投注 北京赛车pk10 首充返水"] * 6)
    assert _judge(stuffed).reason in ("gambling", "flagged_lines")


def test_flagged_line_share_at_its_threshold():
    spam_line = "真人百家乐在线投注平台"  # weight 3: a flagged line
    prose = "今天天气很好，我们一起去公园散步，看见很多人在湖边钓鱼。"
    text = "\n".join([spam_line, prose, prose])
    scores = _judge(text, min_category_weight=100.0).document.scores
    share = scores["spam.flagged_chars_frac"]
    assert share == pytest.approx(len(spam_line) / (len(spam_line) + 2 * len(prose)))
    assert _judge(text, min_category_weight=100.0, max_flagged_chars_fraction=share).reason is None
    assert _judge(text, min_category_weight=100.0, max_flagged_chars_fraction=share - 1e-6).reason == "flagged_lines"


def test_repeated_contact_and_contact_bait_counts(article):
    lines = [f"第{i}期计划，加QQ 123456789 领取" for i in range(3)]
    assert _judge("\n".join([article, *lines[:2]])).reason is None
    assert _judge("\n".join([article, *lines])).reason == "repeated_contact"
    bait = [f"兼职日结，联系微信 abc{i}23456" for i in range(3)]
    assert _judge("\n".join([article, *bait[:2]])).reason is None
    assert _judge("\n".join([article, *bait])).reason == "contact_bait"


def test_lexicon_files_and_recipe_options(tmp_path):
    lexicon = tmp_path / "mine.txt"
    lexicon.write_text("# source: test; license: test\nfoo\t0.5\nBar\n", encoding="utf-8")
    assert read_lexicon(lexicon) == {"foo": 0.5, "bar": 1.0}
    recipe = parse_recipe({"stages": [{"score_spam": {"lexicons": {"mine": str(lexicon)}, "min_category_weight": 1}}]})
    step = recipe.stages[0].transform().step
    assert step.judge(Document("d", "", "", "", "BAR bar foo", lang="en")).reason == "mine"
    with pytest.raises(RecipeError, match="not a file"):
        parse_recipe({"stages": [{"score_spam": {"lexicons": {"x": "missing.txt"}}}]})
    lexicon.write_text("foo\tmany\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mine.txt:1"):
        SpamStep(SpamOptions(lexicons={"mine": str(lexicon)})).setup()


def test_shipped_lexicons_name_their_source_and_license():
    from ccrefine.transforms.filters.spam import DEFAULT_LEXICONS, lexicon_path

    for name in DEFAULT_LEXICONS.values():
        first = lexicon_path(name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# source:") and "license:" in first


def test_the_step_pickles_without_its_automaton():
    step = SpamStep()
    step.setup()
    copy = pickle.loads(pickle.dumps(step))
    assert copy._automaton is None
    assert copy.judge(Document("d", "", "", "", "百家乐 百家乐 百家乐", lang="zh")).reason == "gambling"
