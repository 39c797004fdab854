"""
Measure what mtrace costs against plain rclpy, side by side in one run.

Usage: ``make bench`` (or, in the environment, ``python3 bench/run.py
[--quick] [--only GROUP,...] [--repeat N]``). Prints a table of medians and
ratios (traced / plain, or sink on / off) and writes it as markdown to
``bench/results/latest.md``.
"""

import argparse
import datetime
import importlib.metadata
import os
import pathlib
import platform
import shutil
import signal
import sys
import tempfile
import time
from typing import Callable
from typing import Dict
from typing import List

import action_cost
import children
import companion_path
import envelope_path
from harness import Row
from harness import table_lines
import latency
import logging_cost
import otel_bridge
import publish_cost
from rclpy.utilities import get_rmw_implementation_identifier
from ros_setup import bench_domain
from ros_setup import Session
import service_cost
import sinks
import task_cost
import throughput

RESULTS = pathlib.Path(__file__).parent / 'results' / 'latest.md'

GROUPS: Dict[str, Callable[..., List[Row]]] = {
    'publish': publish_cost.run,
    'throughput': throughput.run,
    'latency': latency.run,
    'envelope': envelope_path.run,
    'logging': logging_cost.run,
    'sinks': sinks.run,
    'tasks': task_cost.run,
    'otel': otel_bridge.run,
    'services': service_cost.run,
    'actions': action_cost.run,
    'companion': companion_path.run,
}


def _isolate() -> None:
    """Give the run a ROS domain of its own, localhost discovery and a throwaway log dir."""
    os.environ['ROS_DOMAIN_ID'] = str(bench_domain())
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.pop('ROS_STATIC_PEERS', None)
    os.environ['ROS_LOG_DIR'] = tempfile.mkdtemp(prefix='mtrace-bench-log-')


def _rclpy_version() -> str:
    try:
        return importlib.metadata.version('ros-rclpy')
    except importlib.metadata.PackageNotFoundError:
        return f"ROS {os.environ.get('ROS_DISTRO', '?')}"


def describe(args: argparse.Namespace) -> List[str]:
    """Return the lines saying where and how the figures were measured."""
    return [
        f'date: {datetime.datetime.now().isoformat(timespec="seconds")}',
        f'machine: {os.cpu_count()} CPUs, {platform.machine()}, Python '
        f'{platform.python_version()}, rclpy {_rclpy_version()}, '
        f'{get_rmw_implementation_identifier()}',
        f'repetitions: {args.repeat} per side, interleaved, after a warm-up; '
        f"{'quick' if args.quick else 'full'} sizes",
    ]


def parse_args(argv: List[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer messages per repetition (a smoke run)')
    parser.add_argument('--only', default=','.join(GROUPS),
                        help=f'comma-separated groups to run, of: {", ".join(GROUPS)}')
    parser.add_argument('--repeat', type=int, default=41,
                        help='repetitions per side (default: 41)')
    args = parser.parse_args(argv)
    args.groups = [name.strip() for name in args.only.split(',') if name.strip()]
    unknown = [name for name in args.groups if name not in GROUPS]
    if unknown:
        parser.error(f'unknown group(s) {", ".join(unknown)}; choose from {", ".join(GROUPS)}')
    if args.repeat < 1:
        parser.error('--repeat must be at least 1')
    return args


def main(argv: List[str]) -> int:
    """Run the chosen groups and print the table."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    _isolate()
    rows: List[Row] = []
    session = Session()
    try:
        for name in args.groups:
            started = time.monotonic()
            print(f'[bench] {name} ...', file=sys.stderr, flush=True)
            rows.extend(GROUPS[name](session, quick=args.quick, repeat=args.repeat))
            print(f'[bench] {name} done in {time.monotonic() - started:.1f} s',
                  file=sys.stderr, flush=True)
    finally:
        children.stop_all()
        session.close()
        shutil.rmtree(os.environ['ROS_LOG_DIR'], ignore_errors=True)
    about = describe(args)
    print('\n'.join(about + [''] + table_lines(rows, markdown=False)))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text('\n'.join(
        [f'- {line}' for line in about] + [''] + table_lines(rows, markdown=True)) + '\n')
    print(f'\n(written to {RESULTS})')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
