"""Dagster definitions of this Meltano project: its jobs and schedules, by dagster-meltano.

    make dagster-venv
    PATH="$PWD/.venv/bin:$PATH" .venv-dagster/bin/dagster dev -f orchestrate/dagster/definitions.py

Each Meltano job becomes a Dagster job of the same name with `_` for `-`
(`discord_to_postgres`) that runs `meltano run <job>` in the project; each Meltano
schedule becomes a Dagster schedule. dagster-meltano calls the `meltano` on PATH: put
the project's `.venv/bin` first. Settings and secrets reach Meltano through the
environment, as for any `meltano run`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, JobDefinition, ScheduleDefinition
from dagster_meltano import load_jobs_from_meltano_project

PROJECT = os.environ.get("MELTANO_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))

_loaded = load_jobs_from_meltano_project(PROJECT)
defs = Definitions(
    jobs=[item for item in _loaded if isinstance(item, JobDefinition)],
    schedules=[item for item in _loaded if isinstance(item, ScheduleDefinition)],
)
