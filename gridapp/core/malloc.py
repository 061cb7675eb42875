"""Large blocks in their own mappings, out of the C heap, in a process that holds the grid index.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) for every array of
4 MB or more; the grid index's raster relies on it (`geo/index.py`). glibc serves a large block
from its own mapping at first, but after freeing large blocks it raises that threshold (up to
32 MB), and then serves them from the heap: numpy's advice lands on the heap itself, and the
kernel later backs freed heap pages with 2 MB pages. A worker holding the city's map ended the
memory benchmark's requests at 344-357 MB instead of 277 MB in 6 runs of 15, its ``[heap]``
65 MB larger with 88 MB of huge pages (docs/performance.md, stop 21). With the threshold fixed
at numpy's 4 MB, every array numpy advises is a mapping of its own, returned whole when freed.
"""

from __future__ import annotations

from typing import Final

from gridapp.core.lifetime import linux_libc

# mallopt's parameter number (glibc's malloc.h) and the size from which numpy advises huge pages.
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_BYTES: Final = 4 * 1024 * 1024


def keep_large_blocks_out_of_the_heap() -> bool:
    """Fix glibc's mmap threshold at 4 MB for this process; False where there is no glibc."""
    libc = linux_libc()
    mallopt = getattr(libc, "mallopt", None)  # a C library other than glibc may lack it
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
