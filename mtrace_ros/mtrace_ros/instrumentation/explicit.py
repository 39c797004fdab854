"""Starting and continuing traces explicitly: roots, outside callers, late processing."""

import contextlib
import sys
from typing import Any
from typing import Iterator
from typing import Optional

from mtrace_msgs.msg import TracedHeader
from mtrace_ros.core import traceparent as w3c
from mtrace_ros.core.context import attach
from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import detach
from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export import spans
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.message_types import header_field


@contextlib.contextmanager
def active(context: TraceContext) -> Iterator[TraceContext]:
    """Run the ``with`` body in ``context``, ending its span (if recorded) afterwards."""
    token = attach(context)
    error: Optional[BaseException] = None
    try:
        yield context
    except BaseException as ex:
        error = ex
        raise
    finally:
        detach(token)
        spans.end_span(context, error)


def _caller_name() -> Optional[str]:
    """Return the qualified name of the function whose ``with`` statement called us."""
    # 0: here, 1: the generator below, 2: contextlib's __enter__, 3: the caller.
    code = sys._getframe(3).f_code
    name = getattr(code, 'co_qualname', code.co_name)
    return None if name.startswith('<') else name


@contextlib.contextmanager
def start_trace(
    traceparent: Optional[str] = None, *, node: str = '', name: Optional[str] = None,
) -> Iterator[Optional[TraceContext]]:
    """
    Start a new root trace for the ``with`` body, or continue an outside one.

    A root node's timer wraps each tick in ``with start_trace():``; everything
    published inside carries the new trace, and every callback that handles it
    runs in it.

    :param traceparent: a W3C ``traceparent`` string (from an HTTP request, a
        ``TRACEPARENT`` environment variable, another tracer): the body then
        runs in a new span of that trace, child of the span it names.
    :param node: the name the root span is recorded under (default: the
        ``TracedNode`` whose timer or service runs it, else the node of the
        first traced publisher that publishes in it).
    :param name: what the span is called (default: the function that
        started it, e.g. ``Talker.on_timer``).
    :raises ValueError: if ``traceparent`` is malformed or invalid, saying why.
    :return: the new context (``None`` when tracing is switched off).
    """
    name = name or _caller_name()
    parsed = None if traceparent is None else w3c.parse(traceparent)
    if not tracing_enabled():
        yield None
        return
    outside = None
    if parsed is not None:
        trace_id, parent_id, flags = parsed
        # The only flag defined in version 00; others stay outside.
        outside = TraceContext(trace_id, parent_id, None, flags & FLAG_SAMPLED)
    context = spans.open_span(spans.KIND_ROOT, outside, node=node, name=name or 'start_trace')
    with active(context) as entered:
        yield entered


def _context_of(message: Any) -> Optional[TraceContext]:
    if isinstance(message, TraceContext):
        return message
    if isinstance(message, TracedHeader):
        return traced_header.extract(message)
    field = header_field(type(message))
    if field is None:
        raise TypeError(
            f'continue_trace() needs a message with a TracedHeader field, a TracedHeader, '
            f'or a TraceContext; got {type(message).__name__}')
    return traced_header.extract(getattr(message, field))


@contextlib.contextmanager
def continue_trace(
    message: Any, *, node: str = '', name: Optional[str] = None,
) -> Iterator[Optional[TraceContext]]:
    """
    Run the ``with`` body in the trace of a message received earlier.

    For timers and caches that process the latest message later, at their own
    rate: the body runs in a new span whose parent is the span that published
    ``message``. A message without a trace starts a new root trace.

    :param message: a message with a ``TracedHeader`` field (or an envelope),
        a ``TracedHeader``, or a :class:`TraceContext` saved from
        :func:`mtrace_ros.current_trace` (for envelope-traced types, whose
        callback gets the message without its header).
    :param node: the name the span is recorded under (default: the
        ``TracedNode`` whose timer or service runs it, else the active span's
        node, else the node of the first traced publisher that publishes in it).
    :param name: what the span is called (default: the function that
        continued the trace).
    :raises TypeError: if ``message`` cannot carry a trace.
    """
    name = name or _caller_name()
    parent = _context_of(message)
    if not tracing_enabled():
        yield None
        return
    context = spans.open_span(
        spans.KIND_RECEIVE, parent, node=node, name=name or 'continue_trace')
    with active(context) as entered:
        yield entered


def link(message: Any) -> Optional[TraceContext]:
    """
    Link the active span to the trace of another message (fan-in).

    A callback that combines messages of several traces (a fusion node, a
    synchronizer) runs in the trace of the message that triggered it; call
    ``link`` with each other message it combines, so that the tree view and
    the OTLP export show where those came from. Outside a recorded span
    (no trace, no sink, or an unsampled trace) nothing is recorded.

    :param message: what :func:`continue_trace` accepts: a message with a
        ``TracedHeader`` field, a ``TracedHeader``, or a :class:`TraceContext`.
    :raises TypeError: if ``message`` cannot carry a trace.
    :return: the linked span's context, or ``None`` if ``message`` has no trace.
    """
    other = _context_of(message)
    active = current_trace()
    span = None if active is None else active.span
    if other is not None and span is not None and span.end_ns is None:
        span.add_link(other)
    return other
