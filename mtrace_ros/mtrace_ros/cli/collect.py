"""Subscribe to the span topic and write each span as one JSON line."""

import argparse
import sys

from mtrace_ros.analysis.recorder import collect
from mtrace_ros.analysis.recorder import SPAN_TOPIC


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``collect`` arguments."""
    parser.add_argument(
        '-o', '--output', metavar='FILE', default='-',
        help='file to write (replaced if it exists); default: stdout')
    parser.add_argument(
        '--duration', metavar='SEC', type=positive(float), default=None,
        help='stop after SEC seconds')
    parser.add_argument(
        '--count', metavar='N', type=positive(int), default=None,
        help='stop after N spans')
    parser.epilog = (
        f'Reads {SPAN_TOPIC}. Stops on Ctrl-C or SIGTERM. '
        'ROS arguments go after --ros-args, e.g. --ros-args -r __node:=collector')


def positive(kind: type):
    """Return an argparse type: a number of ``kind`` above 0."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f'expected a number > 0, got {text}')
        return value
    return parse


def main(args: argparse.Namespace) -> int:
    """Collect until stopped; the spans go to ``args.output``."""
    try:
        if args.output == '-':
            written = collect(sys.stdout, count=args.count, duration_sec=args.duration,
                              args=args.ros_argv)
        else:
            with open(args.output, 'w', encoding='utf-8') as stream:
                written = collect(stream, count=args.count, duration_sec=args.duration,
                                  args=args.ros_argv)
    except OSError as error:
        raise RuntimeError(f'cannot write {args.output}: {error.strerror}') from None
    print(f'mtrace collect: {written} spans', file=sys.stderr)
    return 0
