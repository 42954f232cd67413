"""Repeated ids cost what distinct documents cost: peak RSS of `ccrefine dedup` (default runner: multi-processing
DirectRunner, one worker per core) on

1. N distinct documents (the dedup_scale corpus of N documents, 500 words),
2. N copies of one record of that corpus (same id, same text: one document is kept),
3. the same corpus passed twice (`--input A --input B`, B a copy of A: every id twice; the kept set must equal 1's).

    python bench/dedup_repeats.py [--size 10000] [--workdir /tmp/dedup-scale]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ccrefine.transforms.dedup.sources import read_documents, write_documents_file  # noqa: E402
from dedup_scale import make_corpus, run_pipeline  # noqa: E402


def kept_rows(output: Path) -> list[tuple[str, str]]:
    tables = [pq.read_table(path, columns=["id", "text"]) for path in (output / "documents").rglob("*.parquet")]
    return sorted((row["id"], row["text"]) for table in tables for row in table.to_pylist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--workdir", default="/tmp/dedup-scale")
    args = parser.parse_args()
    folder = Path(args.workdir) / f"n{args.size}-w500"
    make_corpus(args.size, folder / "corpus", 500)
    first = sorted((folder / "corpus" / "documents").rglob("*.parquet"))[0]
    record = next(read_documents(str(first)))[0]
    copies = folder / "copies" / "documents" / "lang=en"
    copies.mkdir(parents=True, exist_ok=True)
    write_documents_file(str(copies / "copies.parquet"), [record] * args.size)
    twin = folder / "twin"
    if not twin.exists():
        shutil.copytree(folder / "corpus", twin)

    print("| input | documents read | kept | peak RSS | wall time |\n|---|---|---|---|---|")
    runs = {"distinct": [folder / "corpus"], "copies": [folder / "copies"], "twice": [folder / "corpus", twin]}
    kept = {}
    for name, inputs in runs.items():
        output = folder / f"refined-{name}"
        shutil.rmtree(output, ignore_errors=True)
        result = run_pipeline(inputs, output, "multi_processing", 2, [])
        kept[name] = kept_rows(output)
        stats = result["stats"]
        print(f"| {name} | {stats['records_in']:,} | {stats['documents_out']:,} | {result['peak_rss_gib']:.2f} GiB | "
              f"{result['wall_s']:,.0f} s |", flush=True)
    print(f"\nthe corpus passed twice keeps the same documents as once: {kept['twice'] == kept['distinct']}; "
          f"{args.size:,} copies of one record keep {len(kept['copies'])}")


if __name__ == "__main__":
    main()
