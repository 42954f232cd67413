"""Beam options: the user's flags pass through untouched; local runs default to one process per core."""

from __future__ import annotations

import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, WorkerOptions

LOCAL_RUNNERS = {"DirectRunner", "BundleBasedDirectRunner", "PrismRunner"}


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """PipelineOptions from the flags ccrefine does not own; the default runner is the multi-process
    DirectRunner with one worker per core."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    if "--default_sdk_harness_log_level" not in " ".join(beam_args):
        # Local workers log every bundle at INFO to the user's terminal; warnings are what matter there.
        options.view_as(WorkerOptions).default_sdk_harness_log_level = "WARNING"
    if standard.runner == "DirectRunner":
        direct = options.view_as(DirectOptions)
        if "--direct_running_mode" not in " ".join(beam_args):
            direct.direct_running_mode = "multi_processing"
        # one worker per core where there are workers (in_memory has one, and warns about any other number)
        if direct.direct_num_workers in (None, 0, 1) and "--direct_num_workers" not in " ".join(beam_args) \
                and direct.direct_running_mode != "in_memory":
            direct.direct_num_workers = os.cpu_count() or 1
    return options


def is_local(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    return (runner if isinstance(runner, str) else type(runner).__name__) in LOCAL_RUNNERS
