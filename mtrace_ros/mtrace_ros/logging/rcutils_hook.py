"""
Trace ids in the text of every line rclpy logs.

Every rclpy logger (``node.get_logger()``, its children,
``rclpy.logging.get_logger()``) ends in one call into rcutils,
``rclpy_logging_rcutils_log(severity, name, message, function, file, line)``,
made after the severity check and the ``once``/``throttle``/``skip_first``
filters and with the caller's location already found. Hooking that call,
rather than ``RcutilsLogger.log``, puts no mtrace frame between the user's
call and rclpy's caller lookup: filters stay keyed per call site, the reported
location stays the user's, lines that are filtered out cost nothing more, and
rclpy's caller lookup walks no extra frame (a wrapper around ``log`` adds one,
measured at +20-30% per line). rcutils then sends the text to every sink: the
console, ``/rosout`` and the log file.
"""

from typing import Any
from typing import Callable
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.logging.line_format import LogFormat
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.impl.rcutils_logger import _internal_callers
from rclpy.impl.rcutils_logger import RcutilsLogger

_format = LogFormat()
# rclpy's own function, kept once the hook is installed.
_rcutils_log: Optional[Callable[..., None]] = None


def log_format() -> LogFormat:
    """Return the format trace ids are written in."""
    return _format


def set_log_format(fmt: LogFormat) -> None:
    """Write trace ids in ``fmt`` from now on."""
    global _format
    _format = fmt


def _log_with_ids(
    severity: int, name: str, message: str, function_name: str, file_path: str,
    line_number: int,
) -> None:
    context = current_trace()
    if context is not None and message.__class__ is str:
        message = _format.apply(context, message)
    _rcutils_log(severity, name, message, function_name, file_path, line_number)


#: The rclpy function hooked: every rclpy logger's lines go through it.
HOOKED_SYMBOL = 'rclpy_logging_rcutils_log'
# The fallback when rclpy has no such symbol: RcutilsLogger.log, wrapped.
_rclpy_logger_log: Optional[Callable[..., bool]] = None


def install() -> bool:
    """
    Install the hook on rclpy's call into rcutils (once; later calls do nothing).

    Returns ``False`` when this rclpy has no such call: then
    :func:`install_fallback` must be used.
    """
    global _rcutils_log
    if _rcutils_log is None:
        hooked = getattr(_rclpy, HOOKED_SYMBOL, None)
        if hooked is None:
            return False
        _rcutils_log = hooked
        setattr(_rclpy, HOOKED_SYMBOL, _log_with_ids)
    return True


def install_fallback() -> None:
    """
    Put ids into lines by wrapping ``RcutilsLogger.log``: slower, one more frame per line.

    rclpy skips this file when it looks for the caller, so file, line and the
    once/throttle filters stay the user's.
    """
    global _rclpy_logger_log
    if _rclpy_logger_log is not None:
        return
    _rclpy_logger_log = RcutilsLogger.log

    def log(self: RcutilsLogger, message: Any, severity: Any, **kwargs: Any) -> bool:
        context = current_trace()
        if context is not None and message.__class__ is str:
            message = _format.apply(context, message)
        return _rclpy_logger_log(self, message, severity, **kwargs)

    RcutilsLogger.log = log
    if __file__ not in _internal_callers:
        _internal_callers.append(__file__)


def uninstall() -> None:
    """Give rclpy back its own functions: lines are written as they are."""
    global _rcutils_log, _rclpy_logger_log
    if _rcutils_log is not None:
        setattr(_rclpy, HOOKED_SYMBOL, _rcutils_log)
        _rcutils_log = None
    if _rclpy_logger_log is not None:
        RcutilsLogger.log = _rclpy_logger_log
        _rclpy_logger_log = None


def is_enabled_for(name: str, severity: int) -> bool:
    """Return whether the rcutils logger ``name`` logs lines of ``severity``."""
    return _rclpy.rclpy_logging_logger_is_enabled_for(name, severity)


def emit(
    severity: int, name: str, message: str, function_name: str, file_path: str,
    line_number: int,
) -> None:
    """Log a line into rcutils as it is, for callers that wrote the ids themselves."""
    log = _rcutils_log or getattr(_rclpy, HOOKED_SYMBOL, None)
    if log is not None:
        log(severity, name, message, function_name, file_path, line_number)
    else:  # an rclpy without that call: its own logger (the location is not the caller's)
        (_rclpy_logger_log or RcutilsLogger.log)(RcutilsLogger(name), message, severity)
