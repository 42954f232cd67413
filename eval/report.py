"""`ccrefine report RUN_DIR`: one static HTML file describing a corpus run, with no external assets.

Sections: the retention funnel per stage and reason (documents, and characters where known), language
distribution, document lengths after extraction and after filtering, score distributions with the recipe's
thresholds marked, top domains kept and removed, dedup cluster sizes (when a dedup output is given), and
random examples of kept and rejected documents per reason. Every string from the crawl is HTML-escaped;
charts are inline SVG.
"""

from __future__ import annotations

import html
import math
import random
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.dataset as ds
from ccrefine.eval.svg_chart import svg_label, text_width
from ccrefine.pipelines.config_files import read_json, read_yaml, require_mapping

EXAMPLES_PER_REASON = 2
EXAMPLE_CHARS = 600
TOP_DOMAINS = 15
# Scores worth a histogram, with the recipe option that sets their threshold: (stage, option).
THRESHOLDS = {
    "gopher.words": ("filter_quality", "min_words"),
    "gopher.mean_word_length": ("filter_quality", "min_mean_word_length"),
    "gopher.alpha_words_frac": ("filter_quality", "min_alpha_words_fraction"),
    "gopher.dup_line_frac": ("filter_repetition", "max_duplicate_line_fraction"),
    "gopher.top_2gram_char_frac": ("filter_repetition", None),
    "lines.removed_words_frac": ("correct_lines", "max_removed_words_fraction"),
    "fineweb.punctuated_lines_frac": ("filter_fineweb", "min_punctuated_lines_fraction"),
    "ccnet.perplexity": ("score_perplexity", "max_perplexity"),
    "classifier.reference": ("classify_quality", "threshold"),
}


def _read_rows(folder: Path) -> list[dict]:
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return []
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()


def _domain(url: str) -> str:
    host = urlsplit(url or "").hostname or ""
    return host.removeprefix("www.")


def _threshold(recipe: dict, stage: str, option: str | None) -> float | None:
    if option is None:
        return None
    for entry in recipe.get("stages", []):
        if stage in entry and isinstance(entry[stage], dict):
            value = entry[stage].get(option)
            return float(value) if isinstance(value, int | float) else None
    return None


# ---- charts ---------------------------------------------------------------------------------------------------

def bar_chart(pairs: list[tuple[str, float]], title: str, width: int = 640) -> str:
    """Horizontal bars, one per (label, value); the label column is as wide as the longest label, up to half the
    chart (longer labels end in an ellipsis, with the whole label as a tooltip)."""
    if not pairs:
        return f"<p class='empty'>{html.escape(title)}: nothing to show.</p>"
    row, label_room = 22, min(max(text_width(label) for label, _ in pairs), width / 2)
    label_width = label_room + 12
    top = max(value for _, value in pairs) or 1
    bars = []
    for index, (label, value) in enumerate(pairs):
        y = index * row
        length = (width - label_width - 70) * value / top
        bars.append(
            svg_label(label, label_room, f"x='{label_width - 6:.1f}' y='{y + 15}' text-anchor='end'")
            + f"<rect x='{label_width}' y='{y + 3}' width='{length:.1f}' height='{row - 6}' class='bar'/>"
            f"<text x='{label_width + length + 4:.1f}' y='{y + 15}'>{value:,.0f}</text>"
        )
    height = row * len(pairs)
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg role='img' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}'>{''.join(bars)}</svg></figure>")


def histogram(series: dict[str, list[float]], title: str, threshold: float | None = None, bins: int = 20,
              log: bool = False, width: int = 640, height: int = 180) -> str:
    """Overlaid histograms of one or more named series, with an optional threshold line."""
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    if not values:
        return f"<p class='empty'>{html.escape(title)}: no values.</p>"
    scale = (lambda v: math.log10(max(v, 1e-9))) if log else (lambda v: v)
    low, high = min(map(scale, values)), max(map(scale, values))
    if threshold is not None and math.isfinite(threshold):
        low, high = min(low, scale(threshold)), max(high, scale(threshold))
    span = (high - low) or 1.0
    pad = 30
    parts = []
    for index, (name, vs) in enumerate(series.items()):
        counts = Counter(min(bins - 1, int((scale(v) - low) / span * bins)) for v in vs if math.isfinite(v))
        peak = max(counts.values(), default=1)
        for b, count in counts.items():
            x = pad + b * (width - 2 * pad) / bins
            h = (height - 40) * count / peak
            parts.append(f"<rect class='s{index}' x='{x:.1f}' y='{height - 20 - h:.1f}' "
                         f"width='{(width - 2 * pad) / bins - 1:.1f}' height='{h:.1f}'><title>{html.escape(name)}: "
                         f"{count}</title></rect>")
        parts.append(f"<text class='legend s{index}' x='{pad + 160 * index}' y='12'>"
                     f"{html.escape(name)} ({len(vs)})</text>")
    if threshold is not None and math.isfinite(threshold):
        x = pad + (scale(threshold) - low) / span * (width - 2 * pad)
        label = f"threshold {threshold:g}"
        # right of the line, or left of it where the chart's edge would cut the label
        place = f"x='{x + 3:.1f}'" if x + 3 + text_width(label) <= width else f"x='{x - 3:.1f}' text-anchor='end'"
        parts.append(f"<line class='threshold' x1='{x:.1f}' x2='{x:.1f}' y1='16' y2='{height - 20}'/>"
                     + svg_label(label, max(x + 3, width - x - 3), f"{place} y='28'"))
    axis = (f"<text x='{pad}' y='{height - 4}'>{_fmt(low, log)}</text>"
            f"<text x='{width - pad}' y='{height - 4}' text-anchor='end'>{_fmt(high, log)}</text>")
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg role='img' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}'>{''.join(parts)}{axis}</svg></figure>")


def _fmt(value: float, log: bool) -> str:
    return f"{10 ** value:,.0f}" if log else f"{value:,.3g}"


# ---- sections -------------------------------------------------------------------------------------------------

def funnel_section(stats: dict, rejected: list[dict]) -> str:
    rows = []
    chars = Counter()
    for row in rejected:
        chars[(row["stage"], row["reason"])] += (row.get("scores") and dict(row["scores"]).get("extract.chars")) or 0
    for stage in stats.get("stages", []):
        reasons = "".join(
            f"<li>{html.escape(reason)}: {count:,}"
            + (f" ({chars[(stage['stage'], reason)]:,.0f} chars)" if chars[(stage['stage'], reason)] else "")
            + "</li>" for reason, count in stage["dropped"].items())
        rows.append(f"<tr><td>{html.escape(stage['stage'])}</td><td>{stage['in']:,}</td><td>{stage['kept']:,}</td>"
                    f"<td><ul>{reasons or '<li>none</li>'}</ul></td></tr>")
    chart = bar_chart([(s["stage"], s["kept"]) for s in stats.get("stages", [])], "Documents kept after each stage")
    problems = stats.get("problems") or []
    check = ("<p class='ok'>The funnel adds up.</p>" if not problems else
             "<p class='bad'>" + html.escape("; ".join(problems)) + "</p>")
    return (f"<section id='funnel'><h2>Retention funnel</h2>{check}{chart}<table><thead><tr><th>stage</th><th>in</th>"
            f"<th>kept</th><th>dropped by reason</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def languages_section(documents: list[dict]) -> str:
    counts = Counter(row["lang"] or "und" for row in documents)
    return ("<section id='languages'><h2>Languages</h2>"
            + bar_chart(counts.most_common(20), "Kept documents per language") + "</section>")


def lengths_section(documents: list[dict], rejected: list[dict]) -> str:
    after = [float(len(row["text"])) for row in documents]
    before = [dict(r["scores"]).get("extract.chars") for r in [*documents, *rejected] if r.get("scores")]
    before = [v for v in before if v]
    return ("<section id='lengths'><h2>Document length</h2>"
            + histogram({"after extraction": before, "kept": after}, "Characters per document (log scale)", log=True)
            + "</section>")


def scores_section(documents: list[dict], rejected: list[dict], recipe: dict) -> str:
    figures = []
    for key, (stage, option) in THRESHOLDS.items():
        kept = [dict(r["scores"])[key] for r in documents if key in dict(r["scores"] or {})]
        dropped = [dict(r["scores"])[key] for r in rejected if key in dict(r["scores"] or {})]
        if kept or dropped:
            figures.append(histogram({"kept": kept, "rejected": dropped}, key, _threshold(recipe, stage, option),
                                     log=key == "ccnet.perplexity"))
    return "<section id='scores'><h2>Score distributions</h2>" + "".join(figures or [
        "<p class='empty'>No scores.</p>"]) + "</section>"


def domains_section(documents: list[dict], rejected: list[dict]) -> str:
    kept = Counter(_domain(r["url"]) for r in documents)
    removed = Counter(_domain(r["url"]) for r in rejected if r["url"] and r["stage"] != "read")
    return ("<section id='domains'><h2>Top domains</h2><div class='pair'>"
            + bar_chart(kept.most_common(TOP_DOMAINS), "Kept", width=460)
            + bar_chart(removed.most_common(TOP_DOMAINS), "Removed (after reading)", width=460) + "</div></section>")


def dedup_section(dedup_documents: list[dict]) -> str:
    sizes = [dict(r["scores"]).get("dedup.cluster_size") for r in dedup_documents if r.get("scores")]
    sizes = [s for s in sizes if s]
    if not sizes:
        return ("<section id='dedup'><h2>Dedup clusters</h2><p class='empty'>No dedup output given "
                "(pass --dedup DIR).</p></section>")
    counts = Counter(int(s) for s in sizes)
    pairs = [(f"size {size}", count) for size, count in sorted(counts.items())]
    chart = bar_chart(pairs, "Kept documents by cluster size")
    return f"<section id='dedup'><h2>Dedup clusters</h2>{chart}</section>"


def examples_section(kept: list[dict], rejected: list[dict], seed: int, kept_label: str = "kept") -> str:
    """Random `kept` documents (the dedup output's when there is one) and rejected ones per stage and reason."""
    rng = random.Random(seed)
    blocks = []
    for row in rng.sample(kept, min(EXAMPLES_PER_REASON * 2, len(kept))):
        blocks.append(_example(kept_label, row["url"], row["text"]))
    by_reason: dict[tuple[str, str], list[dict]] = {}
    for row in rejected:
        if row.get("excerpt"):
            by_reason.setdefault((row["stage"], row["reason"]), []).append(row)
    for (stage, reason), rows in sorted(by_reason.items()):
        for row in rng.sample(rows, min(EXAMPLES_PER_REASON, len(rows))):
            blocks.append(_example(f"{stage}.{reason}", row["url"], row["excerpt"], row.get("detail") or ""))
    return "<section id='examples'><h2>Examples</h2>" + "".join(blocks) + "</section>"


def _example(label: str, url: str, text: str, detail: str = "") -> str:
    more = f" <span class='detail'>{html.escape(detail)}</span>" if detail else ""
    return (f"<details><summary><b>{html.escape(label)}</b> {html.escape(url or '')}{more}</summary>"
            f"<pre>{html.escape((text or '')[:EXAMPLE_CHARS])}</pre></details>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3rem .5rem;vertical-align:top;text-align:left}
ul{margin:0;padding-left:1.2rem}svg text{font-size:12px;fill:#333}.bar{fill:#4a7fb0}
.s0{fill:#4a7fb0;opacity:.75}.s1{fill:#d0643a;opacity:.6}.legend{font-weight:bold}
.threshold{stroke:#c00;stroke-width:2;stroke-dasharray:4 3}.ok{color:#276b2b}.bad{color:#b00020}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}.detail{color:#777}.pair{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:1rem 0}figcaption{font-weight:bold;margin-bottom:.3rem}.empty{color:#777}
"""


def build_report(run_dir: Path, dedup_dir: Path | None = None, seed: int = 0) -> str:
    stats = require_mapping(read_json(run_dir / "stats.json", "stats"), f"stats {run_dir / 'stats.json'}", {},
                            "point at a `ccrefine corpus` output folder")
    recipe_path = run_dir / "recipe.yaml"
    recipe = read_yaml(recipe_path, "recipe") if recipe_path.exists() else {}
    documents, rejected = _read_rows(run_dir / "documents"), _read_rows(run_dir / "rejected")
    dedup_documents = _read_rows(dedup_dir / "documents") if dedup_dir else []
    dedup_rejected = _read_rows(dedup_dir / "rejected") if dedup_dir else []
    title = f"ccrefine corpus report: {run_dir.name}"
    body = "".join([
        f"<h1>{html.escape(title)}</h1><p>Recipe <b>{html.escape(str(stats.get('recipe', '')))}</b>; "
        f"{stats.get('records_in', 0):,} records read, {stats.get('documents_out', 0):,} documents kept.</p>",
        funnel_section(stats, rejected),
        languages_section(documents),
        lengths_section(documents, rejected),
        scores_section(documents, rejected, recipe),
        domains_section(documents, rejected),
        dedup_section(dedup_documents),
        # after dedup, "kept" is what survived it, and what it removed is shown beside the corpus's rejections
        examples_section(dedup_documents, [*rejected, *dedup_rejected], seed, "kept after dedup") if dedup_dir
        else examples_section(documents, rejected, seed),
    ])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def write_report(run_dir: str, output: str | None = None, dedup_dir: str | None = None) -> Path:
    """Only complete outputs are described (ccrefine.files); the HTML is written whole or not at all."""
    from ccrefine.files import require_complete

    run = Path(run_dir)
    if not (run / "stats.json").exists():
        raise FileNotFoundError(f"{run_dir} has no stats.json: pass the --output folder of `ccrefine corpus`")
    require_complete(run_dir, "report")
    if dedup_dir:
        require_complete(dedup_dir, "--dedup")
    target = Path(output) if output else run / "report.html"
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(build_report(run, Path(dedup_dir) if dedup_dir else None), encoding="utf-8")
    temporary.replace(target)
    return target
