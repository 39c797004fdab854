"""
Soak: run the demo tree for minutes and check that it stays correct and flat.

Usage: ``make soak`` (``SOAK_DURATION=120``), or in the environment
``python3 bench/soak.py [--duration SEC] [--rate HZ]``. The six demo nodes run
as processes (:func:`mtrace_ros.demo.run.run_tree`, spans to JSON Lines files
in a temporary directory) while each node's RSS is sampled. At the end it
checks that no node logged a trace id the root never started, that most traces
reached all six nodes, that no node's RSS grew past a limit after the warm-up,
and that every node ran to the end and left no process behind. Exits 1 if a
check fails. Bounded: the nodes are stopped after ``--duration`` and killed
:data:`STOP_TIMEOUT_SEC` later at most.
"""

import argparse
import dataclasses
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time
from typing import Dict
from typing import List
from typing import Optional
import uuid

from mtrace_ros.demo.run import coverage
from mtrace_ros.demo.run import NodeProcess
from mtrace_ros.demo.run import run_tree
from mtrace_ros.demo.run import STOP_TIMEOUT_SEC
from mtrace_ros.demo.topology import NODES
from mtrace_ros.testing.domains import pick_domain

#: Below this a run is a quick check, not a soak (the reliability issue's bound).
SOAK_MIN_SEC = 60.0
#: RSS is compared from the first sample after a warm-up: this, or a quarter of the run
#: if longer, or a third of a short run. Measured: a node's RSS climbs for its first ~600
#: traces (b, the async node, by up to 8 MiB), then stays flat but for ~1 MiB allocator steps.
WARMUP_SEC = 20.0
#: A node's RSS may grow by this much after the warm-up. Measured (bench/README.md): at
#: most 3.7 MiB over 120 s at 20 Hz, 3 MiB over 70 s at 40 Hz, in ~1 MiB steps that level
#: off. A leak of 4 KiB per trace (a span or context kept per trace) adds 9 MiB per 2,400
#: traces (120 s at 20 Hz); longer runs catch smaller leaks, as the limit does not scale.
MAX_GROWTH_MIB = 8.0
#: Traces started just before the stop, or before discovery matched, miss some nodes.
MIN_COMPLETE = 0.90
#: Environment variable marking the run's processes, to find any left behind.
MARKER = 'MTRACE_SOAK_RUN'
#: Samples end this long before the nodes are stopped, so that none sees a node stopping.
STOP_MARGIN_SEC = 0.5


@dataclasses.dataclass
class Sample:
    """The RSS of each live node (KiB, by label) at ``elapsed`` seconds into the run."""

    elapsed: float
    traces: int
    rss_kib: Dict[str, int]


class RssSampler:
    """Sample each node's RSS from /proc every ``interval_sec`` until the tree is stopped."""

    def __init__(self, interval_sec: float, duration_sec: float) -> None:
        self.interval_sec = interval_sec
        self.duration_sec = duration_sec
        self.samples: List[Sample] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, processes: List[NodeProcess]) -> None:
        """Start sampling ``processes`` (run_tree's ``on_started`` hook)."""
        self._thread = threading.Thread(
            target=self._run, args=(processes, time.monotonic()), name='soak-rss', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the sampler thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def all_ran_to_the_end(self) -> bool:
        """Return whether every sample saw every node, up to the last interval of the run."""
        return bool(self.samples) and all(
            len(s.rss_kib) == len(NODES) for s in self.samples) and (
            self.samples[-1].elapsed >= self.duration_sec - self.interval_sec - STOP_MARGIN_SEC)

    def _run(self, processes: List[NodeProcess], started: float) -> None:
        root = coverage(processes).root
        while not self._stop.wait(self.interval_sec):
            elapsed = time.monotonic() - started
            # run_tree starts its clock after this hook: samples before this
            # margin are taken while every node should still be running.
            if elapsed > self.duration_sec - STOP_MARGIN_SEC:
                return
            rss = {p.label: kib for p in processes if (kib := _rss_kib(p.popen.pid)) is not None
                   and p.popen.poll() is None}
            self.samples.append(Sample(elapsed, len(root.trace_ids), rss))


def _rss_kib(pid: int) -> Optional[int]:
    """Return the resident set size of ``pid`` in KiB, or None once it is gone."""
    try:
        status = pathlib.Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return None


def _left_behind(marker: str) -> List[int]:
    """Return the pids of live processes but this one whose environment holds ``marker``."""
    pids = []
    for proc in pathlib.Path('/proc').glob('[0-9]*'):
        try:
            pid = int(proc.name)
            if pid != os.getpid() and marker.encode() in (proc / 'environ').read_bytes():
                pids.append(pid)
        except OSError:
            pass  # gone meanwhile, or not ours to read
    return pids


def _isolate() -> str:
    """Give the children a ROS domain of their own, localhost discovery and a marker."""
    os.environ['ROS_DOMAIN_ID'] = str(pick_domain('110-200'))  # or MTRACE_TEST_DOMAINS
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.pop('ROS_STATIC_PEERS', None)
    os.environ[MARKER] = uuid.uuid4().hex
    return f'{MARKER}={os.environ[MARKER]}'


def _memory_rows(samples: List[Sample], warmup_sec: float) -> List[List[str]]:
    """Return per node: RSS at the first sample after warm-up, at the last one, growth."""
    warm = next((s for s in samples if s.elapsed >= warmup_sec), None)
    if warm is None or warm is samples[-1]:
        return []
    last = samples[-1]
    traces = last.traces - warm.traces
    rows = []
    for spec in NODES:
        label = next(label for label in warm.rss_kib if label.startswith(f'[{spec.name}-'))
        if label not in last.rss_kib:
            continue
        growth = last.rss_kib[label] - warm.rss_kib[label]
        per_k = growth / traces * 1000 if traces else float('nan')
        rows.append([label, f'{warm.rss_kib[label] / 1024:.1f}',
                     f'{last.rss_kib[label] / 1024:.1f}', f'{growth / 1024:+.2f}',
                     f'{per_k:+.1f}'])
    return rows


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    cells = [header] + rows
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = ['  '.join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.insert(1, '  '.join('-' * width for width in widths))
    return lines


def parse_args(argv: List[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--duration', type=float, default=120.0,
                        help=f'seconds to run the tree (default: 120; a soak is > '
                             f'{SOAK_MIN_SEC:g}, shorter runs are a quick check)')
    parser.add_argument('--rate', type=float, default=20.0,
                        help='traces per second started by the root (default: 20)')
    parser.add_argument('--interval', type=float, default=5.0,
                        help='seconds between RSS samples (default: 5)')
    parser.add_argument('--max-growth-mib', type=float, default=MAX_GROWTH_MIB,
                        help='RSS growth per node allowed after warm-up '
                             f'(default: {MAX_GROWTH_MIB:g})')
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error('--duration, --rate and --interval must be positive')
    return args


def main(argv: List[str]) -> int:
    """Run the soak and print the results; return 1 if a check failed."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    marker = _isolate()
    warmup_sec = min(max(WARMUP_SEC, args.duration / 4), args.duration / 3)
    kind = 'soak' if args.duration > SOAK_MIN_SEC else f'quick check (<= {SOAK_MIN_SEC:g} s)'
    print(f'[soak] {kind}: {args.duration:g} s at {args.rate:g} Hz (nodes killed '
          f'{STOP_TIMEOUT_SEC:g} s after at most), ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]}, '
          f'RSS every {args.interval:g} s after a {warmup_sec:g} s warm-up',
          file=sys.stderr, flush=True)
    sampler = RssSampler(args.interval, args.duration)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='mtrace-soak-') as spans_dir, \
            open(os.devnull, 'w') as devnull:
        try:
            processes = run_tree(args.duration, args.rate, pathlib.Path(spans_dir), devnull,
                                 on_started=sampler.start)
        finally:
            sampler.stop()
        span_bytes = sum(path.stat().st_size for path in pathlib.Path(spans_dir).glob('*.jsonl'))
    elapsed = time.monotonic() - started
    leftover = _left_behind(marker)

    root, _, complete, foreign = coverage(processes)
    started_count = len(root.trace_ids)
    complete_share = len(complete) / started_count if started_count else 0.0
    rows = _memory_rows(sampler.samples, warmup_sec)
    worst = max((float(row[3]) for row in rows), default=float('nan'))
    died = [f'{p.label} exit {p.popen.returncode}' for p in processes if not p.stopped_cleanly]

    print(f'traces started by {root.label}: {started_count}')
    print(f'traces logged by all {len(NODES)} nodes: {len(complete)} ({complete_share:.1%})')
    print(f'foreign trace ids (logged, never started by the root): {len(foreign)}')
    print(f'span files: {span_bytes / 1024 / 1024:.1f} MiB; '
          f'RSS samples: {len(sampler.samples)}; wall time: {elapsed:.1f} s')
    print()
    print('\n'.join(_table(
        ['node', 'RSS warm MiB', 'RSS last MiB', 'growth MiB', 'KiB / 1000 traces'], rows)))
    print()
    checks = [
        ('no foreign trace ids', not foreign, f'{len(foreign)} found'),
        (f'>= {MIN_COMPLETE:.0%} of traces reach all {len(NODES)} nodes',
         complete_share >= MIN_COMPLETE, f'{complete_share:.1%}'),
        (f'RSS growth <= {args.max_growth_mib:g} MiB per node after warm-up',
         bool(rows) and len(rows) == len(NODES) and worst <= args.max_growth_mib,
         f'worst {worst:+.2f} MiB' if rows else 'too few samples after warm-up'),
        ('every node ran to the end and stopped cleanly',
         sampler.all_ran_to_the_end() and not died,
         ', '.join(died) or 'a node was gone before the end'),
        ('no process left behind', not leftover, f'pids {leftover}'),
    ]
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}{'' if ok else f' ({detail})'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
