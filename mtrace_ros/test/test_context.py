"""The trace context: ids, W3C forms, and which context is active."""

import re

import mtrace_ros
from mtrace_ros.core import ids
from mtrace_ros.core.context import attach
from mtrace_ros.core.context import detach
from mtrace_ros.core.context import new_root
from mtrace_ros.core.context import TraceContext

HEX32 = re.compile(r'[0-9a-f]{32}')
HEX16 = re.compile(r'[0-9a-f]{16}')


def test_no_trace_outside_any_context():
    assert mtrace_ros.current_trace() is None


def test_start_trace_exposes_w3c_ids_and_restores_previous():
    with mtrace_ros.start_trace() as root:
        current = mtrace_ros.current_trace()
        assert current is root
        assert HEX32.fullmatch(current.trace_id)
        assert HEX16.fullmatch(current.span_id)
        assert current.parent_span_id is None
        assert current.sampled is True
        assert current.traceparent == f'00-{current.trace_id}-{current.span_id}-01'
    assert mtrace_ros.current_trace() is None


def test_nested_start_trace_starts_a_new_trace_and_restores_outer():
    with mtrace_ros.start_trace() as outer:
        with mtrace_ros.start_trace() as inner:
            assert inner.trace_id != outer.trace_id
        assert mtrace_ros.current_trace() is outer


def test_context_is_restored_when_body_raises():
    try:
        with mtrace_ros.start_trace():
            raise RuntimeError('boom')
    except RuntimeError:
        pass
    assert mtrace_ros.current_trace() is None


def test_child_keeps_trace_and_points_to_parent():
    root = new_root()
    child = root.child()
    assert child.trace_id == root.trace_id
    assert child.parent_span_id == root.span_id
    assert child.span_id != root.span_id


def test_attach_detach_pair():
    context = new_root()
    token = attach(context)
    assert mtrace_ros.current_trace() is context
    detach(token)
    assert mtrace_ros.current_trace() is None


def test_ids_are_random_sized_and_never_zero():
    trace_ids = {ids.new_trace_id() for _ in range(1000)}
    span_ids = {ids.new_span_id() for _ in range(1000)}
    assert len(trace_ids) == 1000 and len(span_ids) == 1000
    assert all(len(t) == 16 and any(t) for t in trace_ids)
    assert all(len(s) == 8 and any(s) for s in span_ids)


def test_contexts_compare_by_ids():
    root = new_root()
    same = TraceContext(root.trace_id_bytes, root.span_id_bytes, None, root.flags)
    assert same == root and hash(same) == hash(root)
    assert root.child() != root
