"""One run at a time on the same run files (the directory of `--state` / `--catalog`).

Meltano hands the tap its state and catalog as files in one directory per extractor,
`.meltano/run/<extractor>/`, and rewrites them when a run starts. Meltano itself
refuses a second run of the same state ID while one is running (its system database
records running jobs), unless it is forced (`--force`); it does not stop a run of the
same extractor under another state ID (another loader, environment or suffix), which
rewrites those files under the first. Two taps on the same state file would each write
STATE from their own reading, and the one ending last would overwrite the other.

So a run holds an exclusive lock (`flock`, released by the kernel when the process
ends, however it ends) on `.tap-discord.lock` in that directory, and a second run that
finds it held stops at once with one line naming the directory and the holder, before
reading anything. Only processes on this machine see the lock: runs on several
machines must share one Meltano system database for Meltano's own check to see them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import typing as t
from pathlib import Path

from tap_discord.errors import UserFacingError

try:
    import fcntl
except ImportError:  # Windows: no flock; Meltano's own check still applies
    fcntl = None  # type: ignore[assignment]

if t.TYPE_CHECKING:
    from collections.abc import Iterator

LOCK_NAME = ".tap-discord.lock"


class RunLockedError(UserFacingError):
    """Another tap-discord run holds the lock on the same run files."""


def run_files_dir(*handles: t.IO[str] | None) -> Path | None:
    """The directory of the first of `handles` that is a named file (None: none is)."""
    for handle in handles:
        name = getattr(handle, "name", None)
        if isinstance(name, str) and name and not name.startswith("<"):
            return Path(name).resolve().parent
    return None


@contextlib.contextmanager
def run_lock(directory: Path | None) -> Iterator[None]:
    """Hold the run lock of `directory` for the block; RunLockedError if another holds it."""
    if directory is None or fcntl is None:
        yield
        return
    path = directory / LOCK_NAME
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise RunLockedError(locked_message(directory, handle.read().strip())) from None
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()} since {started}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def locked_message(directory: Path, holder: str) -> str:
    """The one line for a run that finds the lock held."""
    return (
        f"another tap-discord run ({holder or 'a running process'}) is using the state and "
        f"catalog files in {directory}; not starting a second run on them. Wait for it to "
        "end (a scheduled run that overlaps the previous one can simply be skipped), or "
        "give each concurrent job its own extractor (inherit_from: tap-discord) and state"
    )
