"""Keep freed host memory in the process, so a training step's large buffers are reused.

glibc's malloc serves requests above its mmap threshold (at most 32 MB) with a fresh
``mmap`` and hands the pages back to the kernel on ``free``. A GPT-2 step on the CPU
allocates several such buffers every step (a block of the output head's logits, the
embedding's dense gradient, activations of every layer), so each step faults its pages
in again, 4 KB at a time: about 0.5 GB of page faults per GPT-2-small step at batch 2,
context 256, and 8-10% of an fp32 step on a 2-core CPU (docs/benchmarks.md). Serving
every request from the heap and keeping up to ``TRIM_THRESHOLD_BYTES`` of free memory at
its top lets the next step reuse the same pages, as CUDA's caching allocator does on GPUs.
"""

from __future__ import annotations

import ctypes
import os

# mallopt() parameters, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# Free memory at the top of the heap above this goes back to the kernel (C int: < 2 GiB).
TRIM_THRESHOLD_BYTES = 1 << 30


def is_glibc() -> bool:
    """Whether this process runs on GNU libc (Linux distributions other than Alpine/musl)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name (macOS, musl)
        return False


def reuse_freed_host_memory() -> bool:
    """Ask glibc's malloc to keep large freed blocks for reuse; returns whether it applied.

    Process-wide and idempotent. Elsewhere (macOS, Windows, musl) it does nothing.
    """
    if not is_glibc():
        return False
    libc = ctypes.CDLL(None)
    # mallopt returns 1 on success, 0 on error.
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
