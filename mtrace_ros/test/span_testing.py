"""Helpers for span tests: an in-memory sink, clean sink state, publishing until received."""

import threading
from typing import Any
from typing import Callable
from typing import Dict
from typing import List

from conftest import DEADLINE_SEC
from conftest import spin_until
import pytest
from rclpy.executors import Executor

from mtrace_ros import close_sinks
from mtrace_ros import spans


class ListSink:
    """A span sink that keeps the record (``to_dict()``) of every span submitted to it."""

    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []
        self._lock = threading.Lock()

    def submit(self, span: spans.Span) -> None:
        with self._lock:
            self.records.append(span.to_dict())

    def close(self) -> None:
        pass


@pytest.fixture
def recorded():
    """Record every span of the test in a list of records; yield the list."""
    sink = ListSink()
    spans.add_sink(sink)
    yield sink.records
    spans.remove_sink(sink)


@pytest.fixture
def sinks_closed():
    """Close every sink the test configured when it ends."""
    yield
    close_sinks(timeout_sec=2.0)


def publish_until(
    executor: Executor, publish: Callable[[], None], predicate: Callable[[], bool],
    timeout_sec: float = DEADLINE_SEC,
) -> bool:
    """Publish and spin until ``predicate()`` holds (volatile QoS drops what precedes matching)."""
    def published_and_done() -> bool:
        if predicate():
            return True
        publish()
        return False
    return spin_until(executor, published_and_done, timeout_sec)


def by_trace(records: List[Dict[str, Any]], trace_id: str) -> List[Dict[str, Any]]:
    """Return the records of one trace."""
    return [record for record in records if record['trace_id'] == trace_id]
