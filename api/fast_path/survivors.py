"""What exists once the app has started lives as long as the process: modules, routes,
the app. Frozen out of the collector's sight, a full collection walks thousands of objects
instead of ~100,000 (measured: pauses of 70–117 ms, every request waiting, became 13–19
ms; docs/PERFORMANCE.md, "Full collections")."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_survivors() -> Iterator[None]:
    """Freeze what exists now for the block; a process that starts apps again (tests)
    collects this one's afterwards."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
