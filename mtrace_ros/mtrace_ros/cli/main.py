"""``mtrace``: collect or record traces; trees, an HTML page, latency statistics."""

import argparse
import os
import sys
from typing import List
from typing import Optional

from mtrace_ros.cli import collect
from mtrace_ros.cli import html_page
from mtrace_ros.cli import record
from mtrace_ros.cli import stats
from mtrace_ros.cli import tree
from rclpy.utilities import remove_ros_args

VERBS = {
    'collect': collect, 'record': record, 'tree': tree, 'html': html_page, 'stats': stats}


def make_parser() -> argparse.ArgumentParser:
    """Return the parser of ``mtrace`` and its verbs (help: each verb module's first line)."""
    parser = argparse.ArgumentParser(
        prog='mtrace', description=__doc__.splitlines()[0].replace('``', ''))
    verbs = parser.add_subparsers(dest='verb', metavar='VERB')
    for name, module in VERBS.items():
        summary = module.__doc__.splitlines()[0]
        module.add_arguments(verbs.add_parser(name, help=summary, description=summary))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``mtrace``; with no verb, print help and return 0."""
    argv = sys.argv if argv is None else [sys.argv[0], *argv]
    parser = make_parser()
    args = parser.parse_args(remove_ros_args(args=argv)[1:])
    args.ros_argv = argv
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return VERBS[args.verb].main(args)
    except RuntimeError as error:
        print(f'mtrace {args.verb}: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`mtrace tree f | head`): not an error; silence the exit flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
