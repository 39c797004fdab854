"""
Test support shipped with mtrace: an in-memory exporter and a pytest fixture.

Named and shaped as OpenTelemetry's test support
(``opentelemetry.sdk.trace.export.in_memory_span_exporter``): plug an
:class:`InMemorySpanExporter` into the sink seam and read back every span your
code recorded. The pytest fixture ``mtrace_span_exporter`` (registered through
the ``pytest11`` entry point, in :mod:`mtrace_ros.testing.pytest_plugin`) does
that for one test. Importing :mod:`mtrace_ros` never imports this package or
pytest.
"""

import threading
from typing import List
from typing import Sequence
from typing import Tuple

from mtrace_ros.export.schema import SpanRecord


class InMemorySpanExporter:
    """Keep every exported span record in memory, for tests."""

    def __init__(self) -> None:
        """Start empty."""
        self.name = 'in-memory'
        self._lock = threading.Lock()
        self._records: List[SpanRecord] = []
        self._stopped = False

    def export(self, records: Sequence[SpanRecord]) -> bool:
        """Keep ``records``; return ``False`` once shut down."""
        with self._lock:
            if self._stopped:
                return False
            self._records.extend(records)
        return True

    def get_finished_spans(self) -> Tuple[SpanRecord, ...]:
        """Return every record kept so far, in the order the spans ended."""
        with self._lock:
            return tuple(self._records)

    def clear(self) -> None:
        """Forget every record kept so far."""
        with self._lock:
            self._records.clear()

    def shutdown(self) -> None:
        """Stop taking records."""
        self._stopped = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True: records are kept as they are exported."""
        return True


__all__ = ['InMemorySpanExporter']
