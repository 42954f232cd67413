"""Bad configuration and input files through the real `ccrefine` command line (issue 17): each case writes a
faulty recipe, train config, manifest, DeepSpeed JSON or stats.json into a scratch folder, runs `ccrefine ...` as
a subprocess (address space capped at 4 GiB, so a blow-up fails instead of swapping) and records the exit code,
the message, whether a traceback was printed and the child's peak RSS. Prints the Markdown table of
bench/RESULTS.md, "Reliability: bad configuration and inputs (issue 17)".

    python bench/cli_faults.py [--jobs 2] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDRESS_SPACE_LIMIT = 4 << 30
MESSAGE_CHARS = 150  # of the message shown in the table


@dataclass(frozen=True)
class Case:
    command: str  # corpus (a recipe), train (a train config), train-manifest, report
    name: str
    content: bytes | str | None  # the faulty file; None: the case's path is used as it is
    expected: str  # a part of the message
    set_args: tuple[str, ...] = ()


def bomb(levels: int, key: str, width: int = 9) -> str:
    """The billion-laughs shape under one key: level i is a list of `width` aliases to level i - 1."""
    items = [f"  - &l0 [{', '.join(['lol'] * width)}]"]
    items += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return f"{key}:\n" + "\n".join(items) + "\n"


def stage(name: str, options: str) -> str:
    return f"stages:\n  - {name}: {options}\n"


GZIP = gzip.compress(b"WARC/1.0\r\n")
RECIPES = [
    ("missing file", None, "does not exist; check the path"),
    ("a folder", "<folder>", "is a folder; give the path of the file itself"),
    ("unknown preset name", "<preset>", "no preset recipe 'refinedwb'; presets:"),
    ("empty file", "", "is empty"),
    ("only whitespace", "  \n\n", "is empty"),
    ("binary (gzip) file", GZIP, "is a binary file, not text"),
    ("Latin-1 bytes", "name: caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
    ("2 MiB file", "# x\n" * 600_000, "is larger than 1 MiB"),
    ("/dev/null", "</dev/null>", "is not a regular file"),
    ("unclosed bracket", "stages: [extract_text\n", "not valid YAML"),
    ("tab indentation", "stages:\n\t- extract_text\n", "found character '\\t' that cannot start any token"),
    ("control character", "name: a\x07b\n", "unacceptable character #x0007"),
    ("two YAML documents", "name: a\n---\nname: b\n", "expected a single document"),
    ("duplicate anchor use before definition", "name: *a\n", "found undefined alias 'a'"),
    ("!!python/object/apply tag", "name: !!python/object/apply:os.system ['true']\n", "the tag '!!python/object"),
    ("!!python/name tag", "name: !!python/name:os.system\n", "the tag '!!python/name:os.system'"),
    ("custom !tag", "name: !mine x\n", "the tag '!mine' is not allowed"),
    ("!!binary tag", "name: !!binary aGk=\n", "the tag '!!binary' is not allowed"),
    ("!!set tag", "name: !!set {a, b}\n", "the tag '!!set' is not allowed"),
    ("alias bomb, 6 levels, in name", bomb(6, "name"), "aliases (*name) expand the document beyond"),
    ("alias bomb, 9 levels (~600 bytes), in name", bomb(9, "name"), "aliases (*name) expand the document beyond"),
    ("alias bomb, 12 levels", bomb(12, "name"), "aliases (*name) expand the document beyond"),
    ("alias bomb in a stage option", "stages:\n  - identify_language:\n    " + bomb(8, "languages").replace(
        "\n", "\n    "), "aliases (*name) expand the document beyond"),
    ("small alias expansion (3 levels) in name", bomb(3, "name"), "name must be a non-empty string"),
    ("cyclic alias", "name: &a [*a]\n", "an alias refers to a value that contains it"),
    ("nesting 500 deep", "name: " + "[" * 500 + "]" * 500, "nested deeper than 64 levels"),
    ("5000-digit integer", "read: {max_payload_bytes: " + "9" * 5000 + "}\n", "a value cannot be read"),
    ("impossible date", "name: 2024-13-45\n", "a value cannot be read (month must be in 1..12)"),
    ("a list, not a mapping", "- extract_text\n", "a recipe is a mapping"),
    ("a scalar, not a mapping", "refinedweb\n", "a recipe is a mapping"),
    ("only a comment", "# nothing\n", "a recipe is a mapping"),
    ("unknown top-level key", "colour: blue\n", "unknown key(s) colour"),
    ("a key written twice", "name: a\nname: b\n", "the key 'name' appears twice"),
    ("name is a list", "name: [a]\n", "name must be a non-empty string"),
    ("stages is a mapping", "stages: {extract_text: {}}\n", "`stages` must be a list"),
    ("unknown stage", stage("dedup_everything", "{}"), "unknown stage 'dedup_everything'"),
    ("stage entry with two names", "stages:\n  - {extract_text: {}, filter_c4: {}}\n", "write each stage as"),
    ("options are a list", stage("extract_text", "[1]"), "expected a mapping of options"),
    ("misspelt option", stage("identify_language", "{treshold: 0.5}"), "unknown key(s) treshold"),
    ("threshold is a string", stage("identify_language", "{threshold: high}"), "threshold: expected a number"),
    ("threshold 1.7", stage("identify_language", "{threshold: 1.7}"), "threshold must be between 0 and 1"),
    ("threshold .nan", stage("identify_language", "{threshold: .nan}"), "must be a finite number, got nan"),
    ("languages a string", stage("identify_language", "{languages: en}"), "write ['en']"),
    ("languages empty", stage("identify_language", "{languages: []}"), "languages must name at least one code"),
    ("top_k 0", stage("identify_language", "{top_k: 0}"), "top_k must be at least 1"),
    ("timeout_s .nan", stage("extract_text", "{timeout_s: .nan}"), "timeout_s: must be a finite number, got nan"),
    ("timeout_s .inf", stage("extract_text", "{timeout_s: .inf}"), "timeout_s: must be a finite number, got inf"),
    ("timeout_s true", stage("extract_text", "{timeout_s: true}"), "timeout_s: expected a number, got True"),
    ("timeout_s -1", stage("extract_text", "{timeout_s: -1}"), "timeout_s must be positive"),
    ("min_mean_word_length .nan", stage("filter_quality", "{min_mean_word_length: .nan}"),
     "min_mean_word_length: must be a finite number, got nan"),
    ("min_stop_words -3", stage("filter_quality", "{min_stop_words: -3}"), "min_stop_words must be >= 0, got -3"),
    ("min_words 1.5", stage("filter_quality", "{min_words: 1.5}"), "min_words: expected an integer"),
    ("max_words below min_words", stage("filter_quality", "{min_words: 100, max_words: 5}"),
     "need 0 <= min_words <= max_words"),
    ("counting: spacy", stage("filter_quality", "{counting: spacy}"), "counting must be 'paper'"),
    ("n-gram fraction .inf", stage("filter_repetition", "{max_top_ngram_char_fraction: {'2': .inf}}"),
     "max_top_ngram_char_fraction.2: must be a finite number"),
    ("n-gram key 'two'", stage("filter_repetition", "{max_top_ngram_char_fraction: {two: 0.2}}"),
     "keys are n-gram sizes"),
    ("fraction 1.5", stage("correct_lines", "{max_removed_words_fraction: 1.5}"), "must be between 0 and 1"),
    ("max_payload_bytes -5", "read: {max_payload_bytes: -5}\n", "max_payload_bytes must be positive"),
    ("max_payload_bytes .inf", "read: {max_payload_bytes: .inf}\n", "max_payload_bytes: expected an integer"),
    ("missing blocklist", stage("filter_urls", "{blocklists: [<scratch>/ut1/adult/domains]}"), "does not exist"),
    ("blocklist is a folder", stage("filter_urls", "{blocklists: [<scratch>]}"), "is not a file"),
    ("blocklist a single string", stage("filter_urls", "{blocklists: /data/ut1}"), "expected a list"),
    ("missing banned-words file", stage("filter_urls", "{banned_words_file: <scratch>/words.txt}"),
     "banned_words_file: '"),
    ("soft_banned_threshold 0", stage("filter_urls", "{soft_banned_threshold: 0}"), "soft_banned_threshold must be"),
    ("allow_domains with a URL", stage("filter_urls", "{allow_domains: ['https://a.org/x']}"), "bare domains"),
    ("missing KenLM model", stage("score_perplexity", "{models: {en: <scratch>/en.arpa}}"), "does not exist"),
    ("missing classifier model", stage("classify_quality", "{model_path: <scratch>/q.bin}"), "does not exist"),
    ("classifier without model", stage("classify_quality", "{}"), "model_path is required"),
    ("missing fastText model", stage("identify_language", "{model_path: <scratch>/lid.bin}"), "does not exist"),
    ("max_hits -1", stage("redact_pii", "{max_hits: -1}"), "max_hits must be >= 0"),
]

TRAIN = [
    ("missing file", None, "does not exist; check the path"),
    ("a folder", "<folder>", "is a folder"),
    ("empty file", "", "is empty"),
    ("binary file", GZIP, "is a binary file, not text"),
    ("Latin-1 bytes", "output: caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
    ("YAML syntax error", "train: {steps: 3\n", "not valid YAML"),
    ("!!python/object/apply tag", "output: !!python/object/apply:os.system ['true']\n", "the tag '!!python/object"),
    ("alias bomb, 6 levels, in output", bomb(6, "output"), "aliases (*name) expand the document beyond"),
    ("alias bomb, 9 levels, in output", bomb(9, "output"), "aliases (*name) expand the document beyond"),
    ("a list, not a mapping", "- a\n", "expected a mapping of sections"),
    ("unknown section", "<base>trainer: {}\n", "unknown key(s) trainer"),
    ("misspelt key", "<base>train: {stpes: 3}\n", "train: unknown key(s) stpes"),
    ("steps: ten", "<base>train: {steps: ten}\n", "train.steps: expected an integer"),
    ("steps: true", "<base>train: {steps: true}\n", "train.steps: expected a number, got True"),
    ("steps: 0", "<base>train: {steps: 0}\n", "train.steps must be at least 1"),
    ("lr .inf", "<base>optimizer: {lr: .inf}\n", "optimizer.lr: must be a finite number, got inf"),
    ("lr .nan", "<base>optimizer: {lr: .nan}\n", "optimizer.lr: must be a finite number, got nan"),
    ("eps .inf", "<base>optimizer: {eps: .inf}\n", "optimizer.eps: must be a finite number, got inf"),
    ("lr 0", "<base>optimizer: {lr: 0}\n", "optimizer.lr and eps must be positive"),
    ("betas of one value", "<base>optimizer: {betas: [0.9]}\n", "expected a list of 2 values"),
    ("betas 1.0", "<base>optimizer: {betas: [0.9, 1.0]}\n", "optimizer.betas must be in [0, 1)"),
    ("precision fp16", "<base>train: {precision: fp16}\n", "must be one of auto, bf16, fp32"),
    ("zero_stage 4", "<base>train: {zero_stage: 4}\n", "zero_stage must be 0, 1, 2 or 3"),
    ("grad_clip .nan", "<base>train: {grad_clip: .nan}\n", "train.grad_clip: must be a finite number"),
    ("total_steps 0", "<base>schedule: {total_steps: 0}\n", "schedule.total_steps must be at least 1"),
    ("warmup beyond the steps", "<base>schedule: {warmup_steps: 50}\ntrain: {steps: 10}\n", "must be below"),
    ("min_lr_ratio .inf", "<base>schedule: {min_lr_ratio: .inf}\n", "must be a finite number"),
    ("spike sigma .inf", "<base>spike_guard: {sigma: .inf}\n", "spike_guard.sigma: must be a finite number"),
    ("model preset llama-13b", "<base>model: {preset: llama-13b}\n", "preset 'llama-13b' is not a preset"),
    ("unknown model override", "<base>model: {overrides: {n_layer: 2}}\n", "unknown ModelConfig keys"),
    ("deepspeed: 5", "<base>deepspeed: 5\n", "deepspeed: expected a mapping or a string"),
    ("no output", "data: {manifest: m.json}\n", "output (the run folder) is required"),
    ("--set without =", "<base>", "expected KEY=VALUE", ("--set", "train")),
    ("--set .inf", "<base>", "optimizer.lr: must be a finite number", ("--set", "optimizer.lr=.inf")),
    ("--set with a Python tag", "<base>", "the tag '!!python/name:os.system'",
     ("--set", "optimizer.lr=!!python/name:os.system")),
    ("--set alias bomb", "<base>", "undefined alias", ("--set", "output=*a")),
    ("a section written twice", "<base>train: {steps: 5}\ntrain: {steps: 6}\n", "the key 'train' appears twice"),
]

MANIFEST_BASE = {"format": "ccrefine-token-shards", "dtype": "uint16", "eod_id": 2, "tokenizer": {"vocab_size": 64},
                 "sources": {}}
MANIFESTS = [
    ("manifest missing", None, "does not exist"),
    ("manifest is a folder", "<folder>", "is a folder"),
    ("manifest binary", GZIP, "is a binary file"),
    ("manifest empty", "", "is empty"),
    ("manifest truncated JSON", '{"format": "ccrefine-token-shards", "shards": [', "not valid JSON"),
    ("manifest is a list", "[]", "expected a mapping"),
    ("manifest of another format", json.dumps({"format": "webdataset"}), "is not a token shard manifest"),
    ("thin manifest (no shards)", json.dumps({**MANIFEST_BASE}), "the key 'shards' is missing"),
    ("shard entry without path", json.dumps({**MANIFEST_BASE, "shards": [{"split": "train"}]}),
     "shards[0]: the key 'path' is missing"),
    ("shards listed but missing", json.dumps({**MANIFEST_BASE, "shards": [
        {"path": "a.bin", "source": "s", "split": "train", "documents": 1, "tokens": 3}]}), "missing"),
    ("DeepSpeed JSON missing", "<deepspeed>", "does not exist"),
    ("DeepSpeed JSON invalid", "<deepspeed>{\"zero_optimization\": ", "not valid JSON"),
    ("DeepSpeed JSON a list", "<deepspeed>[1, 2]", "expected a mapping"),
]

STATS = [
    ("run folder without stats.json", None, "has no stats.json"),
    ("stats.json binary", GZIP, "is a binary file"),
    ("stats.json truncated", '{"records_in": 3, ', "not valid JSON"),
    ("stats.json a list", "[1, 2]", "expected a mapping"),
    ("stats.json a folder", "<folder>", "is a folder"),
    ("recipe.yaml alias bomb", "<recipe>" + bomb(9, "name"), "aliases (*name) expand the document beyond"),
]


def cases() -> list[Case]:
    return ([Case("corpus", *row) for row in RECIPES] + [Case("train", *row) for row in TRAIN]
            + [Case("train-manifest", *row) for row in MANIFESTS] + [Case("report", *row) for row in STATS])


def prepare(case: Case, scratch: Path) -> list[str]:
    """Writes the case's files under `scratch`; returns the ccrefine arguments."""
    content = case.content
    if isinstance(content, str):
        content = content.replace("<scratch>", str(scratch))
    faulty = scratch / ("stats.json" if case.command == "report" else "file")

    def place(data) -> Path:
        if data == "<folder>":
            faulty.mkdir()
        elif data == "</dev/null>":
            return Path("/dev/null")
        elif data is not None:
            faulty.write_bytes(data if isinstance(data, bytes) else data.encode())
        return faulty

    base = f"output: {scratch / 'run'}\ndata: {{manifest: {scratch / 'manifest.json'}}}\n"
    if case.command == "corpus":
        recipe = "refinedwb" if content == "<preset>" else str(place(content))
        return ["corpus", "--input", str(scratch / "in.warc.gz"), "--output", str(scratch / "out"),
                "--recipe", recipe]
    if case.command == "train":
        if isinstance(content, str) and content.startswith("<base>"):
            content = base + content.removeprefix("<base>")
        return ["train", "--config", str(place(content)), *case.set_args]
    if case.command == "train-manifest":
        config = scratch / "train.yaml"
        if isinstance(content, str) and content.startswith("<deepspeed>"):
            json_text = content.removeprefix("<deepspeed>")
            if json_text:
                (scratch / "ds.json").write_text(json_text)
            config.write_text(f"output: {scratch / 'run'}\n"
                              f"data: {{manifest: {scratch / 'manifest.json'}, seq_len: 32}}\n"
                              "model: {preset: llama-tiny}\ntrain: {micro_batch_size: 2}\n"
                              f"deepspeed: {scratch / 'ds.json'}\n")
            _write_good_manifest(scratch)
        else:
            manifest = place(content)
            config.write_text(f"output: {scratch / 'run'}\ndata: {{manifest: {manifest}}}\nmodel: {{preset: "
                              "llama-tiny}\n")
        return ["train", "--config", str(config)]
    run = scratch / "corpus-run"
    run.mkdir()
    faulty = run / "stats.json"
    if isinstance(content, str) and content.startswith("<recipe>"):
        (run / "recipe.yaml").write_text(content.removeprefix("<recipe>"))
        faulty.write_text(json.dumps({"recipe": "x", "records_in": 0, "documents_out": 0}))
    else:
        place(content)
    return ["report", str(run)]


def _write_good_manifest(scratch: Path) -> None:
    """A valid token-shard folder (written as `ccrefine tokenize` writes it), so that only the DeepSpeed file is bad."""
    import numpy as np
    from ccrefine.transforms.tokens.shards import build_manifest, write_token_shard

    documents = [np.append(4 + np.arange(40) % 60, 2).astype(np.uint16) for _ in range(50)]
    shards = []
    for split in ("train", "val"):
        with open(scratch / f"{split}.bin", "wb") as bin_file, open(scratch / f"{split}.idx", "wb") as idx_file:
            stats = write_token_shard(bin_file, idx_file, documents, np.dtype("<u2"))
        shards.append({"path": f"{split}.bin", "split": split, "source": "s", **dataclasses.asdict(stats)})
    settings = {"tokenizer": {"path": "tokenizer.model", "sha256": "-", "vocab_size": 64, "special_ids": {}},
                "dtype": "uint16", "eod_id": 2}
    manifest = build_manifest(shards, {"s": {"patterns": ["s"], "files": 1, "weight": 1.0}}, {}, settings)
    (scratch / "manifest.json").write_text(json.dumps(manifest))


def run_case(case: Case) -> dict:
    with tempfile.TemporaryDirectory(prefix="cli-fault-") as folder:
        arguments = prepare(case, Path(folder))
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(Path(folder) / "stderr.txt", "w+") as stderr, open(os.devnull, "w") as devnull:
            process = subprocess.Popen(  # python -m ccrefine.pipelines.cli is what the `ccrefine` entry point runs
                [sys.executable, "-m", "ccrefine.pipelines.cli", *arguments], cwd=folder, env=environment,
                stdout=devnull, stderr=stderr,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT,) * 2))
            _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak RSS
            process.returncode = os.waitstatus_to_exitcode(status)
            stderr.seek(0)
            text = stderr.read().replace(folder, "TMP")  # the scratch folder's random name
    errors = [line for line in text.splitlines() if line.startswith("ccrefine")]
    message = errors[-1] if errors else (text.strip().splitlines() or [""])[-1]
    return {"case": case, "code": process.returncode, "message": message, "traceback": "Traceback" in text,
            "lines": len(errors), "chars": len(text), "found": case.expected in text, "rss_mib": usage.ru_maxrss >> 10}


def table(results: list[dict]) -> str:
    rows = ["| # | command | bad input | expected (exit 2, one line containing) | observed message | exit | peak RSS "
            "MiB | as expected |", "|---|---|---|---|---|---|---|---|"]
    for number, result in enumerate(results, 1):
        case = result["case"]
        message = result["message"].replace("|", "\\|")
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS] + "…"
        clean = result["code"] == 2 and result["lines"] == 1 and not result["traceback"] and result["found"]
        expected = case.expected.replace("|", "\\|")
        rows.append(f"| {number} | {case.command} | {case.name} | `{expected}` | {message} | {result['code']} | "
                    f"{result['rss_mib']} | {'yes' if clean else 'NO'} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="cases run at the same time (default: 2)")
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    selected = [case for case in cases() if not args.only or args.only in case.name]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_case, selected))
    print(table(results))
    clean = sum(r["code"] == 2 and r["lines"] == 1 and not r["traceback"] and r["found"] for r in results)
    print(f"\n{clean} of {len(results)} cases: exit code 2, one message line with the expected text, no traceback; "
          f"longest stderr {max(r['chars'] for r in results):,} characters, highest peak RSS "
          f"{max(r['rss_mib'] for r in results)} MiB")


if __name__ == "__main__":
    main()
