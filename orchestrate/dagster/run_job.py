"""Run one Meltano job through Dagster, in this process: Dagster's own test entry point.

    export PATH="$PWD/.venv/bin:$PATH"
    .venv-dagster/bin/python orchestrate/dagster/run_job.py discord-to-postgres

`execute_in_process` runs the job's ops (here `meltano run discord-to-postgres`) as
Dagster would on a worker, and exits 0 only if every op succeeded.
"""

from __future__ import annotations

import sys

from definitions import defs


def main(job: str) -> int:
    """Run the Dagster job made from Meltano job `job`; 0 when it succeeded."""
    result = defs.get_job_def(job.replace("-", "_")).execute_in_process()
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
