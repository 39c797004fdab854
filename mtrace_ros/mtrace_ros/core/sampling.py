"""
Head sampling: which new traces record spans, decided once, at their root.

A trace's decision is its W3C *sampled* flag: made when the root is opened,
then carried in every ``TracedHeader`` and ``traceparent``, so every hop of
the trace follows it (parent-based). An unsampled trace still has its ids
in headers and log lines; only its spans are not recorded.

* ``MTRACE_SAMPLE_RATIO`` (or the ``mtrace.sample_ratio`` parameter
  override of a ``TracedNode``): the share of new traces sampled, 0 to 1,
  decided from the trace id as OpenTelemetry's ``TraceIdRatioBased`` does
  (its lower 64 bits against ``ratio * 2**64``), so every process and tool
  agrees on one trace.
* ``MTRACE_SPAN_RATE_LIMIT``: at most this many new traces sampled per second
  in the process, a safety valve for kHz topics. It applies only where a
  trace starts, never in the middle of one.

Both are read when a process's first trace starts, when a ``TracedNode`` is
created, and by :func:`configure_sampling`; never on each message.
"""

import logging
import math
import os
import threading
import time
from typing import Any
from typing import Optional

from mtrace_ros.core.settings import ENV_SAMPLE_RATIO
from mtrace_ros.core.settings import ENV_SPAN_RATE_LIMIT
from mtrace_ros.core.settings import SAMPLE_RATIO_PARAMETER

_ID_SPACE = 1 << 64
_logger = logging.getLogger(__name__)


class _Sampler:
    """A ratio bound on the trace id, and a token bucket for new sampled traces."""

    def __init__(self, ratio: float, rate_limit: Optional[float]) -> None:
        self.ratio = ratio
        self.rate_limit = rate_limit
        self._bound = round(ratio * _ID_SPACE)
        self._tokens = rate_limit or 0.0
        self._refilled = time.monotonic()
        self._lock = threading.Lock()

    def sample(self, trace_id: bytes) -> bool:
        if int.from_bytes(trace_id[8:], 'big') >= self._bound:
            return False
        return self.rate_limit is None or self._take_token()

    def _take_token(self) -> bool:
        rate = self.rate_limit
        assert rate is not None
        with self._lock:
            now = time.monotonic()
            # A bucket of one second's worth: bursts up to the rate, then the rate.
            self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


_sampler: Optional[_Sampler] = None


def _number(text: Optional[str], name: str, low: float, high: float) -> Optional[float]:
    """Return ``text`` as a number in ``[low, high]``, ``None`` if unset; raise naming ``name``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a number, got {text!r:.40}') from None
    if not (low <= value <= high) or math.isnan(value):
        raise ValueError(f'{name} must be between {low:g} and {high:g}, got {value:g}')
    return value


def configure_sampling(
    ratio: Optional[float] = None, rate_limit: Optional[float] = None,
) -> None:
    """
    Set the process's head sampling; unset arguments come from the environment.

    :param ratio: share of new traces sampled (0 to 1); default
        ``MTRACE_SAMPLE_RATIO``, else 1.
    :param rate_limit: most new traces sampled per second; default
        ``MTRACE_SPAN_RATE_LIMIT``, else no limit.
    :raises ValueError: for a value out of range, naming its source.
    """
    global _sampler
    if ratio is None:
        ratio = _number(os.environ.get(ENV_SAMPLE_RATIO), ENV_SAMPLE_RATIO, 0.0, 1.0)
    else:
        ratio = _number(ratio, 'ratio', 0.0, 1.0)
    if rate_limit is None:
        rate_limit = _number(
            os.environ.get(ENV_SPAN_RATE_LIMIT), ENV_SPAN_RATE_LIMIT, 0.0, math.inf)
    else:
        rate_limit = _number(rate_limit, 'rate_limit', 0.0, math.inf)
    _sampler = _Sampler(1.0 if ratio is None else ratio, rate_limit)


def configure_node_sampling(node: Any, parameter_ratio: Any) -> None:
    """
    Apply the environment and a node's ``mtrace.sample_ratio`` override; warn, never raise.

    The override wins over ``MTRACE_SAMPLE_RATIO``. A process has one sampler:
    the last node created with an override sets its ratio.
    """
    try:
        configure_sampling(
            None if parameter_ratio is None
            else _number(parameter_ratio, f'parameter {SAMPLE_RATIO_PARAMETER}', 0.0, 1.0))
    except ValueError as ex:
        node.get_logger().warning(f'mtrace: {ex}; sampling every trace')
        configure_sampling(1.0, None)


def sample_root(trace_id: bytes) -> bool:
    """Return whether a new trace with this id records spans."""
    sampler = _sampler
    if sampler is None:
        try:
            configure_sampling()
        except ValueError as ex:
            # Bad settings must not stop a node: say so once, record everything.
            _logger.warning('mtrace: %s; sampling every trace', ex)
            configure_sampling(1.0, None)
        sampler = _sampler
        assert sampler is not None
    if sampler.ratio >= 1.0 and sampler.rate_limit is None:
        return True
    return sampler.sample(trace_id)
