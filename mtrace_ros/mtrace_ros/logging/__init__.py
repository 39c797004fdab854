# noqa: A005 (named like rclpy.logging, whose loggers it instruments)
"""
Trace ids in every log line: rclpy loggers, Python's ``logging``, and a bridge between them.

Inside a trace, every line logged through an rclpy logger carries the trace
and span ids in its text (by default ``trace_id=<32 hex> span_id=<16 hex>``
before the message), on every rcutils sink: the console, ``/rosout`` and the
log file. Records of Python's standard ``logging`` get the ids as attributes,
and :class:`RosLogHandler` forwards them into a ROS logger. Importing
:mod:`mtrace_ros` turns this on; lines logged outside any trace are unchanged.
"""

import logging
import os
from typing import Optional
from typing import Tuple
from typing import Union

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.settings import ENV_LOG_FORMAT
from mtrace_ros.logging import rcutils_hook
from mtrace_ros.logging import stdlib_records
from mtrace_ros.logging.line_format import DEFAULT_FORMAT
from mtrace_ros.logging.line_format import LogFormat
from rclpy.impl.logging_severity import LoggingSeverity
from rclpy.impl.rcutils_logger import RcutilsLogger
import rclpy.logging

#: The default format: ``trace_id=<32 hex> span_id=<16 hex> <message>``.
DEFAULT_LOG_FORMAT = DEFAULT_FORMAT
#: The value of a record's id attributes outside any trace (OpenTelemetry's).
NO_TRACE_ID = stdlib_records.NO_TRACE_ID

_configured = False


def _format_from_environment() -> Optional[LogFormat]:
    text = os.environ.get(ENV_LOG_FORMAT)
    if not text:
        return None
    try:
        return LogFormat(text)
    except ValueError as ex:
        rclpy.logging.get_logger('mtrace').warning(
            f'{ENV_LOG_FORMAT} ignored, using {DEFAULT_LOG_FORMAT!r}: {ex}')
        return None


def instrument_logging(fmt: Optional[str] = None) -> None:
    """
    Put trace ids into every log line logged inside a trace.

    Importing :mod:`mtrace_ros` already calls this; call it to choose the
    format. Calling it again is harmless: nothing is installed twice.

    :param fmt: how a line is written, with the fields ``{trace_id}``,
        ``{span_id}`` and ``{message}`` (literal text around them is kept;
        without ``{message}`` the format is put before the message; ids may
        take a format spec such as ``{trace_id:.8}``). ``None`` keeps the
        format in use, which at first is the ``MTRACE_LOG_FORMAT``
        environment variable, or
        :data:`DEFAULT_LOG_FORMAT`. ``'{message}'`` leaves rclpy's lines as they
        are (records still get the id attributes).
    :raises ValueError: if ``fmt`` is not such a format, saying why.
    """
    global _configured
    chosen = LogFormat(fmt) if fmt is not None else None
    if chosen is None and not _configured:
        chosen = _format_from_environment()
    if chosen is not None:
        rcutils_hook.set_log_format(chosen)
    _configured = True
    if not rcutils_hook.install():
        rclpy.logging.get_logger('mtrace').warning(
            f'this rclpy has no {rcutils_hook.HOOKED_SYMBOL}(): trace ids are put into log '
            'lines by wrapping RcutilsLogger.log instead (slower per line)')
        rcutils_hook.install_fallback()
    stdlib_records.install()


def uninstrument_logging() -> None:
    """
    Undo :func:`instrument_logging`: rclpy lines and ``logging`` records are left as they are.

    ``MTRACE_LOGGING=0`` keeps ``import mtrace_ros`` from instrumenting at all.
    """
    rcutils_hook.uninstall()
    stdlib_records.uninstall()


def ros_severity(levelno: int) -> LoggingSeverity:
    """Return the ROS severity of a standard ``logging`` level (the highest one not above it)."""
    # rcutils severities use the same numbers as logging: DEBUG 10 ... FATAL/CRITICAL 50.
    for severity in (LoggingSeverity.FATAL, LoggingSeverity.ERROR, LoggingSeverity.WARN,
                     LoggingSeverity.INFO):
        if levelno >= severity:
            return severity
    return LoggingSeverity.DEBUG


def _record_ids(record: logging.LogRecord) -> Optional[Tuple[str, str]]:
    """Return the (trace id, span id) a record was created in, or ``None`` outside a trace."""
    trace_id = getattr(record, 'trace_id', None)
    if trace_id is None:  # created by a record factory that replaced mtrace's
        context = current_trace()
        return None if context is None else (context.trace_id, context.span_id)
    if trace_id == NO_TRACE_ID:
        return None
    return trace_id, record.span_id


class RosLogHandler(logging.Handler):
    """
    A ``logging`` handler that forwards records into a ROS (rcutils) logger.

    Libraries that use Python's ``logging`` then reach the ROS console, the log
    file and (through a node's logger) ``/rosout``, with the trace ids of the
    trace the record was created in. Each line keeps the record's own file,
    function and line number. Levels map to the ROS severity at or below them
    (``CRITICAL`` to ``FATAL``), and the ROS logger's level still applies.

    .. code-block:: python

        logging.getLogger().addHandler(RosLogHandler(node.get_logger()))
    """

    def __init__(
        self, logger: Union[RcutilsLogger, str, None] = None, level: int = logging.NOTSET,
    ) -> None:
        """
        Create a handler.

        :param logger: the ROS logger (or its name) every record goes to; a node's
            logger also publishes to ``/rosout``. ``None``: the ROS logger named
            like the record's ``logging`` logger.
        :param level: the handler's ``logging`` level.
        """
        super().__init__(level)
        self._name = logger.name if isinstance(logger, RcutilsLogger) else logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record``'s formatted text into the ROS logger."""
        try:
            name = record.name if self._name is None else self._name
            severity = ros_severity(record.levelno)
            if not rcutils_hook.is_enabled_for(name, severity):
                return
            text = self.format(record)
            ids = _record_ids(record)
            if ids is not None:
                head, tail = rcutils_hook.log_format().parts(*ids)
                text = head + text + tail
            rcutils_hook.emit(
                severity, name, text, record.funcName, record.pathname, record.lineno)
        except Exception:
            self.handleError(record)


__all__ = [
    'DEFAULT_LOG_FORMAT',
    'NO_TRACE_ID',
    'RosLogHandler',
    'instrument_logging',
    'ros_severity',
]
