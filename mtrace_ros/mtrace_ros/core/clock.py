"""Epoch nanoseconds and ``builtin_interfaces/Time``: the one conversion both ways."""

from typing import Any
from typing import Tuple

NS_PER_SEC = 1_000_000_000


def split_ns(time_ns: int) -> Tuple[int, int]:
    """Return the ``(sec, nanosec)`` of a ``builtin_interfaces/Time`` for epoch nanoseconds."""
    return divmod(time_ns, NS_PER_SEC)


def time_to_ns(stamp: Any) -> int:
    """Return a ``builtin_interfaces/Time`` in nanoseconds since the epoch."""
    return stamp.sec * NS_PER_SEC + stamp.nanosec
