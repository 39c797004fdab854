"""
Read span records (JSON Lines, as ``mtrace collect`` writes them) and check them.

Span files come from other processes and other hosts, may be cut short or
concatenated, and may hold anything. Every line is checked field by field;
a line that is not a usable span is reported with its line number and
skipped, and never stops the reading of the rest.
"""

import json
import re
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Tuple

from mtrace_ros.core.ids import SPAN_ID_SIZE
from mtrace_ros.core.ids import TRACE_ID_SIZE

_HEX = re.compile(r'[0-9a-fA-F]+')
_TRACE_ID_DIGITS = 2 * TRACE_ID_SIZE
_SPAN_ID_DIGITS = 2 * SPAN_ID_SIZE


class Publish(NamedTuple):
    """A publish made inside a span."""

    topic: str
    subscriber_count: int


class Link(NamedTuple):
    """A link from a span to a span of another trace (fan-in)."""

    trace_id: str
    span_id: str


class SpanRecord(NamedTuple):
    """One checked span record; ids are lowercase hex, times integer nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: Optional[str]
    node: str
    topic: Optional[str]
    kind: str
    start_ns: int
    end_ns: int
    latency_ns: Optional[int]
    error: Optional[str]
    publishes: Tuple[Publish, ...]
    links: Tuple[Link, ...]


class BadLine(NamedTuple):
    """A line that was skipped, and why."""

    number: int
    reason: str


class RecordError(ValueError):
    """A JSON object that is not a usable span record; the message names the field."""


def _id(record: Dict[str, Any], key: str, digits: int, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) != digits or not _HEX.fullmatch(value):
        raise RecordError(f"'{key}' must be {digits} hex digits, got {value!r:.60}")
    value = value.lower()
    if value.strip('0'):
        return value
    if optional:
        return None  # an all-zero parent is the wire form of "no parent"
    raise RecordError(f"'{key}' is all zeros (an invalid id)")


def _typed(record: Dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    # bool is an int to Python, but never a time or a count.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RecordError(f"'{key}' must be {kind.__name__}, got {value!r:.60}")
    return value


def _list(record: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RecordError(f"'{key}' must be a list of objects, got {value!r:.60}")
    return value


def parse_record(record: Any) -> SpanRecord:
    """
    Check one decoded JSON value and return it as a :class:`SpanRecord`.

    Unknown keys are ignored; ``end_ns`` missing means the span has no known
    end and is taken as instantaneous.

    :raises RecordError: naming the first field that is missing or wrong.
    """
    if not isinstance(record, dict):
        raise RecordError(f'expected a JSON object, got {type(record).__name__}')
    start_ns = _typed(record, 'start_ns', int)
    end_ns = _typed(record, 'end_ns', int, optional=True)
    return SpanRecord(
        trace_id=_id(record, 'trace_id', _TRACE_ID_DIGITS),
        span_id=_id(record, 'span_id', _SPAN_ID_DIGITS),
        parent_span_id=_id(record, 'parent_span_id', _SPAN_ID_DIGITS, optional=True),
        node=_typed(record, 'node', str),
        topic=_typed(record, 'topic', str, optional=True),
        kind=_typed(record, 'kind', str),
        start_ns=start_ns,
        end_ns=start_ns if end_ns is None else end_ns,
        latency_ns=_typed(record, 'latency_ns', int, optional=True),
        error=_typed(record, 'error', str, optional=True),
        publishes=tuple(
            Publish(_typed(item, 'topic', str), _typed(item, 'subscriber_count', int))
            for item in _list(record, 'publishes')),
        links=tuple(
            Link(_id(item, 'trace_id', _TRACE_ID_DIGITS), _id(item, 'span_id', _SPAN_ID_DIGITS))
            for item in _list(record, 'links')),
    )


def read_records(lines: Iterable[bytes]) -> Tuple[List[SpanRecord], List[BadLine]]:
    """
    Parse JSON Lines; return the usable records and the lines that were skipped.

    Blank lines are ignored. A span id seen again in the same trace (a file
    collected twice, say) keeps its first record.
    """
    records: List[SpanRecord] = []
    bad: List[BadLine] = []
    seen = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = parse_record(json.loads(raw.decode('utf-8')))
        except UnicodeDecodeError:
            bad.append(BadLine(number, 'not UTF-8 text'))
            continue
        except json.JSONDecodeError as error:
            bad.append(BadLine(number, f'not JSON ({error.msg})'))
            continue
        except RecursionError:
            bad.append(BadLine(number, 'JSON nested too deeply'))
            continue
        except RecordError as error:
            bad.append(BadLine(number, str(error)))
            continue
        key = (record.trace_id, record.span_id)
        if key in seen:
            bad.append(BadLine(number, f'span {record.span_id} repeated in its trace'))
            continue
        seen.add(key)
        records.append(record)
    return records, bad
