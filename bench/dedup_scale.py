"""Speed and scale of `ccrefine dedup`.

1. Signature throughput on ~3 KB documents (500 real words), normalisation and shingling included, one process:
   the vectorised path for both presets, and datasketch's own MinHash.bulk over the same shingles for comparison.
2. The whole pipeline (MinHash -> substrings -> URLs, Parquet in and out) on synthetic corpora of N documents:
   random real sentences with 10% of words replaced; 10% of documents are near-duplicate clusters of 2-12 members
   (half of them chains, each member an edit of the previous), 2% carry a planted 60-word span, 1% share a URL.
   Runs `ccrefine dedup` in a child process on the in-memory DirectRunner (one worker, so peak RSS is one process)
   and reports wall time, peak RSS, the funnel and the connected-component rounds.

    python bench/dedup_scale.py --sizes 10000 100000 [--workdir /tmp/dedup-scale]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ccrefine.transforms.dedup.minhash import SCHEME, MinHasher, MinHashOptions, shingle_hash32, shingle_tokens  # noqa: E402
from ccrefine.transforms.dedup.sources import write_documents_file  # noqa: E402
from ccrefine.transforms.records import Document  # noqa: E402
from dedup_corpus import EDITS, edit, english_lines, english_words, synthetic_document  # noqa: E402

RUN_DEDUP = "import sys; from ccrefine.pipelines.cli import run_command; sys.exit(run_command(sys.argv[1:]))"


def signature_throughput(texts: list[str], out: list[str]) -> None:
    from datasketch import MinHash

    out.append("| path | hashes | docs/s, one core |")
    out.append("|---|---|---|")
    for preset, count in (("fineweb", len(texts)), ("refinedweb", 200)):
        hasher = MinHasher(MinHashOptions.preset(preset))
        start = time.perf_counter()
        for text in texts[:count]:
            hasher.band_keys(hasher.signature(hasher.shingle_hashes(text, "en")))
        single = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for first in range(0, count, 128):  # what the Sketch step does with each file's row batches
            shingles = hasher.shingle_hashes_many([(text, "en") for text in texts[first : min(count, first + 128)]])
            hasher.band_keys_many(hasher.signatures([hashes for _, hashes in shingles]))
        batched = count / (time.perf_counter() - start)
        out.append(f"| ccrefine, numpy with datasketch affine32 permutations, {preset}, one document per call | "
                   f"{hasher.options.lsh.num_perm} | {single:,.0f} |")
        out.append(f"| ccrefine, same, batches of 128 documents (the pipeline's path), {preset} | "
                   f"{hasher.options.lsh.num_perm} | {batched:,.0f} |")
    sample = texts[:300]
    start = time.perf_counter()
    for text in sample:
        tokens = shingle_tokens(text, "en")
        shingles = [tuple(tokens[i : i + 5]) for i in range(len(tokens) - 4)]
        MinHash.bulk([shingles], num_perm=112, seed=1, hashfunc=shingle_hash32, scheme=SCHEME)
    rate = len(sample) / (time.perf_counter() - start)
    out.append(f"| datasketch MinHash.bulk, same shingles and hash function | 112 | {rate:,.0f} |")


def make_corpus(size: int, folder: Path, words: int, seed: int = 0) -> dict:
    """Write the corpus once; a later run with the same size and seed reuses it (10^6 documents take minutes)."""
    described = folder / "corpus.json"
    if described.exists() and json.loads(described.read_text()).get("seed") == seed:  # the folder names the size
        return json.loads(described.read_text())
    rng = random.Random(seed)
    lines, vocabulary = english_lines(), english_words()[:50_000]
    plant = " ".join(rng.choice(lines) for _ in range(6)).split()[:60]
    documents, clustered = [], 0
    while len(documents) < size:
        index = len(documents)
        text = synthetic_document(lines, vocabulary, rng, words)
        url = f"https://site{index % 5000}.example/page/{index}"
        if rng.random() < 0.02:
            tokens = text.split()
            at = rng.randrange(len(tokens))
            text = " ".join(tokens[:at] + plant + tokens[at:])
        documents.append(Document(f"doc-{index:08d}", url, "2024-05-01T00:00:00Z", "CC-BENCH", text, "en"))
        if rng.random() < 0.1 / 6:  # clusters average about 6 members, so ~10% of documents are clustered
            members, chain, previous = rng.randint(2, 12), rng.random() < 0.5, text.split()
            for _ in range(members - 1):
                if len(documents) >= size:
                    break
                variant = edit(previous if chain else text.split(), rng.choice(EDITS), rng.uniform(0, 0.04),
                               vocabulary, rng)
                previous = variant
                number = len(documents)
                same_url = rng.random() < 0.1
                documents.append(Document(f"doc-{number:08d}", url if same_url else
                                          f"https://mirror{number}.example/copy", "2024-04-01T00:00:00Z",
                                          "CC-BENCH", " ".join(variant), "en"))
                clustered += 1
    target = folder / "documents" / "lang=en"
    target.mkdir(parents=True, exist_ok=True)
    shards = max(1, size // 20_000)
    for shard in range(shards):
        write_documents_file(str(target / f"part-{shard:05d}-of-{shards:05d}.parquet"), documents[shard::shards])
    result = {"documents": len(documents), "clustered_copies": clustered, "seed": seed,
              "bytes": sum(len(d.text.encode()) for d in documents)}
    described.write_text(json.dumps(result))
    return result


def run_pipeline(inputs: list[Path], output: Path, mode: str, workers: int, extra: list[str]) -> dict:
    """Run `ccrefine dedup` in a child process; peak RSS is the largest sum over the child and every process it
    started (the multi-processing runner's SDK workers), sampled twice a second."""
    import psutil

    command = [sys.executable, "-c", RUN_DEDUP, "dedup", *(f"--input={path}" for path in inputs),
               "--output", str(output), "--direct_running_mode", mode, "--direct_num_workers", str(workers), *extra]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=Path(__file__).resolve().parent.parent)
        root, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                processes = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in processes if p.is_running()))
            except psutil.Error:
                pass  # a process ended between listing and reading it
            time.sleep(0.5)
        wall = time.perf_counter() - start
        if child.returncode:
            log.seek(0)
            raise RuntimeError(log.read()[-3000:])
    stats = json.loads((output / "stats.json").read_text())
    return {"wall_s": wall, "peak_rss_gib": peak / 2**30, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--workdir", default="/tmp/dedup-scale")
    parser.add_argument("--words", type=int, default=500, help="words per document (default: 500, ~2.7 KB)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--mode", choices=["in_memory", "multi_processing"], default="multi_processing",
                        help="DirectRunner running mode (default: multi_processing, what `ccrefine dedup` uses)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner workers (default: 2, one per core)")
    args = parser.parse_args()
    out: list[str] = []
    if not args.skip_throughput:
        rng = random.Random(1)
        lines, vocabulary = english_lines(), english_words()[:50_000]
        texts = [synthetic_document(lines, vocabulary, rng) for _ in range(3000)]
        out.append(f"Signature throughput, {sum(map(len, texts)) / len(texts):,.0f} characters per document:\n")
        signature_throughput(texts, out)
        print("\n".join(out), flush=True)
        out = []
    out.append("\n| documents | input MB | wall time | peak RSS | minhash removed | "
               "substrings: candidates / docs cut / dropped | urls removed | "
               "CC rounds that changed the graph (nodes changed per round) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        folder = Path(args.workdir) / f"n{size}-w{args.words}"
        described = make_corpus(size, folder / "corpus", args.words)
        result = run_pipeline([folder / "corpus"], folder / "refined", args.mode, args.workers, [])
        stages = {row["stage"]: row for row in result["stats"]["stages"]}
        components = result["stats"]["connected_components"]
        per_round = [count for count in components["nodes_changed_per_round"] if count]
        out.append(
            f"| {described['documents']:,} | {described['bytes'] / 1e6:,.0f} | {result['wall_s']:,.0f} s | "
            f"{result['peak_rss_gib']:.2f} GiB | {stages['dedup_minhash']['dropped'].get('duplicate', 0):,} of "
            f"{described['clustered_copies']:,} planted copies | "
            f"{stages['dedup_substrings'].get('candidates', 0):,} / "
            f"{stages['dedup_substrings'].get('documents_changed', 0):,} / "
            f"{sum(stages['dedup_substrings']['dropped'].values()):,} | "
            f"{stages['dedup_urls']['dropped'].get('duplicate', 0):,} | "
            f"{components['rounds_changed']} ({', '.join(map(str, per_round)) or 'none'}), "
            f"converged: {components['converged']} |"
        )
        print(out[-1], flush=True)
    print("\n".join(out))


if __name__ == "__main__":
    main()
