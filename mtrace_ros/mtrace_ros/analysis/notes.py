"""
Lines shown with a trace beside its spans: log lines under their span, remarks under a trace.

A span file holds only spans; a recording holds more (what each node logged
in a trace, hops whose topic was not recorded). The text and HTML views
show these :class:`Notes` under the span or the trace they belong to.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import Dict
from typing import List
from typing import Tuple


@dataclass
class Notes:
    """Text lines keyed by span (``(trace_id, span_id)``) and by trace id, in insertion order."""

    spans: Dict[Tuple[str, str], List[str]] = field(default_factory=dict)
    traces: Dict[str, List[str]] = field(default_factory=dict)

    def add_span(self, trace_id: str, span_id: str, text: str) -> None:
        """Note ``text`` under one span."""
        self.spans.setdefault((trace_id, span_id), []).append(text)

    def add_trace(self, trace_id: str, text: str) -> None:
        """Note ``text`` under a whole trace."""
        self.traces.setdefault(trace_id, []).append(text)

    def for_span(self, trace_id: str, span_id: str) -> List[str]:
        """Return the lines noted under one span."""
        return self.spans.get((trace_id, span_id), [])

    def for_trace(self, trace_id: str) -> List[str]:
        """Return the lines noted under a trace."""
        return self.traces.get(trace_id, [])


#: No notes: what a span file gives.
NO_NOTES = Notes()
