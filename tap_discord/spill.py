"""Park prefetched pages on disk when the memory budget is full.

Why: records leave in target order, so pages of later channels wait until the
channels before them are written. Under Discord's limits every channel gives about
one page per second, so reading at the bot's 50 requests per second means reading
~40 channels at once, and all but one of them wait. Held only in memory (the
`prefetch_buffer_mb` budget), a history larger than the budget stopped every
channel but the one being written once the budget was full, and a large backfill
ran at little more than one page per second (the 80 MB rate-limited benchmark with
a 10 MB budget: 141 s instead of 22 s). Parked on disk, later channels keep
fetching at the rate limit while memory stays bounded.

Each target that parks pages has its own unnamed temporary file (`TemporaryFile`:
unlinked at once, so nothing is left behind, even after a kill). Only that
target's worker appends to it, and only the main thread reads it, in the order the
pages were written; the file is emptied as soon as every page in it has been read,
and closed when the target is done.
"""

from __future__ import annotations

import os
import shutil
import tempfile

#: Most targets with a spill file at once (each holds a file descriptor).
MAX_SPILL_FILES = 128
#: File systems held in memory: pages parked there are memory, not disk.
MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})


def spill_budget_for(directory: str | None, wanted: int) -> tuple[int, str | None]:
    """The bytes to park in `directory`, at most half its free space; and a warning.

    The warning says when the directory is held in memory (tmpfs), where parked
    pages would count as the tap's memory.
    """
    path = directory or tempfile.gettempdir()
    try:
        budget = min(wanted, shutil.disk_usage(path).free // 2)
    except OSError:
        budget = wanted  # checked by the settings; a failed write falls back to memory
    fs_type = file_system_type(path)
    if budget and fs_type in MEMORY_FILE_SYSTEMS:
        return budget, (
            f"{path} is held in memory ({fs_type}): message pages parked there (up to "
            f"{budget // (1024 * 1024)} MB) count as memory. Set prefetch_spill_dir to a "
            "directory on disk, or prefetch_spill_mb to 0."
        )
    return budget, None


def file_system_type(path: str) -> str | None:
    """The type of the file system holding `path`, from /proc/self/mountinfo (Linux)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, found = -1, None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        mount_point = parts[4].replace("\\040", " ")
        inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > best:
            best, found = len(mount_point), rest.split()[0]
    return found


class SpillFile:
    """One target's parked page bodies, in an unnamed temporary file.

    Not locked: the target's worker appends and the main thread reads, and the
    prefetcher (under its lock) makes sure `clear` never runs while an append is
    under way.
    """

    def __init__(self, directory: str | None) -> None:
        """Create the file in `directory` (None: the system's temporary directory)."""
        # Open as long as its target is read: closed by `close`, not a with block.
        self._file = tempfile.TemporaryFile(dir=directory, prefix="tap-discord-spill-")  # noqa: SIM115
        self._fd = self._file.fileno()
        self.end = 0  # bytes written since the file was last emptied

    @staticmethod
    def supported() -> bool:
        """Whether this platform has positioned reads and writes (not Windows)."""
        return hasattr(os, "pwrite") and hasattr(os, "pread")

    def append(self, body: bytes) -> int:
        """Write a page body at the end (worker thread); the offset to read it back at."""
        offset = position = self.end
        view = memoryview(body)
        while view:
            written = os.pwrite(self._fd, view, position)
            if written <= 0:
                msg = "spill file write made no progress"
                raise OSError(msg)
            position += written
            view = view[written:]
        self.end = position
        return offset

    def read(self, offset: int, length: int) -> bytes:
        """The body written at `offset` (main thread)."""
        body = os.pread(self._fd, length, offset)
        if len(body) != length:
            msg = f"spill file ended early: {len(body)} of {length} bytes"
            raise OSError(msg)
        return body

    def clear(self) -> int:
        """Empty the file (every page in it has been read); the bytes it gave back."""
        freed, self.end = self.end, 0
        os.ftruncate(self._fd, 0)
        return freed

    def close(self) -> None:
        """Close (and so delete) the file."""
        self._file.close()
