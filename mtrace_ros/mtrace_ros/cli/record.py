"""Record traced topics, spans and /rosout into a rosbag2 recording (MCAP)."""

import argparse
import sys

from mtrace_ros.analysis.bag_recorder import record
from mtrace_ros.cli.collect import positive


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``record`` arguments."""
    parser.add_argument(
        '-o', '--output', metavar='DIR', required=True,
        help='recording directory to create (metadata.yaml and an .mcap file)')
    parser.add_argument(
        'topics', metavar='TOPIC', nargs='*',
        help='topics to record; default: every traced topic, the companion topics '
             '(<topic>/_mtrace), /mtrace/spans and /rosout')
    parser.add_argument(
        '--duration', metavar='SEC', type=positive(float), default=None,
        help='stop after SEC seconds')
    parser.epilog = (
        "Stops on Ctrl-C or SIGTERM. Open the recording with 'mtrace tree DIR'. "
        'ROS arguments go after --ros-args.')


def main(args: argparse.Namespace) -> int:
    """Record until stopped, then say what was recorded."""
    counts = record(args.output, args.topics, duration_sec=args.duration, args=args.ros_argv)
    total = sum(counts.values())
    print(f'mtrace record: {total} messages on {len(counts)} topics in {args.output}',
          file=sys.stderr)
    for topic, count in sorted(counts.items()):
        print(f'  {topic}: {count}', file=sys.stderr)
    print(f'open it with: mtrace tree {args.output}', file=sys.stderr)
    return 0
