"""
Read span records (JSON Lines, as ``mtrace collect`` writes them) and check them.

Span files come from other processes and other hosts, may be cut short or
concatenated, and may hold anything. Every line is checked field by field;
a line that is not a usable span is reported with its line number and
skipped, and never stops the reading of the rest.
"""

import json
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Tuple

from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import RecordError
from mtrace_ros.export.schema import SpanRecord


class BadLine(NamedTuple):
    """A line that was skipped, and why."""

    number: int
    reason: str


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
            record = record_from_dict(json.loads(raw.decode('utf-8')))
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
