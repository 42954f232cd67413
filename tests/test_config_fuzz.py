"""Fuzzing the recipe and train-config readers (hypothesis): documents built from the real keys with random values
and types, random bytes, byte-level damage and alias structures of random depth and width. Every input either
loads or is one UsageError line of bounded length; any other exception fails. The fuzzing runs in a child process
whose address space is capped, so an alias expansion that escaped the bounds fails with MemoryError instead of
taking the machine's memory."""

from __future__ import annotations

import dataclasses
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.processes import HANG_GUARD_S

pytestmark = pytest.mark.slow  # hypothesis in child processes that import Beam and torch

REPO = Path(__file__).resolve().parent.parent
ADDRESS_SPACE_LIMIT = 4 << 30  # the imports (Beam, torch) take about 1 GB of address space
EXAMPLES = 150


@pytest.mark.parametrize("kind", ["recipe", "train"])
def test_fuzzed_config_files_load_or_give_one_line(kind):
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))

    done = subprocess.run([sys.executable, "-m", "tests.test_config_fuzz", kind], cwd=REPO, preexec_fn=limit_memory,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"{EXAMPLES} examples" in done.stdout


def fuzz(kind: str) -> None:
    import yaml
    from ccrefine.pipelines.config_files import MAX_MESSAGE_CHARS
    from ccrefine.pipelines.recipe import STAGES, load_recipe
    from ccrefine.trainer.config import TrainConfig, load_train_config
    from ccrefine.transforms.read.crawl import ReadOptions
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ccrefine.errors import UsageError

    def keys(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)] + ["typo"]

    scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=12)
               | st.sampled_from([0, -3, 1, 2, 0.5, 1.5, "paper", "fineweb", "auto", "wsd", "en", "llama-tiny"]))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6) | st.sampled_from(["2", "5", "en"]), inner,
                                            max_size=3), max_leaves=8)

    def section(cls):
        return st.dictionaries(st.sampled_from(keys(cls)), values, max_size=4)

    if kind == "recipe":
        stage = st.sampled_from(sorted(STAGES)).flatmap(
            lambda name: st.just(name) | section(STAGES[name][0]).map(lambda options: {name: options}))
        documents = st.fixed_dictionaries({}, optional={"name": values, "read": section(ReadOptions),
                                                        "stages": st.lists(stage, max_size=4), "typo": values})
        load, sections = load_recipe, ["name", "read", "stages"]
    else:
        sections = [field.name for field in dataclasses.fields(TrainConfig)]
        hints = {field.name: field.type for field in dataclasses.fields(TrainConfig)}
        optional = {name: section(getattr(sys.modules[TrainConfig.__module__], hints[name]))
                    if hints[name].endswith("Section") else values for name in sections}
        documents = st.fixed_dictionaries({}, optional=optional)
        load = load_train_config

    def with_aliases(text: str, levels: int, width: int, key: str) -> str:
        """The billion-laughs shape under `key`: level i is a list of `width` aliases to level i - 1."""
        items = [f"  - &l0 [{', '.join(['x'] * width)}]"]
        items += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
        return f"{key}:\n" + "\n".join(items) + "\n" + text

    dumped = documents.map(lambda document: yaml.safe_dump(document).encode())
    inputs = st.one_of(
        dumped,
        st.tuples(dumped, st.integers(0, 12), st.integers(1, 12), st.sampled_from(sections)).map(
            lambda args: with_aliases(args[0].decode(), *args[1:]).encode()),
        st.tuples(dumped, st.binary(min_size=1, max_size=8), st.integers(0, 10**4)).map(
            lambda args: args[0][:args[2]] + args[1] + args[0][args[2]:]),
        st.binary(max_size=200),
    )
    seen = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=inputs)
    def check(data: bytes) -> None:
        seen.append(1)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "fuzzed.yaml"
            path.write_bytes(data)
            try:
                load(str(path))
            except UsageError as exc:
                message = str(exc)
                assert "\n" not in message and len(message) <= MAX_MESSAGE_CHARS, message[:2000]

    check()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    print(f"{kind}: {len(seen)} inputs tried over {EXAMPLES} examples, peak RSS {peak_mib} MiB")


if __name__ == "__main__":
    fuzz(sys.argv[1])
