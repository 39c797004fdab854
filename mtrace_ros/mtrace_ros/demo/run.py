"""
Run the demo tree without launch_ros (``make demo``), as ``ros2 launch`` would.

Each node of :mod:`mtrace_ros.demo.topology` runs as its own OS process, from
the installed console_script, its output prefixed with its name. After the
given duration, or on Ctrl-C, SIGTERM or SIGHUP, every process is stopped,
one at a time from the root down (SIGINT, then SIGKILL for a straggler), and
a summary says how many traces the root started, which nodes logged each of a
few of them, and the trees rebuilt from their spans.
A runner killed outright (SIGKILL) leaves no node behind: each watches a
pipe from the runner, and stops itself when the pipe closes.
"""

import argparse
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Set
from typing import TextIO
from typing import Tuple

from ament_index_python.packages import get_package_prefix

from mtrace_ros.analysis.browser import find_chromium
from mtrace_ros.analysis.browser import screenshot
from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
from mtrace_ros.demo.stopping import stop_signals_blocked
from mtrace_ros.demo.topology import DEFAULT_RATE_HZ
from mtrace_ros.demo.topology import DemoNode
from mtrace_ros.demo.topology import ENV_RUNNER_FD
from mtrace_ros.demo.topology import NODES
from mtrace_ros.demo.topology import PACKAGE
from mtrace_ros.demo.topology import rate_problem

TRACE_ID = re.compile(r'trace_id=([0-9a-f]{32})')
STOP_TIMEOUT_SEC = 10.0
SUMMARY_TRACES = 3
#: Signals that stop the runner as Ctrl-C does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class NodeProcess:
    """One demo node's process, and the trace ids found in its output."""

    def __init__(self, spec: DemoNode, index: int, args: List[str], env: Dict[str, str],
                 out: TextIO, out_lock: threading.Lock, pass_fds: Tuple[int, ...] = ()) -> None:
        self.spec = spec
        self.label = f'[{spec.name}-{index}]'
        self.trace_ids: Set[str] = set()
        # A process group of its own: a terminal's Ctrl-C reaches only the
        # runner, which stops the nodes once, in order. Stop signals start
        # blocked: one sent while the node still imports waits for its handler.
        with stop_signals_blocked():
            self.popen = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                text=True, errors='replace', bufsize=1, process_group=0, pass_fds=pass_fds)
        self._reader = threading.Thread(target=self._read, args=(out, out_lock), daemon=True)
        self._reader.start()

    def _read(self, out: TextIO, out_lock: threading.Lock) -> None:
        for line in self.popen.stdout:
            self.trace_ids.update(TRACE_ID.findall(line))
            with out_lock:
                out.write(f'{self.label} {line}')
                out.flush()

    @property
    def stopped_cleanly(self) -> bool:
        """Return whether the process exited 0, or on the SIGINT it was sent."""
        return self.popen.returncode in (0, -signal.SIGINT)

    def interrupt(self) -> None:
        """Ask the node to stop, as Ctrl-C would."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)

    def reap(self, deadline: float) -> int:
        """Wait for the process until ``deadline``, kill it after; return its exit code."""
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(STOP_TIMEOUT_SEC)
        return self.popen.returncode


def _command(spec: DemoNode, rate: float) -> List[str]:
    executable = pathlib.Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / spec.executable
    command = [str(executable)]
    if spec.subscribes is None:
        command += ['--ros-args', '-p', f'rate:={float(rate)}']  # a DOUBLE, even for 40
    return command


def run_tree(duration_sec: float, rate: float, spans_dir: pathlib.Path,
             out: TextIO = sys.stdout,
             on_started: Optional[Callable[[List[NodeProcess]], None]] = None,
             span_topic: bool = False,
             ) -> List[NodeProcess]:
    """
    Run every node for ``duration_sec`` (or until Ctrl-C); return the stopped processes.

    ``on_started`` is called once every process is started, so that a caller
    (the soak run) can watch them while they run. With ``span_topic``, spans
    also go to the span topic (for a recording).
    """
    out_lock = threading.Lock()
    processes: List[NodeProcess] = []
    # Only this process holds the write end: when it dies, however, every node reads EOF.
    watched, held = os.pipe()
    restore = _interrupt_on(STOP_SIGNALS[1:])
    try:
        # Leaves first, root last: the first traces find their subscribers ready.
        # Labels number the nodes in topology order, as a launch file would.
        for spec in reversed(NODES):
            index = NODES.index(spec) + 1
            env = dict(os.environ, PYTHONUNBUFFERED='1', **{ENV_RUNNER_FD: str(watched)})
            sinks = f'jsonl:{spans_dir / spec.name}.jsonl' + (',topic' if span_topic else '')
            env.setdefault('MTRACE_SINKS', sinks)
            processes.append(NodeProcess(
                spec, index, _command(spec, rate), env, out, out_lock, pass_fds=(watched,)))
        if on_started is not None:
            on_started(processes)
        deadline = time.monotonic() + duration_sec
        while time.monotonic() < deadline and all(p.popen.poll() is None for p in processes):
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        # Stopping is not interrupted by a second signal: each node gets STOP_TIMEOUT_SEC.
        # One at a time, root first: no new trace starts, every node handles what
        # reached it, and no node tears its DDS participant down while a peer's
        # endpoints are leaving (Fast DDS 3.2 can hang there: see demo.stopping).
        # A node that had to be killed leaves its peers only when its lease expires,
        # at any time: the rest are then stopped at once.
        ignored = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        order = processes[::-1]  # started leaves first
        for index, process in enumerate(order):
            process.interrupt()
            if process.reap(time.monotonic() + STOP_TIMEOUT_SEC) == -signal.SIGKILL:
                rest = order[index + 1:]
                for other in rest:
                    other.interrupt()
                deadline = time.monotonic() + STOP_TIMEOUT_SEC
                for other in rest:
                    other.reap(deadline)
                break
        os.close(watched)
        os.close(held)
        for sig, handler in ignored.items():
            signal.signal(sig, handler)
        restore()
    return processes


def _interrupt_on(signals: Tuple[int, ...]) -> Callable[[], None]:
    """Make ``signals`` raise KeyboardInterrupt, as SIGINT does; return the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore


class Coverage(NamedTuple):
    """Which nodes logged each trace the root started, and ids it never started."""

    root: NodeProcess
    #: Trace id -> names of the nodes that logged it, in topology order.
    seen_by: Dict[str, List[str]]
    #: Traces logged by every node of the tree.
    complete: List[str]
    #: Trace ids some node logged that the root never started (a mix-up).
    foreign: Set[str]


def coverage(processes: List[NodeProcess]) -> Coverage:
    """Return which nodes logged each of the root's traces (from their output)."""
    root = next(p for p in processes if p.spec.subscribes is None)
    names = [spec.name for spec in NODES]
    seen_by = {
        trace_id: [p.spec.name for p in sorted(processes, key=lambda p: names.index(p.spec.name))
                   if trace_id in p.trace_ids]
        for trace_id in root.trace_ids}
    complete = [trace for trace, nodes in seen_by.items() if len(nodes) == len(NODES)]
    foreign = set().union(*(p.trace_ids for p in processes)) - root.trace_ids
    return Coverage(root, seen_by, complete, foreign)


def summarize(processes: List[NodeProcess], spans_dir: pathlib.Path, out: TextIO) -> int:
    """Print which nodes logged the root's traces, and their span trees; return complete ones."""
    root, seen_by, complete, foreign = coverage(processes)
    out.write(f'\n=== summary: {len(root.trace_ids)} traces started by {root.spec.name}, '
              f'{len(complete)} logged by all {len(NODES)} nodes'
              f'{f", {len(foreign)} trace ids not started by the root" if foreign else ""}\n')
    for trace_id in sorted(seen_by)[:SUMMARY_TRACES]:
        out.write(f'trace {trace_id}: logged by {", ".join(seen_by[trace_id])}\n')
    _print_trees(spans_dir, complete[:SUMMARY_TRACES], out)
    for process in processes:
        if not process.stopped_cleanly:
            out.write(f'{process.label} exited with code {process.popen.returncode}\n')
    return len(complete)


def _read_forest(spans_dir: pathlib.Path) -> Forest:
    """Return the traces of the nodes' JSON Lines span files."""
    lines: List[bytes] = []
    for path in sorted(spans_dir.glob('*.jsonl')):
        lines.extend(path.read_bytes().splitlines())
    return Forest(read_records(lines)[0])


def _print_trees(spans_dir: pathlib.Path, trace_ids: List[str], out: TextIO) -> None:
    """Print the span trees of ``trace_ids`` from the nodes' JSON Lines span files."""
    forest = _read_forest(spans_dir)
    chosen = [trace for trace in forest.traces if trace.trace_id in trace_ids]
    if chosen:
        out.write('\n=== span trees (as `mtrace tree` prints them)\n')
        out.write(render_text(forest, chosen) + '\n')


def write_page(forest: Forest, page: pathlib.Path, out: TextIO) -> None:
    """Write the run's HTML page and, if Chromium is installed, a screenshot of its summary."""
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_html(forest, title='mtrace demo'), encoding='utf-8')
    out.write(f'\n=== HTML page: {page}\n')
    chromium = find_chromium()
    if chromium is None:
        out.write('(no screenshot: Chromium is not installed)\n')
        return
    png = page.with_suffix('.png')
    try:
        screenshot(chromium, page, png)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        out.write(f'(no screenshot: {error})\n')
        return
    out.write(f'=== screenshot of its summary: {png}\n')


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo tree; return 0 when every node stopped cleanly."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--duration', type=float, default=10.0,
                        help='seconds to run before stopping every node (default: 10)')
    parser.add_argument('--rate', type=float, default=DEFAULT_RATE_HZ,
                        help=f'traces per second started by the root (default: {DEFAULT_RATE_HZ})')
    parser.add_argument('--record', metavar='DIR', default=None,
                        help='record the run (span topic on) into the rosbag2 directory DIR')
    parser.add_argument('--html', type=pathlib.Path, default=None, metavar='PAGE',
                        help='also write the HTML page of the run (and, with Chromium, '
                             'a PNG screenshot of its summary next to it)')
    args = parser.parse_args(argv)
    problem = rate_problem(args.rate)
    if problem is not None:
        print(f'mtrace demo: --rate: {problem}', file=sys.stderr)
        return 2
    recorder = None if args.record is None else start_recorder(args.record)
    with tempfile.TemporaryDirectory(prefix='mtrace-demo-') as spans_dir:
        processes = run_tree(args.duration, args.rate, pathlib.Path(spans_dir),
                             span_topic=recorder is not None)
        summarize(processes, pathlib.Path(spans_dir), sys.stdout)
        if args.html is not None:
            write_page(_read_forest(pathlib.Path(spans_dir)), args.html, sys.stdout)
    recorded = recorder is None or stop_recorder(recorder, args.record)
    return 0 if recorded and all(p.stopped_cleanly for p in processes) else 1


def start_recorder(directory: str) -> subprocess.Popen:
    """Start ``mtrace record -o DIR`` and wait until it records the span topic and /rosout."""
    recorder = subprocess.Popen(
        [sys.executable, '-c', 'import sys; from mtrace_ros.cli.main import main; '
         'sys.exit(main())', 'record', '-o', directory],
        stderr=subprocess.PIPE, text=True, process_group=0)
    for line in recorder.stderr:
        sys.stderr.write(line)
        if 'recording /rosout' in line or 'exists already' in line:
            break
    threading.Thread(target=lambda: sys.stderr.writelines(recorder.stderr), daemon=True).start()
    return recorder


def stop_recorder(recorder: subprocess.Popen, directory: str) -> bool:
    """Stop the recorder as Ctrl-C would; say how to open the recording; return whether it did."""
    time.sleep(0.5)  # the last spans are still on their way
    recorder.send_signal(signal.SIGINT)
    try:
        recorder.wait(STOP_TIMEOUT_SEC)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait()
    if recorder.returncode != 0:
        print(f'mtrace record exited with code {recorder.returncode}', file=sys.stderr)
        return False
    print(f'\n=== recorded into {directory} (rosbag2, MCAP); open it with:\n'
          f'    mtrace tree {directory}\n    mtrace html {directory} -o traces.html')
    return True


if __name__ == '__main__':
    sys.exit(main())
