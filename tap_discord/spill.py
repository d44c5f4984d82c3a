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

import dataclasses
import os
import tempfile
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from tap_discord.prefetch import Page

#: Most targets with a spill file at once (each holds a file descriptor).
MAX_SPILL_FILES = 128


@dataclass(frozen=True)
class ParkedPage:
    """A page whose body waits in its target's spill file, at `offset`."""

    page: Page  # the page with an empty body
    offset: int
    length: int

    @property
    def size(self) -> int:
        """What the page costs the disk budget: its body's length."""
        return self.length


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

    def park(self, page: Page) -> ParkedPage:
        """Append the page's body (worker thread); what the main thread reads it back by."""
        offset = position = self.end
        view = memoryview(page.body)
        while view:
            written = os.pwrite(self._fd, view, position)
            position += written
            view = view[written:]
        self.end = position
        return ParkedPage(dataclasses.replace(page, body=b""), offset, len(page.body))

    def read(self, parked: ParkedPage) -> Page:
        """The page with its body read back (main thread)."""
        body = os.pread(self._fd, parked.length, parked.offset)
        if len(body) != parked.length:
            msg = f"spill file ended early: {len(body)} of {parked.length} bytes"
            raise OSError(msg)
        return dataclasses.replace(parked.page, body=body)

    def clear(self) -> int:
        """Empty the file (every page in it has been read); the bytes it gave back."""
        freed, self.end = self.end, 0
        os.ftruncate(self._fd, 0)
        return freed

    def close(self) -> None:
        """Close (and so delete) the file."""
        self._file.close()
