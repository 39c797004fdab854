"""
The span API: add your own attributes, events and status to the span running now.

:func:`mtrace_ros.current_span` returns a handle on the active span (the
traced callback's, or the one a ``start_trace`` / ``continue_trace`` opened).
What is set through it travels with the span to every sink: the JSON Lines
fields ``attributes``, ``events`` and ``status``, the span topic, OTLP,
``mtrace tree`` and ``mtrace html``. The methods are OpenTelemetry's, so the
same calls work on ``opentelemetry.trace.get_current_span()`` inside a
traced callback. Outside a recorded span (no trace, no sink, an unsampled
trace) they do nothing, like OpenTelemetry's non-recording span.

Bad values never raise in a callback: each distinct problem is logged once,
as a warning, and the value is dropped.
"""

import logging
import threading
from typing import Any
from typing import Mapping
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.export import spans
from mtrace_ros.export.schema import AttributeValue

_logger = logging.getLogger('mtrace')
_warned = set()
_warned_lock = threading.Lock()
# Distinct problems logged at most; later ones are dropped silently.
_MAX_WARNINGS = 100


def _report(problem: Optional[str]) -> None:
    if problem is None:
        return
    with _warned_lock:
        if problem in _warned or len(_warned) >= _MAX_WARNINGS:
            return
        _warned.add(problem)
    _logger.warning('mtrace: current_span(): %s; ignored', problem)


def _status_code(status: Any) -> str:
    """Return ``ok``/``error``/``unset`` from a string or OpenTelemetry's ``StatusCode``."""
    return str(getattr(status, 'name', status)).lower()


class CurrentSpan:
    """
    A handle on one span: ``set_attribute``, ``add_event``, ``record_exception``, ``set_status``.

    Get it with :func:`mtrace_ros.current_span`; it stays bound to that span
    (calls after the span ended are ignored).
    """

    def __init__(self, context: Optional[TraceContext]) -> None:
        """Bind the handle to the span ``context`` records (``None``: a no-op handle)."""
        self._trace = context

    @property
    def trace(self) -> Optional[TraceContext]:
        """Return the trace context of the span (``None`` outside any trace)."""
        return self._trace

    def _span(self) -> Optional[spans.Span]:
        context = self._trace
        span = None if context is None else context.span
        return span if span is not None and span.end_ns is None else None

    def is_recording(self) -> bool:
        """Return whether what is set now is recorded (a sampled span, a sink, not ended)."""
        return self._span() is not None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set an attribute: str, bool, int, float, or a list of one of these."""
        span = self._span()
        if span is not None:
            _report(span.set_attribute(key, value))

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Set several attributes."""
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: Optional[Mapping[str, AttributeValue]] = None,
        timestamp: Optional[int] = None,
    ) -> None:
        """Note that something happened now (or at ``timestamp``, ns since the epoch)."""
        span = self._span()
        if span is not None:
            _report(span.add_event(name, attributes, timestamp))

    def record_exception(
        self, exception: BaseException,
        attributes: Optional[Mapping[str, AttributeValue]] = None,
        timestamp: Optional[int] = None, escaped: bool = False,
    ) -> None:
        """
        Add an ``exception`` event: ``exception.type``, ``.message``, ``.stacktrace``.

        This does not change the status (call :meth:`set_status` for that); an
        exception that leaves the callback is recorded by mtrace itself, once.
        ``escaped`` is accepted for OpenTelemetry's signature and ignored.
        """
        span = self._span()
        if span is not None:
            _report(span.record_exception(exception, attributes, timestamp))

    def set_status(self, status: Any, description: Optional[str] = None) -> None:
        """
        Set the status: ``'ok'``, ``'error'`` or ``'unset'``.

        OpenTelemetry's ``StatusCode`` and ``Status`` are accepted too. A
        description is kept for errors only, as OpenTelemetry does.
        """
        span = self._span()
        if span is None:
            return
        code = getattr(status, 'status_code', status)
        if description is None:
            description = getattr(status, 'description', None)
        _report(span.set_status(_status_code(code), description or ''))

    def __repr__(self) -> str:
        return f'CurrentSpan({self._trace!r}, recording={self.is_recording()})'


def current_span() -> CurrentSpan:
    """Return a handle on the span running now (one that does nothing outside a trace)."""
    return CurrentSpan(current_trace())
