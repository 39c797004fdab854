"""
Rate-limited warnings about bad input: said once, counted always.

Messages come from other processes. When one carries no usable trace or
cannot be unwrapped, mtrace says so on the node's logger, once per topic and
problem and then at most once a minute with the count since, so that a
flood of bad messages neither goes unnoticed nor floods the log.
"""

import threading
import time
from typing import Dict
from typing import Tuple

from mtrace_ros.core.text import ECHO_LIMIT
from mtrace_ros.core.text import printable
from rclpy.impl.rcutils_logger import RcutilsLogger

REPEAT_INTERVAL_NS = 60 * 1_000_000_000
#: The longest detail said; outside strings within it are already cut to ECHO_LIMIT.
DETAIL_LIMIT = 4 * ECHO_LIMIT

_lock = threading.Lock()
# (logger name, topic, problem) -> [count, count when last logged, last logged at ns]
_seen: Dict[Tuple[str, str, str], list] = {}


def counts() -> Dict[Tuple[str, str, str], int]:
    """Return how often each (logger, topic, problem) was seen in this process."""
    with _lock:
        return {key: entry[0] for key, entry in _seen.items()}


def report(
    logger: RcutilsLogger, topic: str, problem: str, detail: str = '', *, error: bool = False,
) -> None:
    """
    Count one occurrence of ``problem`` on ``topic``; log it if due.

    :param problem: what kind of problem, a fixed text: occurrences are
        counted and rate-limited per topic and problem.
    :param detail: this occurrence's particulars (may come from the wire):
        escaped, and cut to :data:`DETAIL_LIMIT` characters.
    """
    key = (logger.name, topic, problem)
    now = time.monotonic_ns()
    with _lock:
        entry = _seen.get(key)
        if entry is None:
            entry = _seen[key] = [0, 0, now - REPEAT_INTERVAL_NS]
        entry[0] += 1
        if now - entry[2] < REPEAT_INTERVAL_NS:
            return
        since = entry[0] - entry[1]
        entry[1] = entry[0]
        entry[2] = now
    text = f'mtrace: {printable(topic)}: {problem}'
    if detail:
        text += f': {printable(detail, DETAIL_LIMIT)}'
    if since > 1:
        text += f' ({since} times since last report)'
    # rclpy fixes the severity of each call site at its first call: one site per severity.
    if error:
        logger.error(text)
    else:
        logger.warning(text)
