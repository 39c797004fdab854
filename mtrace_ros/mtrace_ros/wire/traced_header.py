"""
How a trace context crosses the wire: writing and reading ``TracedHeader``.

:func:`inject` fills a header from the active context as a message is
published; :func:`extract` reads the publisher's context back on the other
side. A header with no trace (all-zero ids: an untraced publisher, or a
message built by hand) extracts to ``None``; :func:`read` also says why.
"""

from sys import getrefcount
import time
from typing import Any
from typing import NamedTuple
from typing import Optional
from typing import Tuple

from mtrace_ros.core.clock import split_ns
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.core.ids import INVALID_TRACE_ID
import numpy

_UINT8 = numpy.dtype(numpy.uint8)
_NO_PARENT = bytes(8)


class _Holder:
    __slots__ = ('array',)

    def __init__(self) -> None:
        self.array = numpy.zeros(1, _UINT8)


def _sole_holder_refs() -> int:
    """Return what ``getrefcount`` says of an array one object holds, read as _write_ids reads."""
    holder = _Holder()
    array = holder.array
    return getrefcount(array)


#: The count of an array that only its message holds (interpreters count differently).
_SOLE_HOLDER_REFS = _sole_holder_refs()


def _write_ids(header: Any, context: TraceContext) -> bool:
    """
    Copy the context's ids into the header's own id arrays; return whether they took them.

    A byte copy through a memoryview costs a fraction of what the generated
    setters do (a new numpy array per field, made from another array). It is
    made only where nobody can tell it from the setters: into arrays that the
    header alone holds (no user reference, no view) and that are writable and
    flat (``ROS_PYTHON_CHECK_FIELDS=1`` lets a user assign others).
    """
    trace_id = header.trace_id
    span_id = header.span_id
    parent_span_id = header.parent_span_id
    if (getrefcount(trace_id) > _SOLE_HOLDER_REFS or getrefcount(span_id) > _SOLE_HOLDER_REFS
            or getrefcount(parent_span_id) > _SOLE_HOLDER_REFS):
        return False  # a user's reference (or a view) would see the new ids
    try:
        memoryview(trace_id)[:] = context.trace_id_bytes
        memoryview(span_id)[:] = context.span_id_bytes
        memoryview(parent_span_id)[:] = context.parent_span_id_bytes or _NO_PARENT
    except (TypeError, ValueError, NotImplementedError):  # read-only, or another shape
        return False
    return True


def _set_ids(header: Any, context: TraceContext) -> None:
    """Give the header new id arrays through the generated setters (which copy them)."""
    header.trace_id = numpy.frombuffer(context.trace_id_bytes, _UINT8)
    header.span_id = numpy.frombuffer(context.span_id_bytes, _UINT8)
    header.parent_span_id = numpy.frombuffer(context.parent_span_id_bytes or _NO_PARENT, _UINT8)


def inject(header: Any, context: TraceContext, stamp_ns: Optional[int] = None) -> None:
    """
    Write ``context`` and the publish time into a ``TracedHeader`` in place.

    The ids are copied into the header's own arrays where nothing else holds
    them, else set as new arrays; the stamp is written in place.

    :param header: a ``mtrace_msgs.msg.TracedHeader``.
    :param context: the span that publishes the message (its parent goes
        into ``parent_span_id``, all zeros for a root).
    :param stamp_ns: the publish time in nanoseconds since the epoch
        (default: now, by the system clock, as in ROS log and message stamps).
    """
    if not _write_ids(header, context):
        _set_ids(header, context)
    header.flags = context.flags
    stamp = header.stamp
    stamp.sec, stamp.nanosec = split_ns(time.time_ns() if stamp_ns is None else stamp_ns)


class Problem(NamedTuple):
    """What is wrong with a received header: a fixed kind, and this header's particulars."""

    kind: str
    detail: str = ''


def read(header: Any) -> Tuple[Optional[TraceContext], Optional[Problem]]:
    """
    Return the publisher's context from a ``TracedHeader``, and what is wrong with it.

    The context is ``None`` when the header carries no trace (all-zero ids: an
    untraced publisher, or a message built by hand), or is ``None`` itself (it
    could not be read). Flag bits other than *sampled* are undefined in W3C
    version 00: they are dropped, and said.
    """
    if header is None:
        return None, Problem('no readable trace header')
    return read_ids(header.trace_id.tobytes(), header.span_id.tobytes(), header.flags)


def read_ids(
    trace_id: bytes, span_id: bytes, flags: int,
) -> Tuple[Optional[TraceContext], Optional[Problem]]:
    """Return the context of received ids and flags, and what is wrong with them (see read)."""
    if trace_id == INVALID_TRACE_ID or span_id == INVALID_SPAN_ID:
        if trace_id == INVALID_TRACE_ID and span_id == INVALID_SPAN_ID:
            return None, Problem('no trace context (all-zero ids: untraced publisher?)')
        return None, Problem(
            f'all-zero {"trace_id" if trace_id == INVALID_TRACE_ID else "span_id"}')
    problem = None
    if flags & ~FLAG_SAMPLED:
        problem = Problem('unknown trace flag bits ignored', f'0x{flags & ~FLAG_SAMPLED:02x}')
        flags &= FLAG_SAMPLED
    return TraceContext(trace_id, span_id, None, flags), problem


def extract(header: Any) -> Optional[TraceContext]:
    """Return the publisher's context from a ``TracedHeader``, or ``None`` if it has none."""
    return read(header)[0]


def stamp_ns(header: Any) -> int:
    """Return the header's publish stamp in nanoseconds since the epoch."""
    return time_to_ns(header.stamp)
