"""
Demo nodes stop, and exit 0, on SIGINT or SIGTERM wherever the signal finds them.

Under load, a node that got SIGINT while it still imported lost the
KeyboardInterrupt (raised inside importlib's weakref callback, "Exception
ignored") and spun on until the runner killed it; others exited 1 on rclpy's
own shutdown racing theirs. These tests send the signals at those moments:
during start-up, idle in the middleware's wait, and with service calls and action
goals in flight. A node stopped so delivers every span it ended on the span
topic: its topic sink is flushed before the context shuts down.
"""

import io
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import DEADLINE_SEC
from conftest import spin_until
from conftest import wait_until

from mtrace_msgs.msg import Span as SpanMsg
from mtrace_ros.analysis.records import read_records
from mtrace_ros.core.settings import ENV_SINK_BATCH_SIZE
from mtrace_ros.core.settings import ENV_SINK_SCHEDULE_DELAY_MS
from mtrace_ros.demo.nodes import message_type
from mtrace_ros.demo.run import _command
from mtrace_ros.demo.run import NodeProcess
from mtrace_ros.demo.topology import node_named
from mtrace_ros.demo.topology import NODES
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.export.schema import SpanRecord
import pytest


class Tree:
    """Demo nodes started as ``make demo`` starts them; their merged output."""

    def __init__(self, names, tmp_path, rate=20.0, **env_vars) -> None:
        self.out = io.StringIO()
        lock = threading.Lock()
        env = dict(os.environ, PYTHONUNBUFFERED='1', **env_vars)
        self.nodes = {}
        for name in names:
            spec = node_named(name)
            node_env = dict(env, MTRACE_SINKS=f'jsonl:{tmp_path / name}.jsonl,topic')
            self.nodes[name] = NodeProcess(
                spec, NODES.index(spec) + 1, _command(spec, rate), node_env, self.out, lock)

    def output(self) -> str:
        return self.out.getvalue()

    def stop(self, signals) -> dict:
        """Send nodes their signals; return their exit codes (-9: killed at the deadline)."""
        for name, sig in signals.items():
            self.nodes[name].popen.send_signal(sig)
        deadline = time.monotonic() + DEADLINE_SEC
        return {name: self.nodes[name].reap(deadline) for name in signals}


@pytest.fixture
def tree(domain_id, tmp_path):
    started = []

    def start(names, **kwargs):
        started.append(Tree(names, tmp_path, **kwargs))
        return started[-1]
    yield start
    for each in started:
        for node in each.nodes.values():
            node.popen.kill()
            node.popen.wait()


def test_nodes_stopped_while_they_still_start_exit_0(tree):
    nodes = tree([spec.name for spec in NODES])
    codes = nodes.stop(dict.fromkeys(nodes.nodes, signal.SIGINT))
    assert codes == dict.fromkeys(nodes.nodes, 0), nodes.output()
    assert 'Traceback' not in nodes.output()


def test_nodes_stop_idle_and_mid_call_and_mid_goal(tree, make_node):
    """For each message the test sends, e calls d's service and f sends d a goal; c idles."""
    nodes = tree(['c', 'd', 'e', 'f'])
    sender = make_node(name='stop_test_sender')
    publishers = [sender.create_publisher(message_type(topic), topic, 10)
                  for topic in ('/demo/b_to_e', '/demo/c_to_f')]

    def send() -> None:
        for publisher in publishers:
            publisher.publish(publisher.msg_type(data='x'))

    def answered() -> bool:
        send()
        output = nodes.output()
        return 'd answered' in output and 'd counted to' in output
    assert wait_until(answered, timeout_sec=2 * DEADLINE_SEC), nodes.output()
    # c got no message and its peers are all discovered: it sits in the middleware's
    # wait (it has no timer), where only the signal's wake-up can reach it.
    codes = nodes.stop({'c': signal.SIGINT})
    sent_all = threading.Event()

    def keep_sending() -> None:
        while not sent_all.wait(0.005):
            send()
    sender_thread = threading.Thread(target=keep_sending)
    sender_thread.start()
    try:
        # The signals find calls and goals under way: d is busy with them.
        served = nodes.output().count('counting to')
        assert wait_until(lambda: nodes.output().count('counting to') >= served + 3)
        # SIGTERM: what ros2 launch sends a node that ignored SIGINT.
        codes.update(nodes.stop({'d': signal.SIGINT, 'e': signal.SIGINT, 'f': signal.SIGTERM}))
    finally:
        sent_all.set()
        sender_thread.join()
    assert codes == {'c': 0, 'd': 0, 'e': 0, 'f': 0}, nodes.output()
    assert 'Traceback' not in nodes.output()


A_TO_B = '/demo/a_to_b'


def _key(record: SpanRecord) -> tuple:
    return record.trace_id, record.span_id


#: The root's topic sink exports in batches of this size only (no schedule): the
#: spans of the last, unfilled batch leave only if the stop flushes them.
BATCH = 8
#: Traces (one span each) the root starts per second: slow enough that the few ticks
#: between the test's look and the stop cannot fill the batch under way.
RATE_HZ = 4.0


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_node_delivers_every_span_it_ended_on_the_span_topic(
        tree, make_node, executor, tmp_path, sig):
    listener = make_node(name='stop_test_span_listener')
    received = set()
    listener.create_subscription(
        SpanMsg, SPAN_TOPIC, lambda msg: received.add(_key(record_from_message(msg))), SPAN_QOS)
    # a's root span of a tick ends right after its publish to b, which carries the trace id
    # (a's log lines may come late).
    ticks = []
    listener.create_subscription(
        message_type(A_TO_B), A_TO_B,
        lambda msg: ticks.append(msg.header.trace_id.tobytes().hex()), 100)
    executor.add_node(listener)
    nodes = tree(['a'], rate=RATE_HZ, **{
        ENV_SINK_BATCH_SIZE: str(BATCH), ENV_SINK_SCHEDULE_DELAY_MS: '600000'})

    def queued() -> int:
        """Count the ticks seen after the last one whose span was received (0: none seen)."""
        exported = {trace for trace, _ in received}
        last = max((i for i, trace in enumerate(ticks) if trace in exported), default=None)
        return 0 if last is None else len(ticks) - 1 - last
    # A full batch shows the sink's publisher reaches the listener; then stop the node
    # with spans queued (one per tick: no traced node receives a's messages here).
    assert spin_until(executor, lambda: len(received) >= BATCH), nodes.output()
    assert spin_until(executor, lambda: queued() >= 3), nodes.output()
    assert nodes.stop({'a': sig}) == {'a': 0}, nodes.output()
    records, bad = read_records((tmp_path / 'a.jsonl').read_bytes().splitlines())
    assert not bad
    assert len(records) % BATCH, 'every span left in a full batch: nothing was queued'
    # Batches sent before the publisher matched the listener are not its to hear.
    heard_from = min(record.end_ns for record in records if _key(record) in received)
    ended = {_key(record) for record in records if record.end_ns >= heard_from}
    spin_until(executor, lambda: ended <= received)
    assert ended - received == set(), nodes.output()
    assert received == ended


_HANGING_STOP = """
import os, signal, sys, threading
from mtrace_ros.demo import stopping
stopping.STOP_DEADLINE_SEC = 0.5
stop = stopping.StopSignals()
stop.install()
stop.torn_down = sys.argv[1] == 'torn_down'
os.kill(os.getpid(), signal.SIGINT)
threading.Event().wait()  # a teardown that never ends
"""


@pytest.mark.parametrize(('stage', 'code'), [('torn_down', 0), ('running', 1)])
def test_a_stop_that_hangs_ends_with_every_threads_stack(stage, code):
    """Past the deadline a node says where it hangs and exits: 0 once its spans are delivered."""
    result = subprocess.run([sys.executable, '-c', _HANGING_STOP, stage],
                            capture_output=True, text=True, timeout=DEADLINE_SEC)
    assert result.returncode == code, result.stderr
    assert 'has not finished stopping after' in result.stderr
    assert 'Thread 0x' in result.stderr and 'in <module>' in result.stderr


_GIL_HELD_STOP = """
import ctypes, os, signal, time
from mtrace_ros.demo import stopping
stopping.STOP_DEADLINE_SEC = 0.5
stop = stopping.StopSignals()
stop.install()
stop.torn_down = True
os.kill(os.getpid(), signal.SIGINT)
while stop._deadline is None:  # armed by the watch thread, as on any stop signal
    time.sleep(0.01)
ctypes.PyDLL(None).sleep(300)  # blocked in C holding the GIL: no Python thread runs again
"""


def test_a_stop_that_hangs_holding_the_gil_still_ends_with_every_threads_stack():
    """Fast DDS's teardown hang held the GIL: the Python timer never ran, the runner killed -9."""
    result = subprocess.run([sys.executable, '-c', _GIL_HELD_STOP],  # start-up may be slow
                            capture_output=True, text=True, timeout=3 * DEADLINE_SEC)
    assert result.returncode == 1, result.stderr
    assert 'Timeout' in result.stderr and 'in <module>' in result.stderr
