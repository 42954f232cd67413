"""What each shuffle of `ccrefine dedup` carries, per input document, measured by the runner itself.

Runs the dedup graph (defaults: MinHash fineweb preset, substrings, URLs) on the in-memory DirectRunner over a corpus
folder written by bench/dedup_scale.py (or any `ccrefine corpus` output), then reads the runner's per-PCollection
`element_count` and `sampled_byte_size` (Beam samples element sizes, encoded) for the input of every GroupByKey
(CoGroupByKey is one of them): elements and estimated bytes, also per input document. Also reports peak RSS.

    python bench/dedup_shuffles.py /tmp/dedup-scale/n10000-w500/corpus
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from collections import defaultdict

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics import monitoring_infos
from ccrefine.pipelines.dedup import DedupSettings, build_dedup  # noqa: E402
from ccrefine.pipelines.options import beam_options  # noqa: E402

from ccrefine.files import match_files  # noqa: E402


def shuffle_inputs(proto) -> dict[str, str]:
    """{PCollection id: name of the GroupByKey it feeds} for every GroupByKey of the pipeline."""
    inputs = {}
    for transform in proto.components.transforms.values():
        if transform.spec.urn == "beam:transform:group_by_key:v1":
            for pcollection in transform.inputs.values():
                inputs[pcollection] = transform.unique_name
    return inputs


def pcollection_sizes(result) -> dict[str, tuple[int, float]]:
    """{PCollection id: (elements, estimated encoded bytes)} from the runner's monitoring infos."""
    counts, means = defaultdict(int), {}
    for info in result.monitoring_metrics().monitoring_infos():
        pcollection = info.labels.get("PCOLLECTION")
        if pcollection is None:
            continue
        if info.urn == monitoring_infos.ELEMENT_COUNT_URN:
            counts[pcollection] += monitoring_infos.extract_counter_value(info)
        elif info.urn == monitoring_infos.SAMPLED_BYTE_SIZE_URN:
            count, total, _, _ = monitoring_infos.extract_distribution(info)
            if count:
                means[pcollection] = total / count
    return {pc: (counts[pc], counts[pc] * means.get(pc, 0.0)) for pc in counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="a corpus folder (FOLDER/documents/lang=*/*.parquet)")
    args = parser.parse_args()
    files = match_files([args.corpus], "corpus")
    options = beam_options(["--direct_running_mode", "in_memory", "--direct_num_workers", "1"])
    with tempfile.TemporaryDirectory() as output:
        pipeline = beam.Pipeline(options=options)
        build_dedup(pipeline, files, output, DedupSettings())
        result = pipeline.run()
        result.wait_until_finish()
    proto = pipeline.to_runner_api()
    sizes = pcollection_sizes(result)
    rows = [(name, *sizes.get(pc, (0, 0.0))) for pc, name in shuffle_inputs(proto).items()]
    documents = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    print(f"{len(files)} file(s), {documents:,} documents, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB\n")
    print("| shuffle (GroupByKey input) | elements | MB | bytes per document |")
    print("|---|---|---|---|")
    for name, elements, size in sorted(rows, key=lambda row: -row[2]):
        print(f"| {name.removesuffix('/GroupByKey')} | {elements:,} | {size / 1e6:,.1f} | {size / documents:,.0f} |")
    total = sum(size for _, _, size in rows)
    print(f"| all shuffles | | {total / 1e6:,.1f} | {total / documents:,.0f} |")


if __name__ == "__main__":
    main()
