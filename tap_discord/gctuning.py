"""The garbage collector, tuned for a run that makes millions of short-lived records.

Why: Python's cycle collector runs a young-generation pass every 700 new container
objects, and every tenth pass an older one. A message record is about twenty of them
(dicts and lists parsed from JSON, freed by reference counting once written: they
hold no cycles), so at tens of thousands of records per second the collector would
run every few records, over the page being written and over the tap's startup objects
(the imported modules) that live for the whole run. With a higher young threshold
most records are freed before a pass ever sees them, and frozen startup objects are
never walked again. The measurements are in bench/README.md (`bulk_bench.py`, the
garbage collector).

During a command-line run only (`TapDiscord.invoke`), and undone after it: a program
that runs the tap in-process (tests, an orchestrator) gets its collector back as it
was. Not reentrant (an inner use would unfreeze the outer one's objects).
"""

from __future__ import annotations

import contextlib
import gc
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: New container objects between two young-generation passes (Python's default: 700).
YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def collector_tuned_for_records() -> Iterator[None]:
    """Freeze what exists now (never scanned again) and collect the young less often.

    Cycles made during the run are still collected, only in larger batches; objects
    frozen here are unfrozen at the end, so none is kept for good.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    if thresholds[0]:  # 0: collection turned off by the host program, left so
        gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
