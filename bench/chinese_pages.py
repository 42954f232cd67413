"""Real Chinese web pages (shared/data/zh/html) and constructed Chinese spam pages, shared by
bench/chinese_web.py and tests/transforms/test_chinese_recipes.py.

Real pages: magic-html's 53 articles and 22 forum threads (with a hand-made main-text answer each), the GNE news
pages, and the Chinese pages of trafilatura, readability, newspaper and goose3's tests. Each page belongs to
the `tune` or the `report` split by a hash of its path (one in three reports), so thresholds are chosen on
`tune` and figures are written for `report`.

Spam pages are built deterministically (a seeded `random.Random`) from real page shells (the head, navigation
and footer of real pages, their main text replaced) and real spam patterns: gambling SEO, lottery "plans"
with repeated QQ numbers, porn stories and footers, keyword stuffing, ads pasted inside real sentences,
one-character-per-bracket text, hidden keyword blocks, contact-bait pages.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ccrefine.transforms.read.decode import decode_html

ZH_HTML = ("zh", "html")
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


@dataclass(frozen=True)
class ZhPage:
    name: str  # path under shared/data/zh/html
    kind: str  # article, forum, list_page or spam:<pattern>
    url: str
    html: str
    answer: str | None = None  # magic-html's main text, when known

    @property
    def split(self) -> str:
        digest = hashlib.blake2b(self.name.encode(), digest_size=4).digest()
        return "report" if int.from_bytes(digest, "big") % 3 == 0 else "tune"


def _decoded(path: Path, encoding: str | None = None) -> str:
    payload = path.read_bytes()
    if encoding:
        return payload.decode(encoding, "replace")
    return decode_html(payload, None)[0]


def real_pages(shared: Path) -> list[ZhPage]:
    """Every real Chinese page in shared/data/zh/html, in a fixed order."""
    root = shared.joinpath(*ZH_HTML)
    pages = []
    for line in (root / "magic_html" / "index_with_ground_truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pages.append(ZhPage(f"magic_html/{row['file']}", row["page_kind"], row["url"],
                            _decoded(root / "magic_html" / row["file"], row["encoding"]), row["ground_truth_content"]))
    for line in (root / "gne" / "index.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        kind = "article" if row["page_kind"] == "news_article" else row["page_kind"]
        url = f"https://{row['site_dir']}.example.cn/{row['file']}"  # GNE keeps no URLs; the site name stands in
        pages.append(ZhPage(f"gne/{row['file']}", kind, url, _decoded(root / "gne" / row["file"], row["encoding"])))
    for folder in ("trafilatura", "readability", "newspaper", "goose3"):
        for path in sorted((root / folder).glob("*.html")):
            if path.name.endswith("expected.html"):
                continue
            pages.append(ZhPage(f"{folder}/{path.name}", "article", f"https://{folder}.example.cn/{path.stem}",
                                _decoded(path)))
    return pages


# --- constructed spam --------------------------------------------------------------------------------------------

GAMBLING_BRANDS = ["威尼斯人", "华体会", "欧宝体育", "贵宾会", "bt365", "yabo亚博", "澳洲幸运10", "太阳城", "金沙娱乐",
                   "新葡京", "永利皇宫", "皇冠体育", "澳门银河", "博彩平台", "真人百家乐", "开元棋牌"]
GAMBLING_PHRASES = ["注册送彩金", "首充返利", "正规网投平台", "百家乐技巧", "时时彩计划", "北京赛车pk10", "六合彩开奖",
                    "网上赌场", "在线投注", "体育投注", "老虎机", "真人视讯", "棋牌游戏", "存款秒到账", "提款无限制",
                    "官方网站", "娱乐平台", "下载APP"]
LOTTERY_GAMES = ["重庆时时彩", "幸运飞艇", "北京赛车", "快三", "11选5", "腾讯分分彩"]
PORN_TERMS = ["成人影片", "色情视频", "在线观看", "av女优", "无码", "激情视频", "裸聊", "约炮", "一夜情", "黄色网站",
              "国产自拍", "偷拍", "情色小说", "成人网站", "午夜福利", "美女直播"]
PORN_STORY = ["她红着脸脱下了衣服", "两人在床上激情缠绵", "他抚摸着她的身体", "呻吟声越来越大", "乳房", "下体湿润",
              "做爱", "高潮", "插入", "淫荡", "荡妇", "口交"]
AD_BAIT = ["加微信领红包", "点击进入官网", "扫码下载APP", "联系客服", "代理招募", "日赚千元", "免费领取", "添加QQ",
           "扫码关注", "立即下载", "兼职刷单", "高额返利"]


def _shell(page: ZhPage, title: str, main_html: str) -> str | None:
    """The page's own markup with its main text (magic-html's answer) cut out and `main_html` put in its place:
    a real site's head, navigation, sidebars and footer around the spam. None when the answer is not found."""
    lines = [line.strip() for line in (page.answer or "").split("\n") if len(line.strip()) >= 12]
    if not lines:
        return None
    first, last = page.html.find(lines[0][:10]), page.html.rfind(lines[-1][-10:])
    if first < 0 or last < first:
        return None
    start, end = page.html.rfind("<", 0, first), page.html.find(">", last)
    if start < 0 or end < 0:
        return None
    head = re.sub(r"<title>.*?</title>", f"<title>{html_lib.escape(title)}</title>", page.html[:start], count=1,
                  flags=re.S | re.I)
    return f"{head}<div class='content'>{main_html}</div>{page.html[end + 1:]}"


def _sentences(page: ZhPage) -> list[str]:
    """Real Chinese sentences of an article (magic-html's answer)."""
    return [s + "。" for s in re.split(r"[。！？\n]", page.answer or "") if len(s) >= 12]


def _contact(rng: random.Random) -> str:
    return rng.choice([f"QQ：{rng.randint(10_000_000, 3_999_999_999)}",
                       f"微信：{rng.choice('abcdefghk')}{rng.randint(10**6, 10**8)}",
                       f"电话：1{rng.choice('3578')}{rng.randint(10**8, 10**9 - 1)}"])


def _paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines)


def _gambling_seo(rng, sentences):
    brand = rng.choice(GAMBLING_BRANDS)
    lines = []
    for _ in range(rng.randint(8, 14)):
        words = rng.sample(GAMBLING_PHRASES, 3) + [rng.choice(GAMBLING_BRANDS)]
        lines.append(f"{brand}{words[0]}，{words[1]}，{words[2]}，{words[3]}是您最好的选择。")
    lines.insert(rng.randrange(len(lines)), rng.choice(sentences))
    return f"{brand}_{rng.choice(GAMBLING_PHRASES)}_官方网站", _paragraphs(lines)


def _lottery_plan(rng, sentences):
    qq = rng.randint(10_000_000, 999_999_999)
    game = rng.choice(LOTTERY_GAMES)
    lines = [f"{game}计划第{rng.randint(100, 999)}期：{rng.randint(0, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
             f"{rng.randint(0, 9)}{rng.randint(0, 9)} 导师带单稳赚不赔，加QQ{qq}进群领取计划。"
             for _ in range(rng.randint(10, 18))]
    return f"{game}计划_稳赚计划网", _paragraphs(lines)


def _porn_story(rng, sentences):
    lines = []
    for _ in range(rng.randint(8, 12)):
        picked = rng.sample(PORN_STORY, 4)
        lines.append(f"那天晚上，{picked[0]}，{picked[1]}，{picked[2]}，{picked[3]}。")
    return rng.choice(["都市激情小说", "成人情色小说"]) + "_第" + str(rng.randint(1, 99)) + "章", _paragraphs(lines)


def _porn_footer(rng, sentences):
    terms = rng.sample(PORN_TERMS, 8)
    lines = [f"{terms[i]} {terms[i + 1]} 免费{terms[i + 2]}" for i in range(0, 6, 2)]
    lines.append(f"友情链接：{'|'.join(rng.sample(PORN_TERMS, 8))}")
    lines.append(f"本站提供最新{terms[0]}、{terms[1]}在线观看，每日更新，{_contact(rng)}。")
    return f"{terms[0]}_{terms[1]}_免费{terms[2]}", _paragraphs(lines)


def _keyword_stuffing(rng, sentences):
    topic = rng.choice(GAMBLING_BRANDS + ["网上赚钱", "代孕", "办证", "私家侦探"])
    keywords = [topic + suffix for suffix in ("官网", "平台", "注册", "登录", "下载", "网址", "app", "开户", "客服",
                                                "代理", "首页", "入口", "手机版", "电脑版", "娱乐", "正规")]
    rng.shuffle(keywords)
    separator = rng.choice(["_", "|", " ", "-"])
    lines = [separator.join(keywords), rng.choice(sentences), separator.join(reversed(keywords))]
    return f"{topic}{separator}{topic}官网", _paragraphs(lines)


def _ads_inside_sentences(rng, sentences):
    lines = []
    for sentence in rng.sample(sentences, min(len(sentences), 6)):
        cut = rng.randrange(4, max(5, len(sentence) - 4))
        ad = f"【{rng.choice(AD_BAIT)}，{rng.choice(GAMBLING_BRANDS)}{_contact(rng)}】"
        lines.append(sentence[:cut] + ad + sentence[cut:])
    return "新闻资讯", _paragraphs(lines)


def _one_char_brackets(rng, sentences):
    sentence = rng.choice(sentences)
    bracketed = "".join(f"【{ch}】" for ch in sentence[:40])
    lines = [bracketed, f"{rng.choice(GAMBLING_BRANDS)}{rng.choice(GAMBLING_PHRASES)}",
             "".join(f"【{ch}】" for ch in rng.choice(sentences)[:30])]
    return "".join(f"【{ch}】" for ch in "最新资讯"), _paragraphs(lines)


def _hidden_keywords(rng, sentences):
    brand = rng.choice(GAMBLING_BRANDS)
    hidden = " ".join(f"{brand}{p}" for p in rng.sample(GAMBLING_PHRASES, 12))
    visible = rng.sample(sentences, min(len(sentences), 2))
    return f"{brand}官网", f'<div style="display:none">{html_lib.escape(hidden)}</div>' + _paragraphs(
        [hidden] + visible)


def _contact_bait(rng, sentences):
    contact = _contact(rng)
    lines = [f"{rng.choice(AD_BAIT)}，{rng.choice(['加', '联系', '代理咨询'])}{contact}，{rng.choice(AD_BAIT)}。"
             for _ in range(rng.randint(6, 10))]
    return rng.choice(["兼职招聘", "代理招募", "刷单返利"]), _paragraphs(lines)


SPAM_PATTERNS = {
    "gambling_seo": _gambling_seo, "lottery_plan": _lottery_plan, "porn_story": _porn_story,
    "porn_footer": _porn_footer, "keyword_stuffing": _keyword_stuffing, "ads_inside_sentences": _ads_inside_sentences,
    "one_char_brackets": _one_char_brackets, "hidden_keywords": _hidden_keywords, "contact_bait": _contact_bait,
}


def spam_pages(shared: Path, per_pattern: int = 25, seed: int = 15) -> list[ZhPage]:
    """`per_pattern` pages of each spam pattern in the shell of a real article, the same on every run."""
    rng = random.Random(seed)
    articles = [page for page in real_pages(shared) if page.answer and page.kind == "article"]
    shells = [page for page in articles if _shell(page, "", "") is not None]
    pages = []
    for pattern, build in SPAM_PATTERNS.items():
        for index in range(per_pattern):
            shell = shells[(index * 7 + len(pattern)) % len(shells)]
            title, main_html = build(rng, _sentences(shell) or ["这是一条新闻。"])
            name = f"spam/{pattern}/{index}"
            pages.append(ZhPage(name, f"spam:{pattern}", f"http://{rng.randint(100, 99999)}.example.com/{index}.html",
                                _shell(shell, title, main_html)))
    return pages
