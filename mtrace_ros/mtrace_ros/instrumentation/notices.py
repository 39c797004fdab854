"""
Rate-limited warnings about bad input: said once, counted always.

Messages come from other processes. When one carries no usable trace or
cannot be unwrapped, mtrace says so on the node's logger, once per topic and
problem and then at most once a minute with the count since, so that a
flood of bad messages neither goes unnoticed nor floods the log.
"""

import re
import threading
import time
from typing import Dict
from typing import Tuple

from rclpy.impl.rcutils_logger import RcutilsLogger

REPEAT_INTERVAL_NS = 60 * 1_000_000_000
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')

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
    :param detail: this occurrence's particulars (may come from the wire).
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
    text = f'mtrace: {topic}: {problem}' + (f': {detail}' if detail else '')
    if since > 1:
        text += f' ({since} times since last report)'
    # Part of the text may come from the wire: escape control characters.
    text = _CONTROL.sub(lambda match: f'\\x{ord(match.group()):02x}', text)
    (logger.error if error else logger.warning)(text)
