"""
Read span records (JSON Lines, as ``mtrace collect`` writes them) and check them.

Span files come from other processes and other hosts, may be cut short or
concatenated, and may hold anything. Every line is checked field by field;
a line that is not a usable span is reported with its line number and
skipped, and never stops the reading of the rest. Text is kept as it is:
whoever shows it escapes it (:func:`mtrace_ros.core.text.printable`).

Besides spans, ``mtrace collect`` writes a marker each time it matches a
span publisher (:data:`MATCHED_KEY`): spans sent before that moment never
reached it, so what they would have shown is unobservable, not lost.
"""

import json
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Tuple

from mtrace_ros.core.text import echo
from mtrace_ros.core.text import ECHO_LIMIT
from mtrace_ros.core.text import printable
from mtrace_ros.export.schema import INT_MAX
from mtrace_ros.export.schema import INT_MIN
from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import RecordError
from mtrace_ros.export.schema import SpanRecord

#: The key of the marker ``mtrace collect`` writes when it matches a span publisher:
#: ``{"mtrace_collect": "publisher matched", "publishers": N, "time_ns": T}``.
MATCHED_KEY = 'mtrace_collect'
MATCHED = 'publisher matched'
# Longer JSON integers are refused unparsed (Python refuses 4,300 digits, slowly); shorter
# ones out of the 64-bit range are refused naming their field.
_INT_CHARS = 100


class BadLine(NamedTuple):
    """A line that was skipped, and why."""

    number: int
    reason: str


class SpanFile(NamedTuple):
    """What a span file holds: span records, skipped lines, and when the collector matched."""

    records: List[SpanRecord]
    bad: List[BadLine]
    #: Wall-clock ns of each :data:`MATCHED_KEY` marker, in file order.
    matched_ns: List[int]


def read_records(lines: Iterable[bytes]) -> Tuple[List[SpanRecord], List[BadLine]]:
    """Parse JSON Lines; return the usable records and the lines that were skipped."""
    span_file = read_span_file(lines)
    return span_file.records, span_file.bad


def _parse_int(text: str) -> int:
    """Turn a JSON integer into an int, refusing thousands of digits before Python does."""
    if len(text) > _INT_CHARS:
        raise RecordError(f'an integer of {len(text)} digits is out of the 64-bit range')
    return int(text)


def _matched_ns(value: Dict[str, Any]) -> int:
    if value[MATCHED_KEY] != MATCHED:
        raise RecordError(
            f"unknown '{MATCHED_KEY}' marker {echo(str(value[MATCHED_KEY]), 60)}")
    time_ns = value.get('time_ns')
    if type(time_ns) is not int or not INT_MIN <= time_ns <= INT_MAX:
        raise RecordError(f"'time_ns' must be int, got {printable(repr(time_ns), 60)}")
    return time_ns


def read_span_file(lines: Iterable[bytes]) -> SpanFile:
    """
    Parse JSON Lines: span records and collector markers; name every line skipped.

    Blank lines are ignored. A span id seen again in the same trace (a file
    collected twice, say) keeps its first record.
    """
    records: List[SpanRecord] = []
    bad: List[BadLine] = []
    matched_ns: List[int] = []
    seen = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode('utf-8'), parse_int=_parse_int)
            if isinstance(value, dict) and MATCHED_KEY in value:
                matched_ns.append(_matched_ns(value))
                continue
            record = record_from_dict(value)
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
        except ValueError as error:  # whatever else json refuses
            bad.append(BadLine(number, f'not usable JSON ({printable(str(error), ECHO_LIMIT)})'))
            continue
        key = (record.trace_id, record.span_id)
        if key in seen:
            bad.append(BadLine(number, f'span {record.span_id} repeated in its trace'))
            continue
        seen.add(key)
        records.append(record)
    return SpanFile(records, bad, matched_ns)
