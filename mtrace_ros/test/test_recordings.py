"""
The demo tree recorded by ``mtrace record`` gives the trees of its span sinks.

One run of the demo (span topic on, JSON Lines sinks too) is recorded once;
the tests read that recording, copies of it in other storages and without
some topics, and a rewrite of it by an independent MCAP implementation.
"""

import io
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Dict
from typing import List
from typing import Set

from conftest import DEADLINE_SEC
from conftest import next_domain_id
from conftest import node_script
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import Span as SpanMsg
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.analysis.bag_reader import read_recording
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
from mtrace_ros.demo.run import run_tree
from mtrace_ros.demo.topology import NODES
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.export.schema import SpanRecord
from mtrace_ros.wire.companion import COMPANION_SUFFIX
import pytest
from rcl_interfaces.msg import Log
from rclpy.duration import Duration
from rclpy.serialization import deserialize_message
from recording_tools import copy_bag
from recording_tools import rewrite_with_mcap_ros2
from rosbags.rosbag2 import Reader
from rosbags.rosbag2 import StoragePlugin
from std_msgs.msg import String

DEMO_SEC = 8.0
RATE_HZ = 5.0
DEMO_TOPICS = sorted({topic for spec in NODES for topic in spec.publishes})
#: A trace takes some 20 ms, up to hundreds under load: one started this close to the
#: nodes' stop signals may be cut short (they stop one after another). Both sinks then
#: hold the same part of it, but /rosout has lines of spans that never ended, and the
#: tests below want whole traces.
RUNNING_NS = 1_000_000_000

#: Spans of service calls and action phases (their messages are not in a recording).
CALL_KINDS = ('client', 'server', 'goal', 'execute', 'result', 'cancel')


class DemoRun:
    """The recording of one demo run, its sinks' spans, and the traces both saw whole."""

    def __init__(self, bag: pathlib.Path, sink_records: List[SpanRecord], whole: Set[str]):
        self.bag = bag
        self.sink_records = sink_records
        self.whole = whole

    def sink_spans(self) -> Dict[tuple, SpanRecord]:
        return {(r.trace_id, r.span_id): r for r in self.sink_records if r.trace_id in self.whole}


def _matched_since(bag: pathlib.Path) -> int:
    """
    Return when the recorder had received from every publisher of the run.

    Each demo topic has one publisher; the span topic and /rosout one per
    node. Of the edge on a standard type (c -> f), ``mtrace record`` records
    the companion topic that carries the traces. After its first message
    from a publisher, a reliable subscription misses nothing more from it.
    """
    firsts: Dict[str, int] = {}
    with Reader(bag) as reader:
        for connection, timestamp, data in reader.messages():
            if connection.topic == SPAN_TOPIC:
                key = 'span:' + deserialize_message(data, SpanMsg).node
            elif connection.topic == '/rosout':
                key = 'log:' + deserialize_message(data, Log).name
            else:  # a data topic, or the companion topic of a std_msgs edge (c -> f)
                key = connection.topic.removesuffix(COMPANION_SUFFIX)
            firsts.setdefault(key, timestamp)
    names = [spec.name for spec in NODES]
    expected = {f'span:{name}' for name in names} | set(DEMO_TOPICS)
    assert expected <= set(firsts), f'never received from {expected - set(firsts)}'
    return max(firsts[key] for key in expected)


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory) -> DemoRun:
    """Run the demo tree for a few seconds while `mtrace record` records it."""
    base = tmp_path_factory.mktemp('demo')
    bag, spans_dir = base / 'bag', base / 'spans'
    spans_dir.mkdir()
    env = dict(os.environ, ROS_DOMAIN_ID=str(next_domain_id()), PYTHONUNBUFFERED='1')
    saved = dict(os.environ)
    os.environ.update(env)
    log = open(base / 'record.log', 'wb')
    recorder = subprocess.Popen(
        ['mtrace', 'record', '-o', str(bag)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert wait_until(lambda: b'recording /rosout' in (base / 'record.log').read_bytes())
        signalled = []  # the runner signals the nodes DEMO_SEC after they all started

        def started(processes) -> None:
            signalled.append(time.time_ns() + int(DEMO_SEC * 1e9))
        run_tree(DEMO_SEC, RATE_HZ, spans_dir, out=io.StringIO(), span_topic=True,
                 on_started=started)
    finally:  # stopped at once: the recorder still writes what its subscriptions received
        recorder.send_signal(2)
        code = recorder.wait(20)
        log.close()
        os.environ.clear()
        os.environ.update(saved)
    assert code == 0, (base / 'record.log').read_text()
    lines: List[bytes] = []
    for path in sorted(spans_dir.glob('*.jsonl')):
        lines.extend(path.read_bytes().splitlines())
    records, bad = read_records(lines)
    assert not bad
    since = _matched_since(bag)
    roots = {r.trace_id: r.start_ns for r in records if r.parent_span_id is None}
    # Every trace the recorder could hear, up to the stop (a node stopping delivers its
    # spans first: its TracedNode flushes its topic sink before the context shuts down),
    # that reached every node (under load a node may match its publisher after the recorder).
    nodes_of: Dict[str, Set[str]] = {}
    for record in records:
        nodes_of.setdefault(record.trace_id, set()).add(record.node)
    whole = {trace for trace, start in roots.items()
             if since < start < signalled[0] - RUNNING_NS and len(nodes_of[trace]) == len(NODES)}
    assert len(whole) >= 3, f'{len(whole)} traces ran while every topic was recorded'
    return DemoRun(bag, records, whole)


def _bag_spans(path: pathlib.Path, whole: Set[str]) -> Dict[tuple, SpanRecord]:
    recording = read_recording(str(path))
    assert recording.skipped == []
    return {(r.trace_id, r.span_id): r for r in recording.records if r.trace_id in whole}


def test_recording_with_span_topic_gives_the_sinks_trees_span_for_span(demo_run):
    assert (demo_run.bag / 'metadata.yaml').is_file()
    assert len(list(demo_run.bag.glob('*.mcap'))) == 1
    assert _bag_spans(demo_run.bag, demo_run.whole) == demo_run.sink_spans()
    sink_forest = Forest(demo_run.sink_spans().values())
    bag_forest = Forest(_bag_spans(demo_run.bag, demo_run.whole).values())
    assert render_text(bag_forest) == render_text(sink_forest)


def test_the_mcap_file_alone_and_an_independent_mcap_writer_give_the_same(demo_run, tmp_path):
    [mcap_file] = demo_run.bag.glob('*.mcap')
    assert _bag_spans(mcap_file, demo_run.whole) == demo_run.sink_spans()
    rewritten = rewrite_with_mcap_ros2(mcap_file, tmp_path / 'rewritten.mcap')
    assert _bag_spans(rewritten, demo_run.whole) == demo_run.sink_spans()


def test_sqlite3_storage_gives_the_same(demo_run, tmp_path):
    sqlite = copy_bag(demo_run.bag, tmp_path / 'sqlite', storage=StoragePlugin.SQLITE3)
    assert next(sqlite.glob('*.db3'))
    assert _bag_spans(sqlite, demo_run.whole) == demo_run.sink_spans()


def test_without_span_topic_every_publishing_span_is_placed_exactly(demo_run, tmp_path):
    headers_only = copy_bag(demo_run.bag, tmp_path / 'headers', without={SPAN_TOPIC})
    bag_spans = _bag_spans(headers_only, demo_run.whole)
    # Service calls (e asks d) and action phases (f's goal on d) leave nothing in a bag: only
    # topic hops can be placed.
    sinks = [r for r in demo_run.sink_spans().values() if r.kind not in CALL_KINDS]
    # c's worker publishes after c's callback ended: the sinks list no publish, c's span did.
    parents = {r.parent_span_id for r in sinks}
    publishing = [r for r in sinks if r.publishes or r.span_id in parents]
    assert len(publishing) == 3 * len(demo_run.whole)  # a, b and c in each trace
    for sink in publishing:
        found = bag_spans[(sink.trace_id, sink.span_id)]
        assert (found.parent_span_id, found.kind, found.node) == (
            sink.parent_span_id, sink.kind, sink.node)
    # Leaves publish nothing: /rosout names them, but cannot place them.
    leaves = [r for r in sinks if r not in publishing]
    assert len(leaves) == 3 * len(demo_run.whole)
    for sink in leaves:
        found = bag_spans[(sink.trace_id, sink.span_id)]
        assert (found.kind, found.node) == ('unplaced', sink.node)


def test_rosout_lines_show_under_their_spans(demo_run):
    recording = read_recording(str(demo_run.bag))
    forest = Forest(recording.records)
    trace_id = sorted(demo_run.whole)[0]
    [trace] = forest.select(trace_id)
    text = render_text(forest, [trace], recording.notes)
    for span in trace.nodes.values():
        # A service call's or an action request's wait (the caller logs nothing in it), and
        # d's goal requests (the demo's server has no goal callback, hence no line).
        if span.span.kind in ('client', 'goal', 'result', 'cancel'):
            continue
        notes = recording.notes.for_span(trace_id, span.span.span_id)
        assert any(note.startswith(f'INFO [{span.span.node}] ') for note in notes), span
    lines = text.splitlines()
    f_row = next(i for i, line in enumerate(lines) if ' f  /demo/c_to_f ' in line)
    assert 'INFO [f] received "INPUT' in lines[f_row + 1]


def test_a_topic_missing_from_the_recording_names_the_hop(demo_run, tmp_path):
    missing = copy_bag(demo_run.bag, tmp_path / 'missing', without={'/demo/b_to_d'})
    trace_id = sorted(demo_run.whole)[0]
    result = subprocess.run(
        ['mtrace', 'tree', str(missing), '--trace', trace_id], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '! hop /demo/b_to_d (b -> d) not recorded: /demo/b_to_d is not in the recording' in (
        result.stdout.splitlines())
    # Without the span topic either, a hop whose sender published nothing recorded is named.
    blind = copy_bag(demo_run.bag, tmp_path / 'blind',
                     without={SPAN_TOPIC, '/demo/a_to_b', '/demo/a_to_c'})
    notes = read_recording(str(blind)).notes.for_trace(trace_id)
    assert sum(note.startswith('hop a (span ') and 'not recorded' in note
               for note in notes) == 2, notes


def test_mtrace_html_reads_a_recording(demo_run, tmp_path):
    page = tmp_path / 'page.html'
    result = subprocess.run(
        ['mtrace', 'html', str(demo_run.bag), '-o', str(page)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding='utf-8')
    assert 'INFO [d] received' in html and 'class="note"' in html


def test_mtrace_stats_reads_a_recording(demo_run):
    result = subprocess.run(
        ['mtrace', 'stats', str(demo_run.bag), '--path', 'a,b,d'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'a -> /demo/a_to_b -> b' in result.stdout


def test_sigterm_closes_the_recording(make_node, executor, processes, tmp_path):
    bag = tmp_path / 'bag'
    recorder = processes(['mtrace', 'record', '-o', str(bag)], name='record')
    assert wait_until(lambda: 'recording /rosout' in recorder.output())
    node = make_node(mtrace_ros.TracedNode, 'talker')
    publisher = node.create_publisher(TracedString, '/sigterm', 10)
    executor.add_node(node)
    assert wait_until(lambda: 'recording /sigterm' in recorder.output())
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    for index in range(5):
        publisher.publish(TracedString(data=str(index)))
    assert publisher.wait_for_all_acked(Duration(seconds=DEADLINE_SEC))  # in its queue
    recorder.popen.send_signal(signal.SIGTERM)
    assert recorder.popen.wait(20) == 0, recorder.output()
    assert 'mtrace record: ' in recorder.output() and '/sigterm: 5' in recorder.output()
    recording = read_recording(str(bag))
    assert recording.skipped == []
    assert len([r for r in recording.records if r.kind == 'root']) == 5


#: As many as the recorder's queue holds: none is pushed out before it is taken.
BURST = 1000


def test_sigint_writes_every_message_received_before_it(processes, tmp_path):
    bag = tmp_path / 'bag'
    recorder = processes(['mtrace', 'record', '-o', str(bag), '/burst'], name='record')
    # It signals the recorder the moment the recorder's middleware acknowledged the burst,
    # most of it not taken yet.
    burst = processes(
        node_script('burst_publisher.py') + ['/burst', str(BURST), str(recorder.popen.pid)],
        name='burst')
    assert recorder.popen.wait(DEADLINE_SEC * 2) == 0, recorder.output()
    assert wait_until(lambda: burst.records() == [{'acked': True}]), burst.output()
    assert f'/burst: {BURST}' in recorder.output()
    with Reader(bag) as reader:
        written = [deserialize_message(data, String).data for _, _, data in reader.messages()]
    assert written == [str(index) for index in range(BURST)]


def test_record_refuses_an_existing_directory(tmp_path):
    result = subprocess.run(
        ['mtrace', 'record', '-o', str(tmp_path)], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, ROS_DOMAIN_ID=str(next_domain_id())))
    assert result.returncode == 1
    assert 'exists already' in result.stderr and 'Traceback' not in result.stderr


def test_demo_records_its_run_and_says_how_to_open_it(tmp_path):
    bag = tmp_path / 'run1'
    result = subprocess.run(
        [sys.executable, '-m', 'mtrace_ros.demo.run', '--duration', '4', '--rate', '5',
         '--record', str(bag)],
        env=dict(os.environ, ROS_DOMAIN_ID=str(next_domain_id())),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'    mtrace tree {bag}' in result.stdout.splitlines()
    recording = read_recording(str(bag))
    assert recording.skipped == []
    assert SPAN_TOPIC in recording.topics
    assert Forest(recording.records).traces
