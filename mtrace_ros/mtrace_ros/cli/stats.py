"""Report latency per edge and per path across traces: p50, p90, p99, max, worst hop."""

import argparse
import json
import sys

from mtrace_ros.analysis.stats import compute
from mtrace_ros.analysis.stats import render_text
from mtrace_ros.analysis.stats import to_json
from mtrace_ros.cli.span_files import add_span_file_arguments
from mtrace_ros.cli.span_files import load_traces


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stats`` arguments."""
    add_span_file_arguments(parser)
    parser.add_argument(
        '--path', metavar='NODES', default=None,
        help='only this path, as comma-separated node names from the root, e.g. a,b,d')
    parser.add_argument(
        '--json', action='store_true', help='print JSON (times in integer nanoseconds)')


def main(args: argparse.Namespace) -> int:
    """Print the statistics of the selected traces; return 1 if there was no trace."""
    forest, traces, _ = load_traces(args, 'stats')
    if not traces:
        print('mtrace stats: no trace to measure', file=sys.stderr)
        return 1
    path = None
    if args.path is not None:
        path = [name.strip() for name in args.path.split(',') if name.strip()]
        if not path:
            print('mtrace stats: --path needs node names, e.g. a,b,d', file=sys.stderr)
            return 2
    stats = compute(forest, traces, path)
    if args.json:
        json.dump(to_json(stats), sys.stdout, indent=1)
        sys.stdout.write('\n')
    else:
        sys.stdout.write(render_text(stats))
    return 0
