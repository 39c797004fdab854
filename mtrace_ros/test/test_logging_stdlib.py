"""Python's standard ``logging``: trace ids on records, and RosLogHandler into ROS (issue 4)."""

import inspect
import logging
from typing import List

from conftest import spin_until
from mtrace_ros import RosLogHandler
from mtrace_ros import start_trace
from mtrace_ros.core.compat import ROSOUT_QOS
from mtrace_ros.logging import NO_TRACE_ID
from mtrace_ros.logging import ros_severity
import pytest
from rcl_interfaces.msg import Log
import rclpy.logging


class RecordList(logging.Handler):
    """Keep every record handled, as it was created."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def std_logger():
    """Yield a ``logging`` logger of its own (not propagating), at DEBUG; emptied after."""
    logger = logging.getLogger(f'mtrace_test.{id(object())}')
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def test_records_in_a_trace_carry_the_ids_under_mtrace_and_otel_names(std_logger):
    kept = RecordList()
    std_logger.addHandler(kept)
    with start_trace() as context:
        std_logger.info('inside')
    std_logger.info('outside')
    inside, outside = kept.records
    assert (inside.trace_id, inside.span_id) == (context.trace_id, context.span_id)
    assert (inside.otelTraceID, inside.otelSpanID) == (context.trace_id, context.span_id)
    assert inside.otelTraceSampled is True
    assert (outside.trace_id, outside.span_id) == (NO_TRACE_ID, NO_TRACE_ID)
    assert (outside.otelTraceID, outside.otelSpanID, outside.otelTraceSampled) == ('0', '0', False)


def test_formatters_naming_the_ids_work_inside_and_outside_traces(std_logger):
    kept = RecordList()
    std_logger.addHandler(kept)
    formatter = logging.Formatter(
        '%(otelTraceID)s %(otelSpanID)s %(trace_id)s %(otelServiceName)s|%(message)s')
    with start_trace() as context:
        std_logger.warning('in %s', 'trace')
    std_logger.warning('no trace')
    assert [formatter.format(record) for record in kept.records] == [
        f'{context.trace_id} {context.span_id} {context.trace_id} |in trace',
        '0 0 0 |no trace']


def test_handler_forwards_to_rosout_with_ids_and_the_records_call_site(
        std_logger, make_node, executor):
    node = make_node(name='std_forwarder')
    rosout: List[Log] = []
    listener = make_node(name='rosout_listener')
    listener.create_subscription(Log, '/rosout', rosout.append, ROSOUT_QOS)
    executor.add_node(listener)
    std_logger.addHandler(RosLogHandler(node.get_logger()))

    with start_trace() as context:
        line = inspect.currentframe().f_lineno + 1
        std_logger.warning('library says %s {}', 'hi')
    std_logger.error('outside')

    assert spin_until(executor, lambda: any(m.msg == 'outside' for m in rosout)), rosout
    mine = [m for m in rosout if m.name == 'std_forwarder']
    assert [(m.level, m.msg) for m in mine] == [
        (Log.WARN, f'trace_id={context.trace_id} span_id={context.span_id} library says hi {{}}'),
        (Log.ERROR, 'outside')]
    assert (mine[0].file, mine[0].line, mine[0].function) == (
        __file__, line, 'test_handler_forwards_to_rosout_with_ids_and_the_records_call_site')


def test_handler_without_a_logger_uses_the_records_name_and_the_ros_level(std_logger, capfd):
    std_logger.addHandler(RosLogHandler())
    rclpy.logging.set_logger_level(std_logger.name, rclpy.logging.LoggingSeverity.WARN)
    with start_trace() as context:
        std_logger.info('below the ROS level')
        std_logger.critical('critical')
    std_logger.log(45, 'custom level')
    lines = [line for line in capfd.readouterr().err.splitlines() if std_logger.name in line]
    assert len(lines) == 2, lines
    assert lines[0].startswith('[FATAL]')
    assert lines[0].endswith(f': trace_id={context.trace_id} span_id={context.span_id} critical')
    assert lines[1].startswith('[ERROR]') and lines[1].endswith(': custom level')


@pytest.mark.parametrize('levelno, severity', [
    (logging.NOTSET, 'DEBUG'), (5, 'DEBUG'), (logging.DEBUG, 'DEBUG'), (logging.INFO, 'INFO'),
    (25, 'INFO'), (logging.WARNING, 'WARN'), (logging.ERROR, 'ERROR'),
    (logging.CRITICAL, 'FATAL'), (60, 'FATAL'),
])
def test_levels_map_to_the_ros_severity_at_or_below_them(levelno, severity):
    assert ros_severity(levelno).name == severity
