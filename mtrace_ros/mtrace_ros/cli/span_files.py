"""What several verbs share: reading a span file or a recording, and choosing traces."""

import argparse
import sys
from typing import List
from typing import NamedTuple

from mtrace_ros.analysis.bag_reader import is_recording
from mtrace_ros.analysis.bag_reader import read_recording
from mtrace_ros.analysis.notes import NO_NOTES
from mtrace_ros.analysis.notes import Notes
from mtrace_ros.analysis.records import read_span_file
from mtrace_ros.analysis.records import SpanFile
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import Trace
from mtrace_ros.core.text import printable


def add_span_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the span file argument and the trace selection options."""
    parser.add_argument(
        'file', metavar='FILE',
        help="span file in JSON Lines, as written by 'mtrace collect' ('-' reads stdin), "
             'or a rosbag2 recording: its directory, or its .mcap or .db3 file')
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


class Loaded(NamedTuple):
    """Every trace read, the selected ones, and the notes shown with them."""

    forest: Forest
    traces: List[Trace]
    notes: Notes


#: Skipped items of a recording reported one by one; the rest are counted.
MAX_REPORTED = 20


def load_traces(args: argparse.Namespace, command: str) -> Loaded:
    """
    Read ``args.file``, warn on stderr about each skipped line or message, and select traces.

    :raises RuntimeError: if the file cannot be read.
    """
    if args.file != '-' and is_recording(args.file):
        recording = read_recording(args.file)
        name = printable(args.file)
        for item in recording.skipped[:MAX_REPORTED]:
            print(f'mtrace {command}: {name}: {printable(item.where)}: {printable(item.reason)}',
                  file=sys.stderr)
        if len(recording.skipped) > MAX_REPORTED:
            print(f'mtrace {command}: {name}: '
                  f'{len(recording.skipped) - MAX_REPORTED} more skipped', file=sys.stderr)
        return _select(args, Forest(recording.records), recording.notes)
    span_file = _read_span_file(args, command)
    return _select(args, Forest(span_file.records, span_file.matched_ns), NO_NOTES)


def _select(args: argparse.Namespace, forest: Forest, notes: Notes) -> Loaded:
    return Loaded(forest, forest.select(args.trace, args.limit), notes)


def _read_span_file(args: argparse.Namespace, command: str) -> SpanFile:
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
    return span_file
