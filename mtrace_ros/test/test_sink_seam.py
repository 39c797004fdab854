"""
The sink seam: any exporter behind one batching layer, flush, stats, settings, fork, exits.

Exporters receive :class:`SpanRecord` batches (OpenTelemetry's exporter shape);
every span is counted exactly once — exported, dropped or queued — and what is
dropped is said, at the latest when the process exits.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

from conftest import wait_until
import mtrace_ros
from mtrace_ros import start_trace
from mtrace_ros.analysis.records import read_records
from mtrace_ros.export.processor import BatchSpanProcessor
from mtrace_ros.export.registry import remove_sink
from mtrace_ros.testing import InMemorySpanExporter
import pytest
from span_fixtures import make_span


class ListExporter:
    """A user-written exporter: keeps each batch it is given."""

    def __init__(self) -> None:
        self.batches = []
        self.shut_down = False

    def export(self, records):
        self.batches.append(list(records))
        return True

    def shutdown(self):
        self.shut_down = True


@pytest.fixture
def seam():
    """Yield a function that adds an exporter through the public seam; remove it after."""
    added = []

    def add(exporter):
        added.append(mtrace_ros.add_sink(exporter))
        return added[-1]
    yield add
    for processor in added:
        remove_sink(processor, timeout_sec=1.0)


def test_a_user_exporter_receives_every_span_in_batches(seam, monkeypatch):
    monkeypatch.setenv('MTRACE_SINK_SCHEDULE_DELAY_MS', '60000')  # only flushes send
    exporter = ListExporter()
    processor = seam(exporter)
    with start_trace(node='user') as first:
        pass
    with start_trace(node='user') as second:
        pass
    assert exporter.batches == []  # batched, not one export per span
    assert mtrace_ros.sink_stats()[-1].queued == 2
    assert mtrace_ros.force_flush(timeout_sec=5.0)
    [batch] = exporter.batches
    assert [record.span_id for record in batch] == [first.span_id, second.span_id]
    assert not processor.closed and not exporter.shut_down  # flushed, not closed
    with start_trace(node='user') as third:
        pass
    assert mtrace_ros.force_flush()
    assert exporter.batches[1][0].span_id == third.span_id
    [stats] = [s for s in mtrace_ros.sink_stats() if s.name == 'ListExporter']
    assert (stats.exported, stats.dropped, stats.queued) == (3, 0, 0)


def test_batch_size_and_delay_come_from_mtrace_then_opentelemetry_variables(
        monkeypatch, capfd):
    monkeypatch.setenv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '3')
    monkeypatch.setenv('OTEL_BSP_SCHEDULE_DELAY', '10')
    monkeypatch.setenv('MTRACE_SINK_SCHEDULE_DELAY_MS', '20')
    monkeypatch.setenv('MTRACE_SINK_QUEUE_SIZE', 'lots')
    processor = BatchSpanProcessor(InMemorySpanExporter())
    try:
        assert processor.batch_size == 3  # OpenTelemetry's variable, ours unset
        assert processor.schedule_delay_sec == 0.02  # ours wins
        assert processor.queue_size == 2048  # a bad value: the default, and said
        assert "MTRACE_SINK_QUEUE_SIZE='lots' is not a whole number" in capfd.readouterr().err
        exporter = processor.exporter
        for _ in range(7):
            processor.submit(make_span())
        assert processor.force_flush()
        assert len(exporter.get_finished_spans()) == 7
    finally:
        processor.close()


def test_one_bad_error_text_loses_nothing_and_counts_are_exact(tmp_path, seam):
    path = tmp_path / 'spans.jsonl'
    [sink] = mtrace_ros.configure_sinks(f'jsonl:{path}')
    for text in ('fine', 'bad \udcff name', 'fine again'):
        with pytest.raises(OSError):
            with start_trace(node='writer'):
                raise OSError(text)
    assert mtrace_ros.force_flush()
    records, bad = read_records(path.read_bytes().splitlines())
    assert bad == [] and len(records) == 3
    assert records[1].error == 'OSError: bad \ufffd name'
    assert (sink.exported, sink.dropped) == (3, 0)
    mtrace_ros.close_sinks()


CHILD_TORN = r"""
import json, resource, signal, sys
from mtrace_ros.export.jsonl import JsonLinesExporter
from mtrace_ros.export.processor import BatchSpanProcessor
sys.path.insert(0, sys.argv[2])
from span_fixtures import make_span
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
processor = BatchSpanProcessor(JsonLinesExporter(sys.argv[1]), schedule_delay_ms=0)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))  # disk full
for _ in range(10):
    processor.submit(make_span())
processor.force_flush()
first = processor.stats()
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)  # space again
for _ in range(4):
    processor.submit(make_span())
processor.force_flush()
print(json.dumps([first.exported, first.dropped, processor.exported, processor.dropped]))
"""


def test_a_short_write_counts_whole_lines_and_the_next_batch_starts_a_fresh_line(tmp_path):
    path = tmp_path / 'spans.jsonl'
    result = subprocess.run(
        [sys.executable, '-c', CHILD_TORN, str(path), os.path.dirname(__file__)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    first_exported, first_dropped, exported, dropped = json.loads(result.stdout)
    assert 0 < first_exported < 10 and first_exported + first_dropped == 10
    records, bad = read_records(path.read_bytes().splitlines())
    assert len(bad) == 1  # the torn line, alone: the next batch did not land on it
    assert len(records) == first_exported + 4 == exported and dropped == first_dropped
    assert 'short write' in result.stderr


CHILD_FORK = r"""
import os, sys
import mtrace_ros
mtrace_ros.configure_sinks('jsonl:' + sys.argv[1])
with mtrace_ros.start_trace(node='parent'):
    pass
pid = os.fork()
if pid == 0:
    for _ in range(3):
        with mtrace_ros.start_trace(node='child'):
            pass
    ok = mtrace_ros.force_flush(timeout_sec=10.0)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_keeps_exporting(tmp_path):
    path = tmp_path / 'spans.jsonl'
    result = subprocess.run([sys.executable, '-c', CHILD_FORK, str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    records, bad = read_records(path.read_bytes().splitlines())
    assert bad == []
    assert sorted(record.node for record in records) == ['child'] * 3 + ['parent']


CHILD_FORK_TOPIC = r"""
import json, os, sys
import mtrace_ros
import rclpy
rclpy.init()
[sink] = mtrace_ros.configure_sinks('topic:/fork_check')
with mtrace_ros.start_trace(node='parent'):
    pass
assert mtrace_ros.force_flush(timeout_sec=10.0)
pid = os.fork()
if pid == 0:
    for _ in range(3):
        with mtrace_ros.start_trace(node='child'):
            pass
    mtrace_ros.force_flush(timeout_sec=10.0)
    print(json.dumps(['child', sink.exported, sink.dropped]), flush=True)
    mtrace_ros.close_sinks(timeout_sec=2.0)
    os._exit(0)
_, status = os.waitpid(pid, 0)
with mtrace_ros.start_trace(node='parent'):
    pass
assert mtrace_ros.force_flush(timeout_sec=10.0)
print(json.dumps(['parent', sink.exported, sink.dropped]), flush=True)
rclpy.shutdown()
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_drops_and_counts_what_its_topic_sink_cannot_publish(domain_id):
    result = subprocess.run([sys.executable, '-c', CHILD_FORK_TOPIC],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        ['child', 1, 3], ['parent', 2, 0]]
    assert 'a forked child cannot publish' in result.stderr
    assert '3 spans dropped in all (1 exported)' in result.stderr  # said as the child exits


def test_spans_an_endpoint_never_answers_are_said_lost_at_exit():
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(('127.0.0.1', 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        env = dict(os.environ, MTRACE_SINKS=f'otlp-http:http://127.0.0.1:{port}')
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, '-c', 'import os\nimport mtrace_ros\n'
             'mtrace_ros.configure_sinks(os.environ["MTRACE_SINKS"])\n'
             'for _ in range(300):\n'
             '    with mtrace_ros.start_trace(node="quitter"):\n'
             '        pass\n'],
            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert '300 spans dropped in all (0 exported)' in result.stderr


def test_a_processor_never_blocks_its_callers_while_exporting(seam):
    gate = threading.Event()

    class Stuck(ListExporter):
        def export(self, records):
            gate.wait(10)
            return super().export(records)

    processor = seam(Stuck())
    started = time.monotonic()
    for _ in range(50):
        with start_trace(node='fast'):
            pass
    assert time.monotonic() - started < 0.5  # a generous bound: exports run elsewhere
    gate.set()
    assert processor.force_flush()
    assert processor.exported == 50


class HeldExporter(ListExporter):
    """Holds each batch until let go, then fails it; deaf to ``shutdown`` (a hung endpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.let_go = threading.Event()
        self.shutdowns = 0

    def export(self, records):
        self.holding.set()
        self.let_go.wait(60)
        return False

    def shutdown(self):
        self.shutdowns += 1  # close() cuts it short, then its worker ends with one more


def test_the_total_a_closing_sink_says_is_final_though_its_worker_drops_more(capfd):
    exporter = HeldExporter()
    processor = BatchSpanProcessor(exporter, batch_size=2, schedule_delay_ms=0)
    for _ in range(5):
        processor.submit(make_span())
    assert exporter.holding.wait(10)
    assert processor.stats()[1:] == (0, 0, 5)  # the batch being exported is still queued
    processor.close(timeout_sec=0.0)  # gives up on the batch the exporter holds
    said = processor.stats()
    assert said[1:] == (0, 5, 0)
    assert '5 spans dropped in all (0 exported)' in capfd.readouterr().err
    exporter.let_go.set()  # the export fails now, after the total was said
    assert wait_until(lambda: exporter.shutdowns == 2)  # the worker ended
    assert processor.stats() == said


def test_a_span_that_ends_after_its_sink_closed_is_said_dropped(capfd):
    processor = BatchSpanProcessor(ListExporter())
    processor.close()
    for _ in range(3):
        processor.submit(make_span())
    err = capfd.readouterr().err
    assert err.count('a span that ended after it closed was dropped') == 1
    assert '(1 spans dropped in all); further ones are counted, not logged' in err
    assert processor.stats().dropped == 3
