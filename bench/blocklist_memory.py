"""URL blocklist load time, memory and lookup speed on a synthetic 4.6-million-domain UT1-style list (issue 3).

    python bench/blocklist_memory.py [--domains 4600000] [--urls 200000] [--seed 0]

Writes a deterministic list of realistic domains (one a line, like UT1's adult/domains) to a temporary folder,
then measures each structure in a fresh child process, so that one measurement's memory cannot inflate
another's: `UrlLists.load` (the sorted array of 64-bit hashes that `UrlFilterStep.setup` builds) and, for
comparison, a plain Python set of the same domain strings. Memory is the growth of VmRSS (/proc/self/status)
across the load, and of VmHWM (the peak) after resetting it. Lookups are `url_decision` calls on one core:
blocklist plus word rules, half the URLs on listed domains. Prints Markdown table rows for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Weighted roughly like the TLDs of UT1's adult list: mostly .com, then other generic and country TLDs.
TLDS = {
    "com": 50, "net": 8, "org": 4, "info": 3, "xyz": 3, "ru": 4, "de": 3, "fr": 2, "nl": 2, "pl": 2, "it": 2,
    "co.uk": 2, "com.br": 2, "jp": 2, "cn": 2, "top": 2, "online": 1, "site": 1, "club": 1, "biz": 1, "tv": 1,
    "es": 1, "cz": 1, "me": 1, "io": 1, "eu": 1, "be": 1, "ch": 1, "se": 1, "com.au": 1,
}  # fmt: skip
WORDS = (
    "hot sexy live cam cams girl girls babe babes teen mature amateur video videos tube movie movies pic pics "
    "gallery free best top new real wild dream night love date dating chat club bet casino poker slot lucky win "
    "star vip gold pink red black blue city world zone land hub spot place site web online net box media"
).split()
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwxz" for v in "aeiou"] + ["an", "el", "or", "is", "um", "ex"]
SUBDOMAINS = ["m", "en", "de", "fr", "cdn", "img", "pics", "video", "free", "my"]


def synthetic_domains(count: int, seed: int) -> list[str]:
    """`count` distinct domains: one to three words or made-up names, sometimes digits or a subdomain."""
    rng = np.random.default_rng(seed)
    tlds, weights = list(TLDS), np.array(list(TLDS.values()), dtype=float)
    domains: dict[str, None] = {}
    while len(domains) < count:
        batch = count - len(domains) + 1000
        tld = rng.choice(len(tlds), batch, p=weights / weights.sum())
        parts = rng.integers(1, 4, batch)
        pieces = rng.integers(0, len(WORDS) + 3 * len(SYLLABLES), (batch, 3))
        syllables = rng.integers(0, len(SYLLABLES), (batch, 3, 3))
        joiner = rng.random(batch) < 0.3
        digits = np.where(rng.random(batch) < 0.15, rng.integers(1, 10_000, batch), -1)
        subdomain = np.where(rng.random(batch) < 0.1, rng.integers(0, len(SUBDOMAINS), batch), -1)
        for i in range(batch):
            words = [
                WORDS[p] if p < len(WORDS) else "".join(SYLLABLES[s] for s in syllables[i, k, : 2 + p % 2])
                for k, p in enumerate(pieces[i, : parts[i]])
            ]
            name = ("-" if joiner[i] else "").join(words) + (str(digits[i]) if digits[i] >= 0 else "")
            prefix = SUBDOMAINS[subdomain[i]] + "." if subdomain[i] >= 0 else ""
            domains[f"{prefix}{name}.{tlds[tld[i]]}"] = None
    return list(domains)[:count]


def synthetic_urls(listed: list[str], count: int, seed: int) -> list[str]:
    """Half on listed domains (with a subdomain, www. or a port), half on other generated domains."""
    rng = np.random.default_rng(seed)
    others = synthetic_domains(count // 2, seed + 1)
    picks = rng.integers(0, len(listed), count - len(others))
    forms = ["https://{}/", "http://www.{}/gallery/{}", "https://cdn.{}:8443/p?id={}", "https://{}/{}/index.html"]
    urls = [forms[i % 4].format(listed[p], i) for i, p in enumerate(picks)]
    urls += [f"https://{domain}/articles/{i}/a-page-title" for i, domain in enumerate(others)]
    return [urls[i] for i in rng.permutation(len(urls))]


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def measure_hashed(path: str, urls_path: str) -> dict:
    from ccrefine.transforms.filters.url_filter import UrlFilterOptions, UrlLists, url_decision

    UrlLists.load(UrlFilterOptions())  # imports Beam's filesystems and reads the word lists outside the window
    before = memory_mb("VmRSS")
    reset_peak()
    started, cpu_started = time.perf_counter(), time.process_time()
    lists = UrlLists.load(UrlFilterOptions(blocklists=(path,)))
    result = {
        "load_s": time.perf_counter() - started,
        "load_cpu_s": time.process_time() - cpu_started,
        "rss_mb": memory_mb("VmRSS") - before,
        "peak_mb": memory_mb("VmHWM") - before,
        "array_mb": lists.blocked_domains.nbytes / 2**20,
        "domains": len(lists.blocked_domains),
    }
    listed = set(Path(path).read_text().split())
    urls = Path(urls_path).read_text().split()
    started, cpu_started = time.perf_counter(), time.process_time()
    decisions = [url_decision(url, lists) for url in urls]
    result["lookups_per_s"] = len(urls) / (time.perf_counter() - started)
    result["lookups_per_cpu_s"] = len(urls) / (time.process_time() - cpu_started)
    on_listed = [any(h in listed for h in _hosts(url)) for url in urls]
    blocked = [d.reason == "blocklist" for d in decisions]
    result["missed"] = sum(truth and not hit for truth, hit in zip(on_listed, blocked, strict=True))
    result["wrongly_blocked"] = sum(hit and not truth for truth, hit in zip(on_listed, blocked, strict=True))
    result["urls"] = len(urls)
    return result


def _hosts(url: str) -> list[str]:
    """The URL's host without www. or port, and its parent domains: the ground truth for a hit."""
    labels = url.split("/")[2].split(":")[0].removeprefix("www.").split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def measure_python_set(path: str) -> dict:
    before = memory_mb("VmRSS")
    reset_peak()
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8") as handle:
        domains = {line.strip() for line in handle}
    return {
        "load_s": time.perf_counter() - started,
        "load_cpu_s": time.process_time() - cpu_started,
        "rss_mb": memory_mb("VmRSS") - before,
        "peak_mb": memory_mb("VmHWM") - before,
        "domains": len(domains),
    }


def run_child(*args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=4_600_000)
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        print(json.dumps(measure_hashed(*paths) if kind == "hashed" else measure_python_set(*paths)))
        return

    with tempfile.TemporaryDirectory(prefix="blocklist-bench-") as folder:
        started = time.perf_counter()
        domains = synthetic_domains(args.domains, args.seed)
        list_path, urls_path = Path(folder, "domains"), Path(folder, "urls")
        list_path.write_text("\n".join(domains) + "\n", encoding="utf-8")
        urls_path.write_text("\n".join(synthetic_urls(domains, args.urls, args.seed + 100)) + "\n", encoding="utf-8")
        size_mb = list_path.stat().st_size / 2**20
        generated_s = time.perf_counter() - started
        del domains
        hashed = run_child("hashed", str(list_path), str(urls_path))
        python_set = run_child("set", str(list_path))

    print(f"command: python bench/blocklist_memory.py --domains {args.domains} --urls {args.urls} --seed {args.seed}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    print(f"list: {hashed['domains']:,} distinct domains, {size_mb:.0f} MiB of text, generated in {generated_s:.0f}s")
    print()
    print("| structure | load s (wall / CPU) | RSS growth (MiB) | peak RSS growth (MiB) | URLs/s (wall / CPU) |")
    print("|---|---|---|---|---|")
    print(
        f"| `UrlLists.load`: sorted uint64 hashes ({hashed['array_mb']:.0f} MiB array) "
        f"| {hashed['load_s']:.1f} / {hashed['load_cpu_s']:.1f} | {hashed['rss_mb']:.0f} | {hashed['peak_mb']:.0f} "
        f"| {hashed['lookups_per_s']:,.0f} / {hashed['lookups_per_cpu_s']:,.0f} |"
    )
    print(
        f"| Python `set` of the domain strings | {python_set['load_s']:.1f} / {python_set['load_cpu_s']:.1f} "
        f"| {python_set['rss_mb']:.0f} | {python_set['peak_mb']:.0f} | — |"
    )
    print()
    print(
        f"lookups: {hashed['urls']:,} `url_decision` calls, half on listed domains; "
        f"missed {hashed['missed']}, wrongly blocked {hashed['wrongly_blocked']}"
    )


if __name__ == "__main__":
    main()
