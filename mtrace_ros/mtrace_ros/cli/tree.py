"""Print traces as indented trees: node, topic, per-hop latency, time taken, log lines."""

import argparse
import sys

from mtrace_ros.analysis.trees import render_text
from mtrace_ros.cli.span_files import add_span_file_arguments
from mtrace_ros.cli.span_files import load_traces


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tree`` arguments."""
    add_span_file_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Print the selected traces' trees; return 1 if there was none to print."""
    forest, traces, notes = load_traces(args, 'tree')
    if not traces:
        print('mtrace tree: no trace to show', file=sys.stderr)
        return 1
    sys.stdout.write(render_text(forest, traces, notes))
    return 0
