"""Write a self-contained HTML page with a waterfall and tree of each trace."""

import argparse
import os
import sys

from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.cli.span_files import add_span_file_arguments
from mtrace_ros.cli.span_files import load_traces


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``html`` arguments."""
    add_span_file_arguments(parser)
    parser.add_argument(
        '-o', '--output', metavar='OUT', required=True, help="HTML file to write; '-' for stdout")


def main(args: argparse.Namespace) -> int:
    """Write the page; return 1 if there was no trace to draw."""
    forest, traces, notes = load_traces(args, 'html')
    if not traces:
        print('mtrace html: no trace to show', file=sys.stderr)
        return 1
    name = os.path.basename(args.file) if args.file != '-' else 'stdin'
    page = render_html(forest, traces, title=f'mtrace: {name}', notes=notes)
    if args.output == '-':
        sys.stdout.write(page)
        return 0
    try:
        with open(args.output, 'w', encoding='utf-8') as stream:
            stream.write(page)
    except OSError as error:
        raise RuntimeError(f'cannot write {args.output}: {error.strerror}') from None
    print(f'mtrace html: wrote {len(traces)} traces to {args.output}', file=sys.stderr)
    return 0
