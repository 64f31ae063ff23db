"""Keep freed array memory for reuse (glibc only; opt in with CHAINRULE_MALLOC_TUNE=1).

glibc returns every freed block larger than its mmap threshold (128 KiB to
32 MiB, adapting) to the operating system, so the next array of that size
page-faults on every 4 KiB page it touches: on a virtual machine that costs
more than the arithmetic itself (a 1e6-element gradient ran 45 ms instead of
27 ms).  Raising the thresholds makes glibc keep and reuse that memory, as the
allocators of XLA and PyTorch do.  The process then keeps its peak heap
until it exits, and the thresholds hold for every allocation of the process,
not only chainrule's: a library should not change its host's allocator
unasked, so this is off unless CHAINRULE_MALLOC_TUNE=1 is set before
chainrule is imported (or `tune()` is called).
"""
from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 64 * 1024 * 1024     # blocks below this come from (and return to) the heap
TRIM_THRESHOLD = 256 * 1024 * 1024    # free memory kept at the top of the heap

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
tuned = False


def tune(force=False):
    """Apply the thresholds once if CHAINRULE_MALLOC_TUNE=1 (or `force`); returns whether
    they are in force."""
    global tuned
    wanted = force or os.environ.get("CHAINRULE_MALLOC_TUNE", "0") == "1"
    if tuned or not wanted or not sys.platform.startswith("linux"):
        return tuned
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt            # glibc (and not musl): absent elsewhere
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return tuned
