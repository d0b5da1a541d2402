"""What the machine has: memory available now, checked before work whose size is known.

Work whose memory follows from its arguments (a spectrum sheet of rows x steps images, a batch
of images) asks :func:`check_memory` first, so that a number typed too large is one message
naming it, not the kernel's OOM killer minutes later.
"""

from __future__ import annotations

import os

from relattr_studio.core.errors import RelAttrError

# Work may take at most this share of the memory available when it starts: the rest is the
# window's, the other programs', and the copies a library makes on the way.
SHARE_OF_AVAILABLE = 0.5


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux: MemAvailable), or None when
    the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, *, what: str, smaller: str, share: float = SHARE_OF_AVAILABLE) -> None:
    """A RelAttrError before the work starts when ``needed`` bytes exceed the ``share`` of memory
    available it may take; ``what`` names the work, ``smaller`` says how to ask for less."""
    available = available_memory()
    if available is not None and needed > share * available:
        raise RelAttrError(f"{what} needs about {needed / 2**30:,.1f} GB of memory and "
                           f"{available / 2**30:,.1f} GB are available; {smaller}")


def check_pair_images(pairs: int, side: int, *, what: str, smaller: str) -> None:
    """:func:`check_memory` for ``pairs`` generated pairs of ``side`` px images held until they
    are stored: both images of each pair as uint8, and the decoder's float32 output they are made
    from (five bytes a pixel value in all). ``what`` names them ("imagined pairs")."""
    check_memory(2 * pairs * side * side * 3 * 5, what=f"{pairs:,} {what} of {side} px images", smaller=smaller)
