"""Giving memory back to the system between the phases of a large plan.

Reading 100k users' manifests and state makes hundreds of megabytes of short-lived data
(rapidyaml's trees, JSON text, the parsed documents) between long-lived objects. The C
library keeps what is freed for later, so the process would carry it as resident memory
to the end of the run: 140 MB after the state of 100k users alone. glibc's `malloc_trim`
hands the free pages back. Elsewhere (another C library, another OS) this does nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

LARGE = 5_000  # resources below which a phase leaves too little behind to bother


def release_after(count: int) -> None:
    """Give freed memory back after a phase that read `count` resources, when that is many."""
    if count >= LARGE:
        trim = _malloc_trim()
        if trim is not None:
            trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim
