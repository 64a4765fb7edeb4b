"""Size limits: work whose memory or point count would exceed what this machine can hold is
refused before it starts, with the estimate in the message. ``allow_large=True`` (``--allow-large``
on the command line) lets a user who means it go ahead.
"""

from __future__ import annotations

import os

from .errors import InputError

#: share of this machine's physical memory that one piece of work may plan to use
MEMORY_SHARE = 0.8
#: most points a sweep may have without allow_large
MAX_SWEEP_POINTS = 100_000


def memory_budget() -> int:
    """Bytes one piece of work may use: :data:`MEMORY_SHARE` of physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        total = 8 * 2**30
    return int(total * MEMORY_SHARE)


def human_bytes(n: float) -> str:
    """``n`` bytes with a binary prefix (e.g. ``21.0 TiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(nbytes: float, what: str, allow_large: bool = False) -> None:
    """Refuse ``what`` if it needs more than :func:`memory_budget` (unless ``allow_large``)."""
    budget = memory_budget()
    if not allow_large and nbytes > budget:
        raise InputError(f"{what} needs about {human_bytes(nbytes)}, more than this machine "
                         f"can hold ({human_bytes(budget)}); pass --allow-large "
                         f"(allow_large=True) if you mean it")


def check_count(count: int, limit: int, what: str, allow_large: bool = False) -> None:
    """Refuse ``count`` items of ``what`` above ``limit`` (unless ``allow_large``)."""
    if not allow_large and count > limit:
        raise InputError(f"{what}: {count:,} of them, more than {limit:,}; pass --allow-large "
                         f"(allow_large=True) if you mean it")
