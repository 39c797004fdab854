"""
The ``mtrace_span_exporter`` pytest fixture (registered as the ``mtrace`` pytest11 plugin).

For a user's own tests: every span that ends during the test is exported
synchronously (no batching delay) to an :class:`InMemorySpanExporter`::

    def test_my_node(mtrace_span_exporter):
        ...  # run the node
        [span] = mtrace_span_exporter.get_finished_spans()
        assert span.node == 'my_node'
"""

from typing import Iterator

from mtrace_ros.export.registry import add_sink
from mtrace_ros.export.registry import remove_sink
from mtrace_ros.testing import InMemorySpanExporter
import pytest


@pytest.fixture
def mtrace_span_exporter() -> Iterator[InMemorySpanExporter]:
    """Yield an exporter that receives every span ending during the test, as it ends."""
    exporter = InMemorySpanExporter()
    processor = add_sink(exporter, synchronous=True)
    yield exporter
    remove_sink(processor)
