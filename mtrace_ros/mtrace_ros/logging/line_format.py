"""
The text trace ids are written in: a format split around the user's message.

The message is never used as a format string (it may contain ``{}`` or
``%s``): the format is split at ``{message}`` into a head and a tail, which are
filled in once per trace context and concatenated around the message. A
format without ``{message}`` is a prefix: the message follows it.
"""

import string
from typing import List
from typing import Tuple

from mtrace_ros.core.context import TraceContext

DEFAULT_FORMAT = 'trace_id={trace_id} span_id={span_id} {message}'
_ID_FIELDS = ('trace_id', 'span_id')
_SAMPLE_IDS = {'trace_id': '0' * 32, 'span_id': '0' * 16}


def _escape(literal: str) -> str:
    return literal.replace('{', '{{').replace('}', '}}')


def _split(fmt: str) -> Tuple[str, str]:
    """Return the templates before and after ``{message}``, or raise ValueError saying why."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError as ex:
        raise ValueError(f'log format {fmt!r} is malformed: {ex}') from None
    parts: List[List[str]] = [[]]
    for literal, field, spec, conversion in fields:
        parts[-1].append(_escape(literal))
        if field is None:
            continue
        if field == 'message':
            if spec or conversion:
                raise ValueError(f'log format {fmt!r}: {{message}} takes no conversion or spec')
            parts.append([])
        elif field in _ID_FIELDS:
            parts[-1].append(
                '{' + field + ('!' + conversion if conversion else '')
                + (':' + spec if spec else '') + '}')
        else:
            raise ValueError(
                f'log format {fmt!r} has the field {{{field}}}; it may use only '
                '{trace_id}, {span_id} and {message}')
    if len(parts) > 2:
        raise ValueError(f'log format {fmt!r} may contain {{message}} only once')
    if len(parts) == 1:
        parts.append([])
    head, tail = (''.join(part) for part in parts)
    try:
        head.format(**_SAMPLE_IDS)
        tail.format(**_SAMPLE_IDS)
    except (ValueError, TypeError) as ex:
        raise ValueError(f'log format {fmt!r} is malformed: {ex}') from None
    return head, tail


class LogFormat:
    """A validated log format; :meth:`apply` puts a context's ids around a message."""

    __slots__ = ('text', '_head', '_tail', '_memo_key')

    def __init__(self, fmt: str = DEFAULT_FORMAT) -> None:
        """
        Parse ``fmt``.

        :raises ValueError: if ``fmt`` has ``{message}`` twice, or uses a field
            other than ``{trace_id}``, ``{span_id}``, ``{message}``.
        """
        self.text = fmt
        self._head, self._tail = _split(fmt)
        # Per format, so that a context's cached text never outlives a change of format.
        self._memo_key = 'log_format:' + fmt

    def parts(self, trace_id: str, span_id: str) -> Tuple[str, str]:
        """Return the text that goes before and after the message for these ids."""
        return (
            self._head.format(trace_id=trace_id, span_id=span_id),
            self._tail.format(trace_id=trace_id, span_id=span_id))

    def _context_parts(self, context: TraceContext) -> Tuple[str, str]:
        return self.parts(context.trace_id, context.span_id)

    def apply(self, context: TraceContext, message: str) -> str:
        """Return ``message`` with the ids of ``context`` (computed once per context)."""
        head, tail = context.memo(self._memo_key, self._context_parts)
        return head + message + tail
