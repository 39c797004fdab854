"""
Deep parent chains: ``mtrace tree`` and ``mtrace html`` in time and memory linear in spans.

Usage (in the environment): ``python3 bench/deep_chain.py [--spans N ...]``.
Writes one chain of N spans (each the parent of the next, the shape a hostile
publisher can send ``mtrace collect``), runs the installed ``mtrace tree`` and
``mtrace html`` on it as child processes, and prints each run's wall time,
peak RSS (from ``wait4``) and output size, with time and output per span:
flat per-span figures as N grows mean linear cost. Exits 1 if a run fails.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List

DEFAULT_SPANS = [5_000, 10_000, 20_000]
TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
BASE_NS = 1_700_000_000_000_000_000


def write_chain(path: pathlib.Path, spans: int) -> None:
    """Write ``spans`` records, each the child of the one before."""
    with open(path, 'w', encoding='utf-8') as stream:
        for index in range(spans):
            stream.write(json.dumps({
                'trace_id': TRACE_ID, 'span_id': f'{index + 1:016x}',
                'parent_span_id': f'{index:016x}' if index else None, 'node': f'n{index}',
                'topic': '/chain' if index else None, 'kind': 'receive' if index else 'root',
                'start_ns': BASE_NS + index * 1000, 'end_ns': BASE_NS + index * 1000 + 500,
                'latency_ns': 100 if index else None}) + '\n')


def measure(command: List[str], output: pathlib.Path) -> tuple:
    """Run ``command`` with stdout to ``output``; return (exit code, seconds, peak RSS MiB)."""
    started = time.perf_counter()
    with open(output, 'wb') as stream:
        child = subprocess.Popen(command, stdout=stream, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> int:
    """Measure each size; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--spans', type=int, nargs='+', default=DEFAULT_SPANS)
    args = parser.parse_args()
    mtrace = shutil.which('mtrace')
    if mtrace is None:
        print('mtrace is not on PATH: run make build and source activate.sh', file=sys.stderr)
        return 1
    print('| verb | spans | file MB | time s | us/span | peak RSS MiB | output MB | B/span |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    failed = False
    with tempfile.TemporaryDirectory(prefix='mtrace-chain-') as directory:
        for spans in args.spans:
            chain = pathlib.Path(directory) / f'chain{spans}.jsonl'
            write_chain(chain, spans)
            for verb, extra in (('tree', []), ('html', ['-o', '-'])):
                out = pathlib.Path(directory) / f'{verb}{spans}.out'
                code, seconds, rss = measure([mtrace, verb, str(chain), *extra], out)
                failed |= code != 0
                size = out.stat().st_size
                print(f'| {verb} | {spans:,} | {chain.stat().st_size / 1e6:.1f} | {seconds:.2f} '
                      f'| {seconds / spans * 1e6:.0f} | {rss:.0f} | {size / 1e6:.1f} '
                      f'| {size // spans} |' + (f' exit {code}' if code else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
