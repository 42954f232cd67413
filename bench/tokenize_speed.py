"""Tokenization throughput on the reference text in shared/data/text: SentencePiece encoding on one core, and the
whole `tokenize` pipeline on one DirectRunner worker. Also trains the tokenizer it measures and prints its tokens
per character on held-out English and Chinese text.

    python bench/tokenize_speed.py [--data ../shared/data/text] [--vocab-size 32000] [--copies 10]
                                   [--sample-chars N] [--language-share zh=0.3]

Training text (one copy) and pipeline input (`--copies` copies with distinct ids) are the English web, Wikipedia
and book files plus the Simplified-Chinese Wikipedia dev set, cut into documents of 20 lines. en_pud, zh_pud and
the zh_gsdsimp test set are held out for tokens per character.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from ccrefine.pipelines.cli import run_command
from ccrefine.pipelines.outputs import write_success
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, to_row
from ccrefine.transforms.tokens.encoding import DocumentTokenizer

TRAINING_FILES = {
    "en": ["en_ewt_web.dev.txt", "en_ewt_web.test.txt", "wikitext2.valid.tokens.txt", "wikitext2.test.tokens.txt",
           "tinyshakespeare.txt", "gutenberg_972_devils_dictionary.txt"],
    "zh": ["zh_gsdsimp_wikipedia.dev.txt"],
}
HELD_OUT = {"en_pud": "en_pud_news_wiki.txt", "zh_pud (Traditional)": "zh_pud_news_wiki.txt",
            "zh_gsdsimp.test": "zh_gsdsimp_wikipedia.test.txt"}
LINES_PER_DOCUMENT = 20
MIN_ENCODE_SECONDS = 3.0


def documents(data: Path, lang: str) -> list[tuple[str, str]]:
    found = []
    for name in TRAINING_FILES[lang]:
        lines = [line for line in (data / name).read_text(encoding="utf-8").split("\n") if line.strip()]
        for start in range(0, len(lines), LINES_PER_DOCUMENT):
            found.append((f"{name}:{start}", "\n".join(lines[start : start + LINES_PER_DOCUMENT])))
    return found


def write_corpus(folder: Path, data: Path, copies: int) -> None:
    """A complete corpus output folder (documents/lang=<code>/part-*.parquet, stats.json, _SUCCESS) of `copies`
    copies of the training text."""
    written = {}
    for lang in TRAINING_FILES:
        rows = [to_row(Document(f"{doc_id}#{copy}", "", "", "", text, lang=lang))
                for copy in range(copies) for doc_id, text in documents(data, lang)]
        path = folder / "documents" / f"lang={lang}" / "part-00000-of-00001.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path)
        written[lang] = len(rows)
    (folder / "stats.json").write_text(json.dumps({"documents_by_language": written}))
    write_success(str(folder), "stats.json")  # readers refuse an output folder without it


def command(argv: list[str]) -> None:
    if run_command(argv) != 0:
        raise SystemExit(f"{argv[0]} failed")


def encode_throughput(tokenizer: DocumentTokenizer, texts: list[str]) -> tuple[float, float]:
    """(tokens/s, characters/s) of encoding on this thread, repeated for at least MIN_ENCODE_SECONDS."""
    tokens = characters = 0
    started = time.perf_counter()
    while time.perf_counter() - started < MIN_ENCODE_SECONDS:
        for text in texts:
            tokens += len(tokenizer.encode(text))
            characters += len(text)
    elapsed = time.perf_counter() - started
    return tokens / elapsed, characters / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "text")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--copies", type=int, default=10, help="copies of the text the pipeline tokenizes")
    parser.add_argument("--sample-chars", type=int, default=100_000_000, help="train-tokenizer's sample size")
    parser.add_argument("--language-share", action="append", default=[], help="passed to train-tokenizer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccrefine-tokenize-bench-") as work:
        run(args, Path(work))


def run(args, work: Path) -> None:
    write_corpus(work / "train", args.data, copies=1)
    write_corpus(work / "input", args.data, copies=args.copies)

    started = time.perf_counter()
    evals = [f"--eval-text={label}={args.data / name}" for label, name in HELD_OUT.items()]
    shares = [f"--language-share={share}" for share in args.language_share]
    command(["train-tokenizer", "--input", str(work / "train"), "--output", str(work / "tokenizer"),
             "--vocab-size", str(args.vocab_size), "--sample-chars", str(args.sample_chars), *shares, *evals])
    print(f"training: {time.perf_counter() - started:.1f} s")

    tokenizer = DocumentTokenizer((work / "tokenizer" / "tokenizer.model").read_bytes())
    for lang in TRAINING_FILES:
        tokens_per_s, chars_per_s = encode_throughput(tokenizer, [text for _, text in documents(args.data, lang)])
        print(f"encode, one thread, {lang}: {tokens_per_s:,.0f} tokens/s ({chars_per_s:,.0f} characters/s)")

    started = time.perf_counter()
    command(["tokenize", "--input", str(work / "input"), "--output", str(work / "shards"),
             "--tokenizer", str(work / "tokenizer"), "--direct_running_mode", "in_memory", "--direct_num_workers", "1"])
    elapsed = time.perf_counter() - started
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    tokens = sum(shard["tokens"] for shard in manifest["shards"])
    print(f"tokenize pipeline, one worker: {tokens:,} tokens in {elapsed:.1f} s = {tokens / elapsed:,.0f} tokens/s "
          f"(read, encode, group, write, verify; {len(manifest['shards'])} shards)")


if __name__ == "__main__":
    main()
