"""The main job run by an orchestrator: Dagster, through dagster-meltano.

`make dagster-venv` installs Dagster into a virtualenv of its own (`make test` does it
beside the static checks; a run of this module alone does it here). Dagster's own test
entry point, `execute_in_process` (`orchestrate/dagster/run_job.py`), runs the Dagster
job made from the Meltano job `discord-to-postgres` against the emulator into this
module's throwaway PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.test_e2e_meltano import installed, postgres, snapshot  # noqa: F401 (fixtures)
from tests.test_e2e_ops import TOKEN, bookmarks, meltano_for, message_ids, newest_by_channel

if t.TYPE_CHECKING:
    from tests.pgcluster import ThrowawayPostgres

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("installed")]

REPO = Path(__file__).resolve().parent.parent
DAGSTER_PYTHON = REPO / ".venv-dagster" / "bin" / "python"


@pytest.fixture(scope="session")
def dagster_python() -> Path:
    """The Dagster virtualenv's Python, installed by the project's own Makefile."""
    subprocess.run(["make", "--no-print-directory", "dagster-venv"], cwd=REPO, check=True)
    return DAGSTER_PYTHON


def test_dagster_runs_the_main_job_into_postgres(
    request: pytest.FixtureRequest, dagster_python: Path, tmp_path: Path
) -> None:
    pg: ThrowawayPostgres = request.getfixturevalue("postgres")
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        meltano = meltano_for(emu, pg, tmp_path)
        # dagster-meltano lists jobs and schedules with two meltano commands at once,
        # which must not both create the system database.
        meltano("state", "list")
        env = dict(meltano.env)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        run = subprocess.run(
            [
                str(dagster_python),
                str(REPO / "orchestrate/dagster/run_job.py"),
                "discord-to-postgres",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        (tmp_path / "dagster.log").write_text(run.stdout + run.stderr)
        expected = newest_by_channel(emu)
        messages = message_ids(emu)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "RUN_SUCCESS" in output  # Dagster's own event for a successful run
    assert '"status":"succeeded"' in output  # the tap's run summary, through Meltano
    assert bookmarks(meltano.state()) == expected
    loaded = snapshot(pg.dsn).keys["messages"]
    assert len(loaded) == len(set(loaded)) and set(loaded) == messages
