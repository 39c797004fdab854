"""
What a trace context is, and which one is active.

A :class:`TraceContext` names one span of one trace, in the W3C Trace Context
model: the 16-byte trace id shared by everything one input caused, the 8-byte
id of the current span, the span it came from, and the sampled flag.

The active context lives in one :class:`contextvars.ContextVar`. rclpy's
executors do nothing with ``contextvars``, so mtrace's callback wrappers set it
at the start of each callback and reset it in ``finally`` (see
:mod:`mtrace_ros.instrumentation.callbacks`); :func:`attach` and
:func:`detach` are that pair.

OpenTelemetry shares this context when it is in use: once a module of the
process has imported ``opentelemetry`` (found in ``sys.modules``, never
imported here), :func:`attach` also makes the mtrace span OpenTelemetry's
current span, and a new trace continues an active OpenTelemetry span (see
:mod:`mtrace_ros.instrumentation.otel_context`). ``MTRACE_OTEL_BRIDGE=0``
switches that off. A process that never imports OpenTelemetry pays one
dictionary look-up per callback for it.
"""

from contextvars import ContextVar
import importlib
import sys
from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional

from mtrace_ros.core import ids
from mtrace_ros.core.settings import ENV_OTEL_BRIDGE
from mtrace_ros.core.settings import switched_on

#: W3C trace flag: spans of this trace are recorded.
FLAG_SAMPLED = 0x01

_MISSING = object()


class TraceContext:
    """
    One span of one trace: immutable, cheap to create, hashable.

    Ids are kept as bytes (the wire form) and shown as lowercase hex (the W3C
    and log form). Create one with :func:`mtrace_ros.start_trace`, or let a
    traced callback create the child of a received message's context.
    """

    __slots__ = (
        '_trace_id', '_span_id', '_parent_span_id', '_flags', 'span', '_cache',
    )

    def __init__(
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: Optional[bytes] = None,
        flags: int = FLAG_SAMPLED,
        span: Any = None,
    ) -> None:
        """
        Create a context from raw ids; use the factory functions instead.

        :param trace_id: 16 bytes, not all zero.
        :param span_id: 8 bytes, not all zero.
        :param parent_span_id: 8 bytes, or ``None`` for a root span.
        :param flags: W3C trace flags (bit 0: sampled).
        :param span: the span being recorded for this context, if any
            (see :mod:`mtrace_ros.export.spans`).
        """
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent_span_id = parent_span_id
        self._flags = flags
        self.span = span
        # Made on the first memo(): most contexts of a hop never need one.
        self._cache: Optional[Dict[str, Any]] = None

    @property
    def trace_id(self) -> str:
        """Return the trace id: 32 lowercase hex characters."""
        return self._trace_id.hex()

    @property
    def span_id(self) -> str:
        """Return this span's id: 16 lowercase hex characters."""
        return self._span_id.hex()

    @property
    def parent_span_id(self) -> Optional[str]:
        """Return the parent span's id (16 hex characters), or ``None`` for a root."""
        parent = self._parent_span_id
        return None if parent is None else parent.hex()

    @property
    def trace_id_bytes(self) -> bytes:
        """Return the trace id as the 16 bytes that travel in a ``TracedHeader``."""
        return self._trace_id

    @property
    def span_id_bytes(self) -> bytes:
        """Return the span id as the 8 bytes that travel in a ``TracedHeader``."""
        return self._span_id

    @property
    def parent_span_id_bytes(self) -> Optional[bytes]:
        """Return the parent span id as 8 bytes, or ``None`` for a root span."""
        return self._parent_span_id

    @property
    def flags(self) -> int:
        """Return the W3C trace flags byte."""
        return self._flags

    @property
    def sampled(self) -> bool:
        """Return whether spans of this trace are recorded (W3C flag bit 0)."""
        return bool(self._flags & FLAG_SAMPLED)

    @property
    def is_root(self) -> bool:
        """Return whether this span has no parent in this trace."""
        return self._parent_span_id is None

    @property
    def traceparent(self) -> str:
        """Return the W3C ``traceparent`` header value of this span."""
        return f'00-{self._trace_id.hex()}-{self._span_id.hex()}-{self._flags:02x}'

    def memo(self, key: str, make: Callable[['TraceContext'], Any]) -> Any:
        """
        Return ``make(self)``, computed once per context and key.

        For derived forms that the hot path needs on every publish or log line
        (wire arrays, log prefixes): a context lives as long as one callback.
        """
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        # get() rather than catching KeyError: a miss is the common case of a
        # root context, and raising costs more than computing the value.
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = cache[key] = make(self)
        return value

    def child(self, *, span: Any = None) -> 'TraceContext':
        """Return a new span of the same trace whose parent is this span."""
        return TraceContext(
            self._trace_id, ids.new_span_id(), self._span_id, self._flags, span)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceContext):
            return NotImplemented
        return (self._trace_id, self._span_id, self._parent_span_id, self._flags) == (
            other._trace_id, other._span_id, other._parent_span_id, other._flags)

    def __hash__(self) -> int:
        return hash((self._trace_id, self._span_id))

    def __repr__(self) -> str:
        return (
            f'TraceContext(trace_id={self.trace_id!r}, span_id={self.span_id!r}, '
            f'parent_span_id={self.parent_span_id!r}, sampled={self.sampled})')


def new_root(flags: int = FLAG_SAMPLED, *, span: Any = None) -> TraceContext:
    """Return the root span of a new trace with fresh random ids."""
    return TraceContext(ids.new_trace_id(), ids.new_span_id(), None, flags, span)


_CURRENT: ContextVar[Optional[TraceContext]] = ContextVar('mtrace_current', default=None)


def current_trace() -> Optional[TraceContext]:
    """Return the active trace context, or ``None`` outside any trace."""
    return _CURRENT.get()


_OTEL_MODULE = 'opentelemetry.context'
_BRIDGE_MODULE = 'mtrace_ros.instrumentation.otel_context'
# None: OpenTelemetry not seen yet; False: bridge off; else the bridge module.
_bridge: Any = None


def _load_bridge() -> Any:
    """Return the bridge once OpenTelemetry is loaded (False if off or broken), else None."""
    global _bridge
    if _OTEL_MODULE not in sys.modules:
        return None
    bridge: Any = False
    if switched_on(ENV_OTEL_BRIDGE):
        try:
            bridge = importlib.import_module(_BRIDGE_MODULE)
        except Exception:  # an OpenTelemetry too old or broken: mtrace works without it
            bridge = False
    _bridge = bridge
    return bridge


def attach(context: Optional[TraceContext]) -> Any:
    """Make ``context`` the active one; pass the token to :func:`detach` when done."""
    token = _CURRENT.set(context)
    bridge = _bridge
    if context is None or bridge is False:
        return token
    if bridge is None:
        if _OTEL_MODULE not in sys.modules:  # the common case, without a call
            return token
        bridge = _load_bridge()
        if not bridge:
            return token
    return token, bridge, bridge.attach(context)


def detach(token: Any) -> None:
    """Restore the context that was active before the matching :func:`attach`."""
    if type(token) is tuple:
        token, bridge, otel_token = token
        bridge.detach(otel_token)
    _CURRENT.reset(token)


def otel_parent() -> Optional[TraceContext]:
    """Return the active OpenTelemetry span as the parent of a new span, if there is one."""
    bridge = _bridge
    if bridge is None:
        if _OTEL_MODULE not in sys.modules:  # the common case, without a call
            return None
        bridge = _load_bridge()
    return bridge.active_parent() if bridge else None


__all__ = [
    'FLAG_SAMPLED',
    'TraceContext',
    'attach',
    'current_trace',
    'detach',
    'new_root',
    'otel_parent',
]
