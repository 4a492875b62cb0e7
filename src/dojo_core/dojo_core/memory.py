"""Keep a long-running process's memory flat when it starts threads over and over (glibc malloc).

Why: every recorded episode encodes its cameras on fresh threads (one per camera, plus the
encoder library's own, e.g. SVT-AV1's), and glibc gives threads their own malloc arenas, up to 8
per core, each keeping the memory its threads freed. A recorder then grew by 25-50 MB per saved
episode until every arena was as large as an episode's encoders need (measured with
benchmarks/record_soak.py: 320 -> 745 MB over 30 episodes on 2 cores, more arenas and more growth
on bigger machines; MALLOC_MMAP_THRESHOLD_ did not help, fewer arenas or a trim did). So a
recording process caps the number of arenas and returns freed memory to the system after each
episode. Elsewhere (musl, macOS) both are no-ops.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: mallopt parameter number of M_ARENA_MAX (glibc malloc.h).
_M_ARENA_MAX = -8
#: Arenas a recording process keeps: the encoder threads share them instead of growing new ones.
RECORDING_ARENAS = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library('c')
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, 'malloc_trim') and hasattr(libc, 'mallopt') else None


def cap_malloc_arenas(arenas: int = RECORDING_ARENAS) -> bool:
    """Let at most ``arenas`` malloc arenas exist from now on (an explicit MALLOC_ARENA_MAX in the
    environment is left alone); False where this is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    if 'MALLOC_ARENA_MAX' not in os.environ:
        libc.mallopt(_M_ARENA_MAX, arenas)
    return True


def release_free_memory() -> bool:
    """Return memory that malloc holds free, in every arena, to the system (a few ms); False where
    this is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
