"""A grouped bar chart as a standalone SVG file (no plotting library: matplotlib is not a dependency), and the
label fitting every chart of eval/ uses: SVG text is not laid out until a browser draws it, so labels are measured
by an estimate of their width, and one that does not fit loses its end to an ellipsis, keeping the full text as a
tooltip (never its start, which the SVG edge would otherwise cut)."""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Sequence

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
CHAR_PX = 7.6  # one character at 12px, on the wide side: headless chromium drew the report's labels at 6.2-7.4
WIDE_CHAR_PX = 12.5  # full-width characters (Chinese, Japanese, Korean): one em, and a little
ELLIPSIS = "\u2026"


def text_width(text: str, font_px: float = 12) -> float:
    """An upper estimate of `text`'s width in pixels."""
    pixels = sum(WIDE_CHAR_PX if unicodedata.east_asian_width(ch) in "WF" else CHAR_PX for ch in text)
    return pixels * font_px / 12


def fit_text(text: str, max_width: float, font_px: float = 12) -> str:
    """`text` if it fits in `max_width` pixels, else its longest beginning that fits with an ellipsis."""
    if text_width(text, font_px) <= max_width:
        return text
    room = max_width - text_width(ELLIPSIS, font_px)
    end = 0
    while end < len(text) and text_width(text[:end + 1], font_px) <= room:
        end += 1
    return text[:end] + ELLIPSIS


def svg_label(text: str, max_width: float, attributes: str, font_px: float = 12) -> str:
    """An SVG <text> holding `text` fitted to `max_width`; a shortened label carries the whole text as its
    tooltip. `attributes` places it (x, y, text-anchor, ...)."""
    shown = fit_text(text, max_width, font_px)
    tooltip = f"<title>{html.escape(text)}</title>" if shown != text else ""
    return f"<text {attributes}>{tooltip}{html.escape(shown)}</text>"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value: a round top for the axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def grouped_bar_chart(categories: Sequence[str], series: dict[str, Sequence[float | None]], title: str,
                      y_label: str, width: int = 760, height: int = 420) -> str:
    """One group of bars per category, one bar per series (None leaves a gap), value printed on each bar."""
    left, right, top, bottom = 70, 20, 50, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None and math.isfinite(v)]
    y_max = nice_ceiling(max(values, default=1.0))
    group_w = plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    escape = html.escape
    title_px = max(11.0, min(16.0, 16 * (width - 20) / text_width(title, 16)))  # a long title shrinks first
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='12'>",
             f"<rect width='{width}' height='{height}' fill='white'/>",
             svg_label(title, width - 20, f"x='{width / 2}' y='24' text-anchor='middle' font-size='{title_px:.1f}'",
                       title_px),
             svg_label(y_label, plot_h, f"transform='translate(18 {top + plot_h / 2}) rotate(-90)' "
                       "text-anchor='middle'")]
    for tick in range(6):
        value = y_max * tick / 5
        y = top + plot_h - plot_h * tick / 5
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{value:g}</text>")
    for index, category in enumerate(categories):
        x0 = left + index * group_w + group_w * 0.1
        for number, (name, vs) in enumerate(series.items()):
            value = vs[index]
            if value is None or not math.isfinite(value):
                continue
            bar_h = plot_h * value / y_max
            x, y = x0 + number * bar_w, top + plot_h - bar_h
            parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar_w * 0.92:.1f}' height='{bar_h:.1f}' "
                         f"fill='{PALETTE[number % len(PALETTE)]}'><title>{escape(name)} {escape(category)}: "
                         f"{value:.4f}</title></rect>"
                         f"<text x='{x + bar_w * 0.46:.1f}' y='{y - 3:.1f}' text-anchor='middle' font-size='10'>"
                         f"{value:.3f}</text>")
        parts.append(svg_label(category, group_w - 4, f"x='{left + (index + 0.5) * group_w:.1f}' "
                               f"y='{top + plot_h + 18}' text-anchor='middle'"))
    parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' stroke='black'/>")
    for number, name in enumerate(series):
        x = left + number * 150
        parts.append(f"<rect x='{x}' y='{height - 30}' width='12' height='12' "
                     f"fill='{PALETTE[number % len(PALETTE)]}'/>"
                     + svg_label(name, 128, f"x='{x + 18}' y='{height - 20}'"))
    parts.append("</svg>")
    return "\n".join(parts)
