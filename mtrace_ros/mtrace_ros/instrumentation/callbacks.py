"""
How callbacks run inside a trace.

rclpy's executors call subscription callbacks with no notion of context, and
resume coroutine callbacks with ``coroutine.send(None)`` from whatever thread
is free, with no per-task :class:`contextvars.Context` (unlike asyncio) unless
:mod:`.tasks` gives every task one. So, either way:

* a synchronous callback gets its trace context set on entry and reset in
  ``finally``, in the thread that runs it;
* a coroutine callback gets a context of its own (like an asyncio task), and
  every step of it runs inside that context, so interleaved coroutines never
  see each other's trace and nothing is left behind in the executor's thread;
* :func:`wrap` carries the active trace into a thread, a pool or another
  library's callback.

Wrappers keep what rclpy inspects in a callback: whether it is a coroutine
function, and how many arguments its signature binds (message, or message and
``MessageInfo``).
"""

import contextvars
import functools
import inspect
import time
from typing import Any
from typing import Callable
from typing import Coroutine
from typing import Generator
from typing import Optional
from typing import Tuple
from typing import TypeVar

from mtrace_ros.core.context import attach
from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import detach
from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.core.ids import INVALID_TRACE_ID
from mtrace_ros.core.ids import new_span_id
from mtrace_ros.export import spans
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.replay import ReplayDetector
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.envelope import EnvelopeError
from rclpy.impl.rcutils_logger import RcutilsLogger

T = TypeVar('T')
F = TypeVar('F', bound=Callable[..., Any])

#: Set on subscription callbacks mtrace has wrapped (to the wrapper itself, so
#: that a decorator copying ``__dict__`` does not inherit it): never wrapped twice.
WRAPPED_MARKER = '_mtrace_wrapped'

# Stamps further than this from the receiver's clock give "latency unknown".
_PLAUSIBLE_LATENCY_NS = 3600 * 1_000_000_000

# Returns (the TracedHeader, the value handed to the user callback).
Unpack = Callable[[Any], Tuple[Any, Any]]
#: Returns the context a message's callback runs in, the value handed to the
#: user callback, and the span to end after it; or ``None``: drop the message.
Enter = Callable[[Any, Tuple[Any, ...]], Optional[Tuple[Optional[TraceContext], Any, Any]]]

# What rclpy sees of a wrapper that needs the MessageInfo its user callback does not take.
_MESSAGE_AND_INFO = inspect.Signature([
    inspect.Parameter('msg', inspect.Parameter.POSITIONAL_OR_KEYWORD),
    inspect.Parameter('info', inspect.Parameter.POSITIONAL_OR_KEYWORD)])
_REPLAYED = ('messages played back from a recording (rosbag2_player): each starts a new '
             'trace linked to the recorded one (MTRACE_REPLAY=continue continues it)')


class ContextBoundCoroutine:
    """Awaitable that runs every step of a coroutine inside one Context."""

    __slots__ = ('_coroutine', '_context')

    def __init__(self, coroutine: Coroutine[Any, Any, Any], context: contextvars.Context):
        self._coroutine = coroutine
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # type: ignore[return-value]

    def __iter__(self) -> 'ContextBoundCoroutine':
        return self

    def __next__(self) -> Any:
        return self._context.run(self._coroutine.send, None)

    def send(self, value: Any) -> Any:
        return self._context.run(self._coroutine.send, value)

    def throw(self, *exc_info: Any) -> Any:
        return self._context.run(self._coroutine.throw, *exc_info)

    def close(self) -> None:
        self._context.run(self._coroutine.close)


def bind_coroutine(
    coroutine: Coroutine[Any, Any, T], trace: Optional[TraceContext],
) -> Coroutine[Any, Any, T]:
    """
    Return a coroutine that runs ``coroutine`` with ``trace`` active in all its steps.

    It gets a copy of the caller's :mod:`contextvars` context of its own, as an
    asyncio task would, so values it sets never leak into the executor's thread.
    """
    context = contextvars.copy_context()
    context.run(attach, trace)

    async def run_bound() -> T:
        return await ContextBoundCoroutine(coroutine, context)

    return run_bound()


def _mark(wrapper: F) -> F:
    setattr(wrapper, WRAPPED_MARKER, wrapper)
    return wrapper


def wrap(fn: F) -> F:
    """
    Return a callable that runs ``fn`` in the trace active now.

    Python threads and pools do not inherit :mod:`contextvars`: a
    ``threading.Thread`` started inside a traced callback runs with no trace.
    Pass ``wrap(target)`` instead of ``target`` (thread targets, pool
    submissions, other libraries' callbacks; rclpy tasks and done-callbacks
    keep the trace by themselves while :mod:`.tasks` is on). Coroutine
    functions stay coroutine functions. Outside any trace, ``fn`` is run with
    no trace, whatever the calling thread's state.
    """
    trace = current_trace()
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_coroutine_in_trace(*args: Any, **kwargs: Any) -> Any:
            return await bind_coroutine(fn(*args, **kwargs), trace)
        return run_coroutine_in_trace  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_in_trace(*args: Any, **kwargs: Any) -> Any:
        token = attach(trace)
        try:
            return fn(*args, **kwargs)
        finally:
            detach(token)
    return run_in_trace  # type: ignore[return-value]


def in_node(callback: F, node: str) -> F:
    """
    Return ``callback`` running in the scope of ``node``: spans it opens without a node are its.

    For the timers and services of a ``TracedNode``: a ``start_trace()`` or
    ``continue_trace()`` there is recorded under the node, not the script.
    Keeps what rclpy inspects (coroutine function or not, the signature).
    """
    if not node:
        return callback
    if inspect.iscoroutinefunction(callback):
        @functools.wraps(callback)
        async def run_coroutine_in_node(*args: Any, **kwargs: Any) -> Any:
            token = spans.NODE_SCOPE.set(node)
            try:
                return await callback(*args, **kwargs)
            finally:
                spans.NODE_SCOPE.reset(token)
        return run_coroutine_in_node  # type: ignore[return-value]

    @functools.wraps(callback)
    def run_in_node(*args: Any, **kwargs: Any) -> Any:
        token = spans.NODE_SCOPE.set(node)
        try:
            return callback(*args, **kwargs)
        finally:
            spans.NODE_SCOPE.reset(token)
    return run_in_node  # type: ignore[return-value]


def latency_ns(stamp_ns: int, now_ns: int) -> Optional[int]:
    """Return publish-stamp-to-now in ns, or ``None`` if the stamp is implausible."""
    latency = now_ns - stamp_ns
    return latency if abs(latency) < _PLAUSIBLE_LATENCY_NS else None


def _make_enter(
    unpack: Unpack, node_name: str, topic: str, logger: RcutilsLogger, tracing: bool,
    replay: Optional[ReplayDetector],
) -> Callable[..., Optional[Tuple[Optional[TraceContext], Any, Optional[spans.Span]]]]:
    """Return the per-message step shared by sync and coroutine wrappers."""

    def enter(
        received: Any, info: Tuple[Any, ...],
    ) -> Optional[Tuple[Optional[TraceContext], Any, Optional[spans.Span]]]:
        try:
            header, msg = unpack(received)
        except EnvelopeError as ex:
            notices.report(logger, topic, f'dropped a message: {ex.kind}', ex.detail, error=True)
            return None
        except Exception as ex:  # an unusable message must not reach the executor
            notices.report(logger, topic, 'dropped a message that cannot be read',
                           f'{type(ex).__name__}: {ex}', error=True)
            return None
        if not tracing:
            return None, msg, None
        parent, problem = traced_header.read(header)
        if problem is not None:
            kind = problem.kind
            if parent is None:
                kind += '; starting a new trace for each such message'
            notices.report(logger, topic, kind, problem.detail)
        if parent is not None and replay is not None and info and replay.from_player(info[0]):
            notices.report(logger, topic, _REPLAYED)
            context = spans.open_span(spans.KIND_RECEIVE, None, node=node_name, topic=topic)
            if context.span is not None:
                context.span.add_link(parent)
            return context, msg, context.span
        latency = None
        if parent is not None and spans.recording():
            latency = latency_ns(traced_header.stamp_ns(header), time.time_ns())
        context = spans.open_span(
            spans.KIND_RECEIVE, parent, node=node_name, topic=topic, latency_ns=latency)
        return context, msg, context.span

    return enter


def _make_header_enter(
    field: str, replay: Optional[ReplayDetector], general: Enter,
) -> Enter:
    """
    Return the per-message step of a message with a ``TracedHeader`` field, common case first.

    A header with a valid context and no unknown flags, handled while no span
    is recorded and not played back, needs only the context's child: made
    here in one step, the in-band route's hot path (the message itself is
    what the callback gets). Anything else goes the ``general`` way, which
    reads the header again and says what is wrong with it.
    """
    recording = spans.recording

    def enter(
        received: Any, info: Tuple[Any, ...],
    ) -> Optional[Tuple[Optional[TraceContext], Any, Optional[spans.Span]]]:
        try:
            header = getattr(received, field)
            trace_id = header.trace_id.tobytes()
            span_id = header.span_id.tobytes()
            flags = header.flags
            usual = not (flags > FLAG_SAMPLED or trace_id == INVALID_TRACE_ID
                         or span_id == INVALID_SPAN_ID)
        except Exception:  # the general step reports it
            usual = False
        if (not usual or recording()
                or (replay is not None and info and replay.from_player(info[0]))):
            return general(received, info)
        return TraceContext(trace_id, new_span_id(), span_id, flags), received, None

    return enter


def traced_callback(
    callback: Callable[..., Any],
    unpack: Unpack,
    *,
    node_name: str,
    topic: str,
    logger: RcutilsLogger,
    tracing: bool = True,
    replay: Optional[ReplayDetector] = None,
    header_field: Optional[str] = None,
) -> Callable[..., Any]:
    """
    Return a subscription callback that runs ``callback`` in each message's trace.

    :param callback: the user's callback (plain or ``async def``; message, or
        message and ``MessageInfo``).
    :param unpack: turns what rclpy hands over into ``(header, user value)``.
    :param node_name: the node, for spans.
    :param topic: the resolved topic name, for spans and warnings.
    :param logger: where problems with received messages are reported.
    :param tracing: ``False`` only unpacks (tracing switched off).
    :param replay: recognizes played-back messages, which then start a new
        trace linked to the recorded one (the wrapper then takes the
        ``MessageInfo``, and hands it on only to a callback that takes it).
    :param header_field: the ``TracedHeader`` field of what rclpy hands over,
        when that is the message itself (not raw, not an envelope): read
        there first, in one step, in the common case.
    """
    enter = _make_enter(unpack, node_name, topic, logger, tracing, replay)
    if tracing and header_field is not None:
        enter = _make_header_enter(header_field, replay, enter)
    return entered_callback(callback, enter, needs_info=replay is not None)


def entered_callback(
    callback: Callable[..., Any], enter: Enter, *, needs_info: bool = False,
) -> Callable[..., Any]:
    """
    Return a subscription callback that runs ``callback`` as ``enter`` says, per message.

    ``enter(received, info)`` gets what rclpy hands over (the message, and the
    ``MessageInfo`` in a 1-tuple if rclpy gives one). With ``needs_info``,
    rclpy is made to give one, and it is handed on only to a callback that
    takes it. The wrapper keeps what rclpy inspects (see the module's doc).
    rclpy's ``EventsExecutor`` (Kilted) hands a callback that takes a
    ``MessageInfo`` one tuple ``(message, info)`` (messages are never
    tuples): the wrapper unpacks it, and the user's callback gets what it asked for.
    """
    needs_info = needs_info and not _takes_info(callback)
    handed = 0 if needs_info else None

    if inspect.iscoroutinefunction(callback):
        @functools.wraps(callback)
        async def run_coroutine_traced(received: Any, *info: Any) -> Any:
            if not info and type(received) is tuple:
                received, *info = received
            entered = enter(received, info)
            if entered is None:
                return None
            context, msg, span = entered
            error = None
            try:
                return await bind_coroutine(callback(msg, *info[:handed]), context)
            except BaseException as ex:
                error = ex
                raise
            finally:
                if span is not None:
                    spans.end(span, error)
        return _mark(_with_signature(run_coroutine_traced, needs_info))

    @functools.wraps(callback)
    def run_traced(received: Any, *info: Any) -> Any:
        if not info and type(received) is tuple:
            received, *info = received
        entered = enter(received, info)
        if entered is None:
            return None
        context, msg, span = entered
        error = None
        token = attach(context)
        try:
            return callback(msg, *info[:handed])
        except BaseException as ex:
            error = ex
            raise
        finally:
            detach(token)
            if span is not None:
                spans.end(span, error)
    return _mark(_with_signature(run_traced, needs_info))


def _takes_info(callback: Callable[..., Any]) -> bool:
    """Return whether rclpy hands ``callback`` a ``MessageInfo`` (it needs two arguments)."""
    try:
        inspect.signature(callback).bind(object())
    except TypeError:
        return True
    return False


def _with_signature(wrapper: F, needs_info: bool) -> F:
    """Make rclpy hand ``wrapper`` the ``MessageInfo`` if it needs it (:func:`traced_callback`)."""
    if needs_info:
        wrapper.__signature__ = _MESSAGE_AND_INFO  # type: ignore[attr-defined]
    return wrapper


def is_wrapped(callback: Callable[..., Any]) -> bool:
    """Return whether ``callback`` is already one of mtrace's wrappers."""
    return getattr(callback, WRAPPED_MARKER, None) is callback
