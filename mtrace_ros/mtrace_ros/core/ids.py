"""
Trace and span ids: random, from the operating system's CSPRNG, never all zero.

W3C Trace Context requires random ids for privacy and collision resistance
and reserves the all-zero id for "invalid".

Ids are cut from blocks of ``os.urandom`` bytes, drawn a few kilobytes at a
time: one system call per id cost more than the rest of a traced hop's
bookkeeping. A forked child draws fresh blocks, so it never repeats its
parent's ids.
"""

import itertools
import os
import threading
from typing import Callable
from typing import Tuple

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8
INVALID_TRACE_ID = bytes(TRACE_ID_SIZE)
INVALID_SPAN_ID = bytes(SPAN_ID_SIZE)

#: Ids cut from one ``os.urandom`` block.
IDS_PER_BLOCK = 256


class _RandomIds:
    """
    Hands out ``size``-byte slices of random blocks, each slice once, from any thread.

    A block and its counter are swapped together as one tuple, and taking an
    index is one call of ``itertools.count``'s ``__next__`` (atomic under the
    GIL), so no lock is taken except to draw a new block.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._invalid = bytes(size)
        self._lock = threading.Lock()
        self._state = self._draw()

    def _draw(self) -> Tuple[bytes, Callable[[], int]]:
        return os.urandom(self._size * IDS_PER_BLOCK), itertools.count().__next__

    def take(self) -> bytes:
        """Return ``size`` random bytes, not all zero, that no other caller gets."""
        while True:
            state = self._state
            index = state[1]()
            if index >= IDS_PER_BLOCK:
                with self._lock:
                    if self._state is state:
                        self._state = self._draw()
                continue
            start = index * self._size
            taken = state[0][start:start + self._size]
            if taken != self._invalid:
                return taken

    def redraw(self) -> None:
        """Drop the remaining bytes (in a forked child: they are the parent's too)."""
        self._lock = threading.Lock()
        self._state = self._draw()


_trace_ids = _RandomIds(TRACE_ID_SIZE)
_span_ids = _RandomIds(SPAN_ID_SIZE)
os.register_at_fork(after_in_child=lambda: (_trace_ids.redraw(), _span_ids.redraw()))


#: Return 16 random bytes, not all zero (a trace id).
new_trace_id: Callable[[], bytes] = _trace_ids.take
#: Return 8 random bytes, not all zero (a span id).
new_span_id: Callable[[], bytes] = _span_ids.take
