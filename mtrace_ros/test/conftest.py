"""
Shared fixtures: isolated ROS domains, rclpy contexts, nodes and child processes.

Every test gets its own ROS_DOMAIN_ID with localhost-only discovery, so that
test runs on one machine never see each other. Waits poll with deadlines.
"""

import importlib.util
import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

from mtrace_msgs.msg import Span as SpanMessage
from mtrace_ros import close_sinks
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.action import ActionClient
from mtrace_ros.core.compat import ROSOUT_QOS
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.testing import InMemorySpanExporter
from mtrace_ros.testing.domains import pick_domain
from nodes.action_node import Counter  # noqa: I100 (test-local module)
import pytest
from rcl_interfaces.msg import Log
import rclpy
from rclpy.action import ActionClient as RclpyActionClient
from rclpy.context import Context
from rclpy.executors import Executor
from rclpy.executors import MultiThreadedExecutor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# Batches leave after 0.1 s instead of the default 5 s, so that tests waiting for spans (in
# this process and the nodes it starts) stay quick; batching itself is tested with defaults.
os.environ.setdefault('MTRACE_SINK_SCHEDULE_DELAY_MS', '100')
os.environ.pop('ROS_STATIC_PEERS', None)

#: Tests that need the optional OpenTelemetry packages (pinned in requirements.txt, so
#: always present under `make test`). On a ROS 2 install without them they are not
#: collected, and the report header says so.
OPENTELEMETRY_TESTS = [
    'test_otel_interop.py', 'test_sinks_otlp.py', 'test_otel_bridge.py',
    'test_otel_conventions.py']


def _missing(module: str) -> bool:
    try:
        return (importlib.util.find_spec(module.split('.')[0]) is None
                or importlib.util.find_spec(module) is None)
    except ImportError:  # a blocked or broken install
        return True


OPENTELEMETRY_MISSING = [
    module for module in ('opentelemetry.sdk', 'opentelemetry.proto', 'grpc')
    if _missing(module)]
collect_ignore = OPENTELEMETRY_TESTS if OPENTELEMETRY_MISSING else []
if not OPENTELEMETRY_MISSING:
    # The local OTLP receivers, as fixtures of every test module.
    from otlp_receiver import otlp_grpc  # noqa: F401
    from otlp_receiver import otlp_http  # noqa: F401


def pytest_report_header(config):
    """Say which tests were left out for lack of OpenTelemetry, if any."""
    if OPENTELEMETRY_MISSING:
        return (f'mtrace: {", ".join(OPENTELEMETRY_MISSING)} not installed: not collecting '
                f'{", ".join(OPENTELEMETRY_TESTS)} (pip install -r requirements.txt)')
    return None


NODES_DIR = pathlib.Path(__file__).parent / 'nodes'
#: Discovery between processes usually takes ~50 ms, sometimes 2 s; allow 10.
DEADLINE_SEC = 10.0
#: An action server has five endpoints to match; under a full suite on 2 loaded cores rclpy's
#: wait_for_server (polling every 0.25 s) twice needed more than DEADLINE_SEC.
SERVER_DEADLINE_SEC = 3 * DEADLINE_SEC

_domain_counter = itertools.count()


def next_domain_id() -> int:
    """
    Return a domain id unlikely to be used by another test run on this machine.

    ``MTRACE_TEST_DOMAINS=LO-HI`` confines a run to those ids, for test runs
    that go on side by side on one machine (default 1-100).
    """
    return pick_domain('1-100', next(_domain_counter))


@pytest.fixture
def domain_id(monkeypatch: pytest.MonkeyPatch) -> int:
    """Give the test (and the processes it starts) a domain of its own."""
    domain = next_domain_id()
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    return domain


@pytest.fixture
def ros_context(domain_id: int):
    """Yield an initialized rclpy Context on the test's domain; shut it down after."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    yield context
    context.try_shutdown()


@pytest.fixture
def make_node(ros_context: Context):
    """Return a factory of nodes in the test's context, destroyed after the test."""
    nodes = []

    def make(node_class: Callable = Node, name: str = 'test_node', **kwargs):
        node = node_class(name, context=ros_context, **kwargs)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()


@pytest.fixture
def executor(ros_context: Context):
    """Yield a SingleThreadedExecutor in the test's context."""
    executor = SingleThreadedExecutor(context=ros_context)
    yield executor
    executor.shutdown()


def spin_until(
    executor: Executor, predicate: Callable[[], bool], timeout_sec: float = DEADLINE_SEC,
) -> bool:
    """Spin ``executor`` until ``predicate()`` holds; return whether it did in time."""
    deadline = time.monotonic() + timeout_sec
    while not predicate():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
    return True


def wait_until(predicate: Callable[[], bool], timeout_sec: float = DEADLINE_SEC) -> bool:
    """Poll ``predicate()`` until it holds; return whether it did in time."""
    deadline = time.monotonic() + timeout_sec
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class ChildProcess:
    """A process started by a test, its output captured to a file."""

    def __init__(self, args: List[str], log_path: pathlib.Path, env: Dict[str, str]):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        self.popen = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)

    def output(self) -> str:
        """Return everything the process printed so far."""
        return self.log_path.read_text(errors='replace')

    def lines(self) -> List[str]:
        return self.output().splitlines()

    def records(self) -> List[Dict[str, Any]]:
        """Return the JSON objects the process printed, one a line (test/nodes/ scripts)."""
        return [json.loads(line) for line in self.lines() if line.startswith('{')]

    def stop(self, timeout_sec: float = 10.0) -> Optional[int]:
        """SIGINT the process group, then SIGKILL it if it lingers; return the exit code."""
        if self.popen.poll() is None:
            _signal_group(self.popen, signal.SIGINT)
            try:
                self.popen.wait(timeout_sec)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen, signal.SIGKILL)
                self.popen.wait(timeout_sec)
        _signal_group(self.popen, signal.SIGKILL)  # anything it left behind
        self._log.close()
        return self.popen.returncode


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def processes(domain_id: int, tmp_path: pathlib.Path):
    """Return a launcher of child processes; all are stopped when the test ends."""
    started: List[ChildProcess] = []

    def launch(args: List[str], name: str = 'child', env: Optional[Dict] = None):
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env['PYTHONUNBUFFERED'] = '1'
        child = ChildProcess(args, tmp_path / f'{name}-{len(started)}.log', child_env)
        started.append(child)
        return child

    yield launch
    for child in started:
        child.stop()


def node_script(name: str) -> List[str]:
    """Return the command that runs one of the test node scripts in test/nodes/."""
    return [sys.executable, str(NODES_DIR / name)]


def publish_until(
    executor: Executor, publish: Callable[[], None], predicate: Callable[[], bool],
    timeout_sec: float = DEADLINE_SEC,
) -> bool:
    """Publish and spin until ``predicate()`` holds (volatile QoS drops what precedes matching)."""
    def published_and_done() -> bool:
        if predicate():
            return True
        publish()
        return False
    return spin_until(executor, published_and_done, timeout_sec)


def publish_in_new_traces(publisher, count: int, prefix: str = '') -> Dict[str, Any]:
    """Publish ``count`` std_msgs/String, each in a new trace; return data -> publishing span."""
    roots = {}
    for index in range(count):
        with start_trace() as root:
            data = f'{prefix}{index}'
            roots[data] = root
            publisher.publish(String(data=data))
    return roots


def each_in_its_own_trace(received, roots) -> bool:
    """Return whether each (data, context) received ran as a child of its publishing span."""
    return all(context is not None and context.trace_id == roots[data].trace_id
               and context.parent_span_id == roots[data].span_id
               for data, context in received)


class RecordedSpans(Sequence[Dict[str, Any]]):
    """The spans an in-memory exporter received, as JSON Lines objects: a live view."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter
        self._dicts: List[Dict[str, Any]] = []

    def _current(self) -> List[Dict[str, Any]]:
        finished = self._exporter.get_finished_spans()
        if len(finished) < len(self._dicts):  # cleared
            self._dicts = []
        self._dicts += [record_to_dict(record) for record in finished[len(self._dicts):]]
        return self._dicts

    def __getitem__(self, index):
        return self._current()[index]

    def __iter__(self):
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def __eq__(self, other: object) -> bool:
        return self._current() == other


@pytest.fixture
def recorded(mtrace_span_exporter: InMemorySpanExporter) -> RecordedSpans:
    """Every span that ends during the test, as it ends (the shipped pytest fixture)."""
    return RecordedSpans(mtrace_span_exporter)


def collect_span_topic(node: Node) -> List[Dict[str, Any]]:
    """Subscribe ``node`` to the span topic; return the list its records are appended to."""
    received: List[Dict[str, Any]] = []
    node.create_subscription(
        SpanMessage, SPAN_TOPIC,
        lambda msg: received.append(record_to_dict(record_from_message(msg))), SPAN_QOS)
    return received


@pytest.fixture
def sinks_closed():
    """Close, when the test ends, every sink it configured."""
    yield
    close_sinks(timeout_sec=2.0)


@pytest.fixture
def action_pair(make_node, ros_context):
    """
    Return ``make(action_type, ...)``: a counting server and a client of ``count``, spinning.

    The server (``test/nodes/action_node.Counter``) runs on node ``counter``, the
    client on ``asker``, both in a MultiThreadedExecutor of the test's context.
    """
    executor = MultiThreadedExecutor(4, context=ros_context)
    started = []

    def make(action_type, coroutine=False, plain_server=False, plain_client=False):
        server_node = make_node(Node if plain_server else TracedNode, 'counter')
        client_node = make_node(Node if plain_client else TracedNode, 'asker')
        counter = Counter(
            server_node, action_type, 'count', coroutine=coroutine, plain=plain_server)
        client_class = RclpyActionClient if plain_client else ActionClient
        client = client_class(client_node, action_type, 'count')
        executor.add_node(server_node)
        executor.add_node(client_node)
        assert client.wait_for_server(SERVER_DEADLINE_SEC)
        spinner = threading.Thread(target=executor.spin)
        spinner.start()
        started.append(spinner)
        return counter, client

    yield make
    executor.shutdown()
    for spinner in started:
        spinner.join()


@pytest.fixture
def rosout(make_node, executor):
    """Return the /rosout lines seen by a listener node."""
    lines = []
    listener = make_node(name='rosout_listener')
    listener.create_subscription(Log, '/rosout', lines.append, ROSOUT_QOS)
    executor.add_node(listener)
    return lines
