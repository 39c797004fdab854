"""What several verbs share: reading a span file and choosing traces."""

import argparse
import sys
from typing import List
from typing import Tuple

from mtrace_ros.analysis.records import read_span_file
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import Trace
from mtrace_ros.core.text import printable


def add_span_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the span file argument and the trace selection options."""
    parser.add_argument(
        'file', metavar='FILE',
        help="span file in JSON Lines, as written by 'mtrace collect'; '-' reads stdin")
    parser.add_argument(
        '--trace', metavar='ID', default='',
        help='only traces whose id starts with ID')
    parser.add_argument(
        '--limit', metavar='N', type=_non_negative, default=None,
        help='at most N traces (the earliest)')


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a count >= 0, got {value}')
    return value


def load_traces(args: argparse.Namespace, command: str) -> Tuple[Forest, List[Trace]]:
    """
    Read ``args.file``, warn on stderr about each skipped line, and select traces.

    :raises RuntimeError: if the file cannot be read.
    """
    try:
        if args.file == '-':
            span_file = read_span_file(sys.stdin.buffer)
        else:
            with open(args.file, 'rb') as stream:
                span_file = read_span_file(stream)
    except OSError as error:
        raise RuntimeError(f'cannot read {args.file}: {error.strerror}') from None
    name = '<stdin>' if args.file == '-' else printable(args.file)
    for line in span_file.bad:
        print(f'mtrace {command}: {name}:{line.number}: {line.reason}; line skipped',
              file=sys.stderr)
    forest = Forest(span_file.records, span_file.matched_ns)
    return forest, forest.select(args.trace, args.limit)
