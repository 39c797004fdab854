"""Head sampling: a ratio decided from the trace id at the root, followed by every hop."""

import logging

from conftest import publish_until
from conftest import spin_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import current_trace
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.core import sampling
from mtrace_ros.export import spans
import pytest
from rclpy.parameter import Parameter

ROOTS = 10_000


@pytest.fixture
def sampler():
    """Let the test configure sampling; sample everything again afterwards."""
    yield sampling.configure_sampling
    sampling.configure_sampling(1.0, None)


def _roots_and_children(count):
    """Open ``count`` roots, each with a child; return [(root context, child context)]."""
    opened = []
    for _ in range(count):
        root = spans.open_span(spans.KIND_ROOT)
        child = spans.open_span(spans.KIND_RECEIVE, root, node='child', topic='/t')
        spans.end_span(child)
        spans.end_span(root)
        opened.append((root, child))
    return opened


@pytest.mark.parametrize('ratio', [0.1, 0.5, 0.9])
def test_ratio_within_two_percent_and_children_follow_the_root(sampler, recorded, ratio):
    sampler(ratio, None)
    opened = _roots_and_children(ROOTS)
    sampled = [root for root, _ in opened if root.sampled]
    assert abs(len(sampled) / ROOTS - ratio) <= 0.02
    recorded_ids = {record['span_id'] for record in recorded}
    for root, child in opened:
        assert child.sampled == root.sampled
        assert (root.span_id in recorded_ids) == root.sampled
        assert (child.span_id in recorded_ids) == root.sampled
        # Deterministic from the trace id, as OpenTelemetry's TraceIdRatioBased.
        lower = int.from_bytes(root.trace_id_bytes[8:], 'big')
        assert root.sampled == (lower < round(ratio * 2**64))


def test_same_decision_as_opentelemetry_trace_id_ratio_based(sampler):
    otel_sampling = pytest.importorskip('opentelemetry.sdk.trace.sampling')
    otel = otel_sampling.TraceIdRatioBased(0.3)
    sampler(0.3, None)
    for root, _ in _roots_and_children(2000):
        decision = otel.should_sample(None, int(root.trace_id, 16), 'x').decision
        assert decision.is_sampled() == root.sampled


def test_rate_limit_caps_new_traces_only(sampler, recorded):
    sampler(1.0, 20)
    opened = _roots_and_children(500)  # far faster than 20 per second
    sampled = [root for root, _ in opened if root.sampled]
    assert 1 <= len(sampled) <= 25  # the bucket's burst, plus what refills meanwhile
    assert all(child.sampled == root.sampled for root, child in opened)
    assert len(recorded) == 2 * len(sampled)


def test_bad_settings_are_refused_with_their_name(sampler, monkeypatch):
    monkeypatch.setenv(sampling.ENV_SAMPLE_RATIO, '1.5')
    with pytest.raises(ValueError, match='MTRACE_SAMPLE_RATIO must be between 0 and 1'):
        sampler()
    monkeypatch.setenv(sampling.ENV_SAMPLE_RATIO, 'half')
    with pytest.raises(ValueError, match='MTRACE_SAMPLE_RATIO must be a number'):
        sampler()
    monkeypatch.delenv(sampling.ENV_SAMPLE_RATIO)
    monkeypatch.setenv(sampling.ENV_SPAN_RATE_LIMIT, '-3')
    with pytest.raises(ValueError, match='MTRACE_SPAN_RATE_LIMIT must be between 0'):
        sampler()


def test_unsampled_traces_keep_ids_in_headers_and_logs_but_record_no_spans(
        make_node, executor, sampler, recorded, caplog):
    # The parameter override, read without declaring it, wins over the environment.
    sender = make_node(TracedNode, 'a', parameter_overrides=[
        Parameter(sampling.SAMPLE_RATIO_PARAMETER, value=0.0)])
    assert not sender.has_parameter(sampling.SAMPLE_RATIO_PARAMETER)
    receiver = make_node(TracedNode, 'b', parameter_overrides=[
        Parameter(sampling.SAMPLE_RATIO_PARAMETER, value=0.0)])
    seen = []

    def on_message(msg):
        logging.getLogger('sampling_test').warning('handled')
        seen.append((msg.header, current_trace()))
    receiver.create_subscription(TracedString, 'hop', on_message, 10)
    publisher = sender.create_publisher(TracedString, 'hop', 10)
    executor.add_node(receiver)
    executor.add_node(sender)

    def publish():
        with start_trace():
            publisher.publish(TracedString())
    assert publish_until(executor, publish, lambda: seen)
    header, hop = seen[0]
    assert header.flags == 0 and bytes(header.trace_id).hex() == hop.trace_id
    assert not hop.sampled and hop.traceparent.endswith('-00')
    [line] = [one for one in caplog.records if one.name == 'sampling_test'][:1]
    assert (line.trace_id, line.span_id, line.otelTraceSampled) == (
        hop.trace_id, hop.span_id, False)
    assert recorded == []


def test_a_sampled_parent_from_outside_is_followed(make_node, executor, sampler, recorded):
    sampler(0.0, None)  # no new trace is sampled, but an incoming sampled one is
    node = make_node(TracedNode, 'a')
    seen = []
    node.create_subscription(TracedString, 'hop', lambda msg: seen.append(current_trace()), 10)
    publisher = node.create_publisher(TracedString, 'hop', 10)
    executor.add_node(node)
    traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

    def publish():
        with start_trace(traceparent):
            publisher.publish(TracedString())
    assert publish_until(executor, publish, lambda: seen)
    assert spin_until(executor, lambda: len(recorded) >= 2)
    assert {record['trace_id'] for record in recorded} == {'4bf92f3577b34da6a3ce929d0e0e4736'}
