"""The warnings Beam logs on every local run that say nothing about the user's pipeline, filtered out by name at
the CLI so the funnel is the first thing a user reads. Only these exact messages go; every other warning (a typo
in a Beam flag among them) still shows.

Where they come from (Beam 2.77, the default multi-process DirectRunner; seen on `ccrefine corpus` of the sample):
- each local worker logs "No semi_persistent_directory found": it has no staged main session to load, and ccrefine
  needs none (its DoFns are imported from the installed package);
- each worker logs "Discarding unparseable args: ['--pipeline_type_check', '--direct_runner_use_stacked_bundle']":
  the DirectRunner hands its workers every option, and writes these two booleans (default on) as flags their
  parser does not define, so both stay at their default there;
- a worker's log reaches the terminal re-logged by the runner's `local_job_service` logger, so that is where the
  filter sits. (Beam's "apitools not found" import warning is gone because google-apitools is installed, see
  setup.py: without it every worker would also print its own log straight to stderr.)
"""

from __future__ import annotations

import logging
import re

WORKER_RELAY_LOGGER = "apache_beam.runners.portability.local_job_service"
NO_SESSION_DIRECTORY = 'message: "No semi_persistent_directory found: '
DISCARDED_ARGS = re.compile(r'message: "Discarding unparseable args: \[([^\]]*)\]"')
OPTIONS_WORKERS_CANNOT_PARSE = frozenset({"pipeline_type_check", "direct_runner_use_stacked_bundle"})


class KnownHarmlessWorkerMessages(logging.Filter):
    """Drops the two worker messages described above; passes every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if NO_SESSION_DIRECTORY in message:
            return False
        discarded = DISCARDED_ARGS.search(message)
        if discarded:
            names = set(re.findall(r"--([\w-]+)", discarded.group(1)))
            return not names or not names <= OPTIONS_WORKERS_CANNOT_PARSE  # a user's unknown flag still shows
        return True


def quiet_known_beam_messages() -> None:
    """Install the filter once (the CLI calls this for every command)."""
    relay = logging.getLogger(WORKER_RELAY_LOGGER)
    if not any(isinstance(existing, KnownHarmlessWorkerMessages) for existing in relay.filters):
        relay.addFilter(KnownHarmlessWorkerMessages())
