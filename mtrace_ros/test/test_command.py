"""The installed ``mtrace`` command, run as a real process."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
from typing import List

from conftest import DEADLINE_SEC
from conftest import node_script
from conftest import wait_until
from mtrace_msgs.msg import Span as SpanMsg
from mtrace_ros.analysis.records import MATCHED_KEY
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
import pytest
from span_fixtures import make_span

DATA = pathlib.Path(__file__).parent / 'data'
#: As many spans as the collector's queue holds: none is pushed out before it is taken.
BURST = SPAN_QOS.depth
SPAN_FILE = DATA / 'spans.jsonl'


@pytest.fixture(scope='module')
def mtrace() -> str:
    """Return the installed command (``make build`` and ``source activate.sh`` put it on PATH)."""
    path = shutil.which('mtrace')
    assert path, 'mtrace is not on PATH: run make build and source activate.sh'
    return path


def run(args: List[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=DEADLINE_SEC, check=False, **kwargs)


def test_no_verb_prints_help_and_succeeds(mtrace):
    result = run([mtrace])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: mtrace')
    for verb in ('collect', 'tree', 'html'):
        assert verb in result.stdout


def test_tree_of_a_file_and_of_stdin(mtrace):
    expected = (DATA / 'spans_tree.txt').read_text(encoding='utf-8')
    from_file = run([mtrace, 'tree', str(SPAN_FILE)])
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == expected
    assert from_file.stderr.splitlines() == [
        f'mtrace tree: {SPAN_FILE}:4: not JSON (Expecting value); line skipped',
        f"mtrace tree: {SPAN_FILE}:8: 'span_id' must be 16 hex digits, got 'zz'; line skipped",
    ]
    from_stdin = run([mtrace, 'tree', '-'], input=SPAN_FILE.read_text(encoding='utf-8'))
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == expected
    assert 'mtrace tree: <stdin>:4: not JSON' in from_stdin.stderr


def test_tree_selects_traces_and_reports_errors(mtrace, tmp_path):
    one = run([mtrace, 'tree', str(SPAN_FILE), '--trace', '0af7'])
    assert one.stdout.startswith('trace 0af7651916cd43dd8448eb211c80319c')
    assert one.stdout.count('trace ') == 1
    none = run([mtrace, 'tree', str(SPAN_FILE), '--trace', 'ffff'])
    assert none.returncode == 1 and 'no trace to show' in none.stderr
    missing = run([mtrace, 'tree', str(tmp_path / 'nothing.jsonl')])
    assert missing.returncode == 1
    assert 'cannot read' in missing.stderr and 'Traceback' not in missing.stderr


def test_html_writes_a_page_with_every_span(mtrace, tmp_path):
    out = tmp_path / 'out.html'
    result = run([mtrace, 'html', str(SPAN_FILE), '-o', str(out)])
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding='utf-8')
    assert page.startswith('<!DOCTYPE html>')
    for line in SPAN_FILE.read_bytes().splitlines():
        try:
            span_id = json.loads(line)['span_id']
        except (ValueError, KeyError):
            continue
        assert (f'-{span_id}"' in page) == (span_id != 'zz'), span_id


def _publish_until(publisher, sent, predicate) -> bool:
    def step() -> bool:
        span = make_span(node=f'n{len(sent)}', publishes=[('/out', 1)])
        sent[span.span_id] = span
        publisher.publish(record_to_message(span))
        return predicate()
    return wait_until(step)


def test_collect_writes_count_spans_from_the_topic(mtrace, make_node, processes, tmp_path):
    out = tmp_path / 'spans.jsonl'
    publisher = make_node(name='span_source').create_publisher(SpanMsg, SPAN_TOPIC, SPAN_QOS)
    child = processes([mtrace, 'collect', '--count', '3', '-o', str(out)], name='collect')
    sent = {}
    assert _publish_until(publisher, sent, lambda: child.popen.poll() is not None), child.output()
    assert child.popen.returncode == 0, child.output()
    records = _spans(out)
    assert len(records) == 3
    for record in records:
        assert record == record_to_dict(sent[record['span_id']])
    assert 'mtrace collect: 3 spans' in child.output()


def test_collect_honours_ros_args_and_stops_cleanly_on_sigterm(
        mtrace, make_node, processes, tmp_path):
    out = tmp_path / 'spans.jsonl'
    node = make_node(name='span_source')
    publisher = node.create_publisher(SpanMsg, SPAN_TOPIC, SPAN_QOS)
    child = processes(
        [mtrace, 'collect', '-o', str(out), '--ros-args', '-r', '__node:=collector_under_test'],
        name='collect')
    assert wait_until(lambda: 'collector_under_test' in node.get_node_names()), child.output()
    sent = {}
    assert _publish_until(publisher, sent, lambda: len(_spans(out)) >= 2)
    os.killpg(child.popen.pid, signal.SIGTERM)
    assert child.popen.wait(DEADLINE_SEC) == 0, child.output()
    records = _spans(out)
    # Whole lines only, and only the spans sent: the collector records none of its own.
    assert {record['span_id'] for record in records} <= set(sent)
    assert f'mtrace collect: {len(records)} spans' in child.output()


def test_collect_writes_every_span_received_before_a_sigint(mtrace, processes, tmp_path):
    out = tmp_path / 'spans.jsonl'
    child = processes([mtrace, 'collect', '-o', str(out)], name='collect')
    # It signals the collector the moment the collector's middleware acknowledged the burst.
    burst = processes(node_script('burst_publisher.py') + [
        SPAN_TOPIC, str(BURST), str(child.popen.pid), '--spans'], name='burst')
    assert child.popen.wait(DEADLINE_SEC * 2) == 0, child.output()
    assert wait_until(lambda: burst.records() == [{'acked': True}]), burst.output()
    assert [record['node'] for record in _spans(out)] == [str(i) for i in range(BURST)]
    assert f'mtrace collect: {BURST} spans' in child.output()


def _records(path: pathlib.Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _spans(path: pathlib.Path) -> List[dict]:
    """Return the span records of a collected file (not the collector's markers)."""
    return [record for record in _records(path) if MATCHED_KEY not in record]


def test_collect_marks_when_it_matched_each_span_publisher(
        mtrace, make_node, processes, tmp_path):
    """Issue 12: spans sent before the collector matched were reported as lost."""
    out = tmp_path / 'spans.jsonl'
    started_ns = time.time_ns()
    node = make_node(name='span_source')
    publisher = node.create_publisher(SpanMsg, SPAN_TOPIC, SPAN_QOS)
    child = processes([mtrace, 'collect', '--count', '2', '-o', str(out)], name='collect')
    sent = {}
    assert _publish_until(publisher, sent, lambda: child.popen.poll() is not None), child.output()
    records = _records(out)
    (marker,) = [record for record in records if MATCHED_KEY in record]
    assert marker == {MATCHED_KEY: 'publisher matched', 'publishers': 1,
                      'time_ns': marker['time_ns']}
    assert started_ns < marker['time_ns'] < time.time_ns()
    assert len(records) == 3


def test_collect_stops_after_its_duration(mtrace, tmp_path, domain_id):
    out = tmp_path / 'spans.jsonl'
    result = run([mtrace, 'collect', '--duration', '0.3', '-o', str(out)])
    assert result.returncode == 0, result.stderr
    assert out.read_text() == ''
    assert 'mtrace collect: 0 spans' in result.stderr
    bad = run([mtrace, 'collect', '--count', '0'])
    assert bad.returncode == 2 and 'expected a number > 0' in bad.stderr
