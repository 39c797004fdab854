"""
Trace ids in every log line of rclpy loggers, on every rcutils sink (issue 4).

A child process (test/nodes/log_lines_node.py) logs in every way rclpy offers
while handling traced messages this test sends; its console, its ``/rosout``
messages and its ROS log file must all show the same lines, with the ids of
each message's trace, the user's own call sites and rclpy's filters intact.
"""

import os
import pathlib
import re
import subprocess
import sys
from typing import List
from typing import NamedTuple
from typing import Optional

from conftest import node_script
from conftest import NODES_DIR
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros import create_traced_publisher
from mtrace_ros import start_trace
from mtrace_ros.core.compat import ROSOUT_QOS
from mtrace_ros.logging import DEFAULT_LOG_FORMAT
from mtrace_ros.logging import rcutils_hook
import pytest
from rcl_interfaces.msg import Log
import rclpy.logging

SCRIPT = NODES_DIR / 'log_lines_node.py'
TOPIC = 'log_lines_input'
MESSAGES = 3
CONSOLE_FORMAT = '[{severity}] [{name}] {file_name}:{line_number} {function_name}: {message}'
CONSOLE_LINE = re.compile(
    r'^\[(?P<severity>\w+)\] \[(?P<name>[\w.]+)\] (?P<file>\S+):(?P<line>\d+) '
    r'(?P<function>\w+): (?P<message>.*)$')
WITH_IDS = re.compile(
    r'^trace_id=(?P<trace>[0-9a-f]{32}) span_id=(?P<span>[0-9a-f]{16}) (?P<text>.*)$')
SEVERITY_NAMES = {Log.DEBUG: 'DEBUG', Log.INFO: 'INFO', Log.WARN: 'WARN', Log.ERROR: 'ERROR',
                  Log.FATAL: 'FATAL'}
NODE_LOGGERS = ('log_lines', 'log_lines.child')  # the loggers /rosout carries


class Line(NamedTuple):
    """One logged line, as any sink reports it."""

    severity: str
    name: str
    file: str
    line: int
    function: str
    trace_id: Optional[str]
    span_id: Optional[str]
    text: str


def _line(severity: str, name: str, file: str, line: int, function: str, message: str) -> Line:
    ids = WITH_IDS.match(message)
    if ids is None:
        return Line(severity, name, os.path.realpath(file), line, function, None, None, message)
    return Line(severity, name, os.path.realpath(file), line, function,
                ids['trace'], ids['span'], ids['text'])


def console_lines(text: str) -> List[Line]:
    """Parse the lines printed in CONSOLE_FORMAT (console and log file)."""
    return [
        _line(m['severity'], m['name'], m['file'], int(m['line']), m['function'], m['message'])
        for m in map(CONSOLE_LINE.match, text.splitlines()) if m]


def rosout_lines(messages: List[Log]) -> List[Line]:
    return [
        _line(SEVERITY_NAMES[m.level], m.name, m.file, m.line, m.function, m.msg)
        for m in messages if m.name in NODE_LOGGERS]


def source_line(marker: str) -> int:
    """Return the number of the one line of the node script that contains ``marker``."""
    numbers = [number for number, text in enumerate(SCRIPT.read_text().splitlines(), 1)
               if marker in text]
    assert len(numbers) == 1, (marker, numbers)
    return numbers[0]


def expected_lines(contexts: List[mtrace_ros.TraceContext], spans: List[str]) -> List[Line]:
    """Return what the node must log, in order, given each message's trace and callback span."""
    script = os.path.realpath(SCRIPT)

    def line(severity, name, marker, text, trace=None, span=None, function='on_message'):
        return Line(severity, name, script, source_line(marker), function, trace, span, text)

    lines = [line('INFO', 'log_lines', "'started, outside", 'started, outside any trace',
                  function='__init__')]
    for index, (context, span) in enumerate(zip(contexts, spans)):
        data = f'm{index}'
        ids = {'trace': context.trace_id, 'span': span}
        lines.append(line('INFO', 'log_lines', "f'handling", f'handling {data} in span {span}',
                          **ids))
        lines.append(line('WARN', 'log_lines.child', "f'child", f'child logger {data}', **ids))
        lines.append(line('ERROR', 'free', "f'free", f'free logger {data} {{}} %s', **ids))
        if index == 0:
            lines.append(line('INFO', 'log_lines', "f'once info", 'once info m0', **ids))
            lines.append(line('WARN', 'log_lines', "f'once warning", 'once warning m0', **ids))
            lines.append(line('INFO', 'log_lines', "f'throttled", 'throttled m0', **ids))
        else:
            lines.append(line('INFO', 'log_lines', "f'skip first", f'skip first {data}', **ids))
        lines.append(line('WARN', 'log_lines', "'library %s'", f'library {data}', **ids))
        lines.append(line('INFO', 'log_lines', "f'handled", f'handled {data}', **ids))
    return lines


def callback_spans(lines: List[Line], contexts: List[mtrace_ros.TraceContext]) -> List[str]:
    """Return the span id each message's first line carries, by message."""
    spans = []
    for context in contexts:
        span = next((line.span_id for line in lines if line.trace_id == context.trace_id), None)
        assert span is not None, f'no line carries trace {context.trace_id}'
        assert span != context.span_id, 'the callback must run in a child span'
        spans.append(span)
    return spans


@pytest.fixture
def log_lines_run(make_node, executor, processes, tmp_path: pathlib.Path):
    """
    Start the node, send it traced messages, wait until its console and /rosout show them all.

    :return: ``(trace context of each message, child process, /rosout messages, ROS_LOG_DIR)``.
    """
    log_dir = tmp_path / 'ros_log'
    child = processes(node_script('log_lines_node.py') + [TOPIC], name='log_lines', env={
        'RCUTILS_CONSOLE_OUTPUT_FORMAT': CONSOLE_FORMAT, 'ROS_LOG_DIR': str(log_dir)})
    node = make_node(name='log_lines_driver')
    rosout: List[Log] = []
    node.create_subscription(Log, '/rosout', rosout.append, ROSOUT_QOS)
    publisher = create_traced_publisher(node, TracedString, TOPIC, 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0), child.output()
    contexts = []
    for index in range(MESSAGES):
        with start_trace() as context:
            publisher.publish(TracedString(data=f'm{index}'))
        contexts.append(context)
    last = f'handled m{MESSAGES - 1}'
    assert spin_until(
        executor, lambda: any(m.msg.endswith(last) for m in rosout)), child.output()
    assert wait_until(lambda: last in child.output()), child.output()
    return contexts, child, rosout, log_dir


def test_console_lines_carry_the_ids_of_their_trace(log_lines_run):
    contexts, child, _, _ = log_lines_run
    lines = console_lines(child.output())
    assert lines == expected_lines(contexts, callback_spans(lines, contexts)), child.output()


def test_rosout_messages_carry_the_ids_and_the_users_call_sites(log_lines_run):
    contexts, _, rosout, _ = log_lines_run
    lines = rosout_lines(rosout)
    expected = [line for line in expected_lines(contexts, callback_spans(lines, contexts))
                if line.name in NODE_LOGGERS]
    assert lines == expected


def test_ros_log_file_lines_carry_the_ids(log_lines_run):
    contexts, child, _, log_dir = log_lines_run
    child.stop()  # the log file is complete once the process has shut down
    files = list(log_dir.glob('*.log'))
    assert len(files) == 1, (files, child.output())
    lines = console_lines(files[0].read_text())
    assert lines == expected_lines(contexts, callback_spans(lines, contexts))


def _run_python(processes, code: str, env: dict) -> str:
    """Run ``code`` in a child Python process to its end; return its output."""
    child = processes([sys.executable, '-c', code], name='python', env=env)
    assert wait_until(lambda: child.popen.poll() is not None), child.output()
    assert child.popen.returncode == 0, child.output()
    return child.output()


LOG_ONE_LINE = '\n'.join([
    'import rclpy.logging',
    'import mtrace_ros',
    'with mtrace_ros.start_trace() as context:',
    "    rclpy.logging.get_logger('env_format').info('hello')",
    "print('ids', context.trace_id, context.span_id)",
])


def _ids_printed(output: str) -> List[str]:
    return re.search(r'^ids (\w+) (\w+)$', output, re.MULTILINE).groups()


def test_environment_variable_sets_the_format(processes):
    output = _run_python(processes, LOG_ONE_LINE, {
        'MTRACE_LOG_FORMAT': '{message} <{trace_id:.8}/{span_id}>',
        'RCUTILS_CONSOLE_OUTPUT_FORMAT': '{message}'})
    trace_id, span_id = _ids_printed(output)
    assert f'hello <{trace_id[:8]}/{span_id}>' in output.splitlines(), output


def test_bad_environment_format_warns_and_keeps_the_default(processes):
    output = _run_python(processes, LOG_ONE_LINE, {
        'MTRACE_LOG_FORMAT': '{message} twice {message}',
        'RCUTILS_CONSOLE_OUTPUT_FORMAT': '{message}'})
    trace_id, span_id = _ids_printed(output)
    assert 'MTRACE_LOG_FORMAT ignored' in output and 'only once' in output, output
    assert f'trace_id={trace_id} span_id={span_id} hello' in output.splitlines(), output


def test_format_option_and_repeated_instrumentation(capfd):
    logger = rclpy.logging.get_logger('format_option')
    try:
        mtrace_ros.instrument_logging(fmt='[{trace_id}] {message} {{{span_id}}}')
        mtrace_ros.instrument_logging()  # keeps the format, installs nothing twice
        with start_trace() as first:
            logger.info('custom {} %s')
        logger.info('outside')
        mtrace_ros.instrument_logging(fmt='<{span_id}> ')  # no {message}: a prefix
        with start_trace() as second:
            logger.info('prefixed')
    finally:
        mtrace_ros.instrument_logging(fmt=DEFAULT_LOG_FORMAT)
    lines = [line.split(']: ', 1)[1] for line in capfd.readouterr().err.splitlines()
             if '[format_option]' in line]
    assert lines == [
        f'[{first.trace_id}] custom {{}} %s {{{first.span_id}}}', 'outside',
        f'<{second.span_id}> prefixed']


@pytest.mark.parametrize('fmt, reason', [
    ('{message} {message}', 'may contain {message} only once'),
    ('{node} {message}', 'has the field {node}'),
    ('{message!r}', '{message} takes no conversion or spec'),
    ('{trace_id:Z} {message}', 'malformed'),
    ('{message', 'malformed'),
])
def test_bad_formats_are_rejected_saying_why(fmt, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        mtrace_ros.instrument_logging(fmt=fmt)
    assert rcutils_hook.log_format().text == DEFAULT_LOG_FORMAT  # the format in use stays


UNDO_SCRIPT = r"""
import logging, sys
import mtrace_ros
import rclpy.logging
logger = rclpy.logging.get_logger('undo')
with mtrace_ros.start_trace():
    logger.info('in a trace, instrumented')
    sys.stderr.write('stdlib ids: %s\n' % hasattr(logging.makeLogRecord({}), 'trace_id'))
    mtrace_ros.uninstrument_logging()
    logger.info('in a trace, uninstrumented')
    sys.stderr.write('stdlib ids: %s\n' % hasattr(
        logging.getLogRecordFactory()('n', 20, 'f', 1, 'm', (), None), 'trace_id'))
    mtrace_ros.instrument_logging()
    logger.info('in a trace, instrumented again')
"""


def _stderr_lines(script):
    """Run ``script`` in a new interpreter; return the lines it wrote to stderr."""
    result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def _the_line(lines, ending):
    [line] = [line for line in lines if line.endswith(ending)]
    return line


def test_uninstrument_logging_gives_back_plain_rclpy_lines_and_records():
    lines = _stderr_lines(UNDO_SCRIPT)
    instrumented = _the_line(lines, 'in a trace, instrumented')
    plain = _the_line(lines, 'in a trace, uninstrumented')
    again = _the_line(lines, 'instrumented again')
    assert 'trace_id=' in instrumented and 'trace_id=' in again
    assert 'trace_id=' not in plain
    assert lines.count('stdlib ids: False') == 1


OLDER_RCLPY_SCRIPT = r"""
import logging, types
import rclpy.impl.implementation_singleton as singleton
import rclpy.impl.rcutils_logger  # keeps the real extension for rclpy's own calls
real = singleton.rclpy_implementation
older = types.ModuleType('older_rclpy')  # as an rclpy whose logging call has another name
older.__dict__.update(
    (key, value) for key, value in vars(real).items() if key != 'rclpy_logging_rcutils_log')
singleton.rclpy_implementation = older
import mtrace_ros
import rclpy.logging
logger = rclpy.logging.get_logger('older')
std = logging.getLogger('older.std')
std.propagate = False
std.addHandler(mtrace_ros.RosLogHandler('older'))
with mtrace_ros.start_trace():
    logger.info('in a trace, fallback')
    std.warning('stdlib, fallback')
    mtrace_ros.uninstrument_logging()
    logger.info('in a trace, uninstrumented')
"""


def test_an_rclpy_without_the_hooked_call_gets_a_warning_and_the_slower_path():
    lines = _stderr_lines(OLDER_RCLPY_SCRIPT)
    assert any('this rclpy has no rclpy_logging_rcutils_log()' in line for line in lines)
    fallback = _the_line(lines, 'in a trace, fallback')
    std = _the_line(lines, 'stdlib, fallback')
    plain = _the_line(lines, 'in a trace, uninstrumented')
    assert 'trace_id=' in fallback and std.count('trace_id=') == 1
    assert 'trace_id=' not in plain


def test_mtrace_logging_0_leaves_logging_untouched():
    script = ('import logging\n'
              'before = logging.getLogRecordFactory()\n'
              'import mtrace_ros, rclpy.logging\n'
              'assert logging.getLogRecordFactory() is before\n'
              'with mtrace_ros.start_trace():\n'
              '    rclpy.logging.get_logger("off").info("in a trace")\n')
    for off in ('0', 'false', 'Off'):
        result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                                timeout=60, env=dict(os.environ, MTRACE_LOGGING=off))
        assert result.returncode == 0, result.stderr
        [line] = [line for line in result.stderr.splitlines() if line.endswith('in a trace')]
        assert 'trace_id=' not in line
