"""
start_trace(traceparent): continuing outside traces, per W3C Trace Context.

https://www.w3.org/TR/trace-context/#traceparent-header
"""

import mtrace_ros
import pytest

TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT = '00f067aa0ba902b7'


def test_valid_traceparent_continues_the_outside_trace():
    with mtrace_ros.start_trace(f'00-{TRACE}-{PARENT}-01') as context:
        assert context.trace_id == TRACE
        assert context.parent_span_id == PARENT
        assert context.span_id != PARENT
        assert context.sampled


def test_unsampled_flag_is_kept():
    with mtrace_ros.start_trace(f'00-{TRACE}-{PARENT}-00') as context:
        assert not context.sampled
        assert context.traceparent.endswith('-00')


def test_undefined_flag_bits_stay_outside():
    """Only *sampled* is defined in version 00: other bits are not passed on in headers."""
    with mtrace_ros.start_trace(f'00-{TRACE}-{PARENT}-03') as context:
        assert context.flags == 0x01 and context.traceparent.endswith('-01')


def test_future_version_is_read_by_its_first_four_fields():
    """Spec 3.2.4: a higher version is parsed as 00 and extra fields are ignored."""
    with mtrace_ros.start_trace(f'cc-{TRACE}-{PARENT}-01-what-the-future-holds') as context:
        assert context.trace_id == TRACE


@pytest.mark.parametrize(('value', 'reason'), [
    ('', 'fields'),
    (f'00-{TRACE}-{PARENT}', 'fields'),
    (f'00-{TRACE[:-1]}-{PARENT}-01', 'trace-id must be 32'),
    (f'00-{TRACE}-{PARENT}0-01', 'parent-id must be 16'),
    (f'0-{TRACE}-{PARENT}-01', 'version must be 2'),
    (f'00-{TRACE}-{PARENT}-1', 'trace-flags must be 2'),
    (f'00-{TRACE.upper()}-{PARENT}-01', 'not lowercase hex'),
    (f'00-{TRACE[:-1]}g-{PARENT}-01', 'not lowercase hex'),
    (f'ff-{TRACE}-{PARENT}-01', 'version ff'),
    (f'00-{"0" * 32}-{PARENT}-01', 'trace-id is all zeros'),
    (f'00-{TRACE}-{"0" * 16}-01', 'parent-id is all zeros'),
    (f'00-{TRACE}-{PARENT}-01-extra', 'exactly 4 fields'),
])
def test_invalid_traceparent_raises_value_error_saying_why(value, reason):
    with pytest.raises(ValueError, match=reason):
        with mtrace_ros.start_trace(value):
            pass
    assert mtrace_ros.current_trace() is None


def test_non_string_traceparent_is_rejected():
    with pytest.raises(ValueError, match='must be a str'):
        with mtrace_ros.start_trace(b'00-abc'):
            pass


@pytest.mark.parametrize('space', [' ', '\t', ' \t '])
def test_spaces_and_tabs_around_the_value_are_allowed(space):
    """W3C: optional whitespace (OWS) around a header value is spaces and tabs."""
    with mtrace_ros.start_trace(f'{space}00-{TRACE}-{PARENT}-01{space}') as context:
        assert context.trace_id == TRACE


@pytest.mark.parametrize('space', ['\u3000', '\u2028', '\n', '\x0b', '\x85'])
def test_other_whitespace_around_the_value_is_refused(space):
    """Issue 12: str.strip() took U+3000 and U+2028 for spaces around the value."""
    for value in (f'{space}00-{TRACE}-{PARENT}-01', f'00-{TRACE}-{PARENT}-01{space}'):
        with pytest.raises(ValueError, match='must be 2 hex characters'):
            with mtrace_ros.start_trace(value):
                pass


def test_a_huge_traceparent_is_echoed_cut_with_its_length():
    """Issue 12: the ValueError repeated a 1 MB input."""
    for value, said in (
            (f'00-{TRACE}-{PARENT}-01' + '-x' * 500_000, '(1000055 characters)'),
            ('\u202e' + 'f' * 1_000_000 + '-1-2-3', '\\u202e')):
        with pytest.raises(ValueError) as raised:
            with mtrace_ros.start_trace(value):
                pass
        assert len(str(raised.value)) < 400 and said in str(raised.value)
