"""glibc's malloc, told to keep at most two memory pools ("arenas") however dropcast was started.

By default glibc gives each thread that allocates a pool of its own, up to eight per core,
and a pool keeps the memory freed in it. dropcast's worker threads come and go with its file
work, so after a burst those pools held megabytes that nothing used. Setting
`MALLOC_ARENA_MAX=2` in the environment does the same, but only where whoever starts
dropcast sets it; this also covers `python -m daemon` in a terminal. An explicit
`MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, is left to rule. On a
C library other than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's <malloc.h>


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas at `arenas`, before threads start; True if glibc took the cap."""
    if "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
