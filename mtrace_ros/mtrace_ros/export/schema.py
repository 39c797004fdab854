"""
The span schema: one record type and its three forms, written once.

A :class:`SpanRecord` is the interchange form of an ended span: immutable,
ids as lowercase hex, times as integer nanoseconds since the epoch. Every
sink and every reader speaks it: :func:`record_to_dict` and
:func:`record_from_dict` are the JSON Lines form (``mtrace collect``, the
``jsonl`` sink, ``mtrace tree``); :func:`record_to_message` and
:func:`record_from_message` the ``mtrace_msgs/Span`` form of the span topic;
:mod:`mtrace_ros.export.otel_spans` the OpenTelemetry form.
:func:`record_from_dict` checks every field, since span files come from other
processes and other hosts and may hold anything: integers are bounded to 64
bits, as on the wire, and a wrong value is echoed escaped and cut short.
"""

import json
import re
from types import MappingProxyType
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import NamedTuple
from typing import Optional
from typing import Tuple

from builtin_interfaces.msg import Time
from mtrace_msgs.msg import Span as SpanMsg
from mtrace_msgs.msg import SpanAttribute
from mtrace_msgs.msg import SpanEvent
from mtrace_msgs.msg import SpanLink
from mtrace_msgs.msg import SpanPublish
from mtrace_ros.core.clock import split_ns
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.ids import SPAN_ID_SIZE
from mtrace_ros.core.ids import TRACE_ID_SIZE
from mtrace_ros.core.text import echo
import numpy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy

#: Where mtrace publishes the spans of every process (``mtrace collect`` listens here).
SPAN_TOPIC = '/mtrace/spans'
#: Reliable and volatile: matches reliable publishers and keeps bursts of spans.
SPAN_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)

#: A root span: a trace started by a node (explicitly, or by publishing outside any trace).
KIND_ROOT = 'root'
#: A traced callback handling one received message (or ``continue_trace``).
KIND_RECEIVE = 'receive'
#: A service call as the caller sees it: from the request to the response (the wait).
KIND_CLIENT = 'client'
#: A service callback handling one request.
KIND_SERVER = 'server'
#: Action phases: the goal request (the client's wait for the answer, and the
#: server's handling), the execute callback, the result request (client) and a
#: cancel request (the client's wait, and the server's cancel callback).
KIND_GOAL = 'goal'
KIND_EXECUTE = 'execute'
KIND_RESULT = 'result'
KIND_CANCEL = 'cancel'
#: The attribute of an action phase span saying its side: :data:`ACTION_CLIENT` or
#: :data:`ACTION_SERVER`.
ACTION_ROLE_ATTRIBUTE = 'ros.action.role'
ACTION_CLIENT = 'client'
ACTION_SERVER = 'server'


#: Span status codes, as OpenTelemetry names them (lowercase).
STATUS_UNSET = 'unset'
STATUS_OK = 'ok'
STATUS_ERROR = 'error'
STATUS_CODES = (STATUS_UNSET, STATUS_OK, STATUS_ERROR)

#: An attribute value: what OpenTelemetry allows (a list holds one type).
AttributeValue = Any
#: No attributes (the default of records and events: shared, read-only).
NO_ATTRIBUTES: Mapping[str, AttributeValue] = MappingProxyType({})


class Publish(NamedTuple):
    """A publish made inside a span."""

    topic: str
    subscriber_count: int
    #: When it was published (ns since the epoch); 0 when unknown.
    time_ns: int = 0


class Event(NamedTuple):
    """Something that happened at one moment inside a span (``add_event``, an exception)."""

    name: str
    time_ns: int
    attributes: Mapping[str, AttributeValue] = NO_ATTRIBUTES


class Status(NamedTuple):
    """A span's status: ``unset`` (the default), ``ok`` or ``error``, with a description."""

    code: str = STATUS_UNSET
    message: str = ''


UNSET = Status()


class Link(NamedTuple):
    """A link from a span to a span of another trace (fan-in)."""

    trace_id: str
    span_id: str


class SpanRecord(NamedTuple):
    """One ended span; ids are lowercase hex, times integer nanoseconds since the epoch."""

    trace_id: str
    span_id: str
    #: ``None`` for a span with no parent (a root).
    parent_span_id: Optional[str]
    node: str
    #: The topic of the handled message; ``None`` for a root.
    topic: Optional[str]
    kind: str
    start_ns: int
    end_ns: int
    #: Publish stamp of the handled message to callback start; ``None`` when unknown.
    latency_ns: Optional[int]
    #: ``None`` when the span ended normally, else ``"Type: message"``.
    error: Optional[str]
    publishes: Tuple[Publish, ...]
    links: Tuple[Link, ...]
    #: What the span is called; ``None``: named after its kind and topic on export.
    name: Optional[str] = None
    #: Set with ``current_span().set_attribute()``.
    attributes: Mapping[str, AttributeValue] = NO_ATTRIBUTES
    events: Tuple[Event, ...] = ()
    status: Status = UNSET


_SCALARS = (str, bool, int, float)


def attribute_value_problem(value: Any) -> Optional[str]:
    """Return what makes ``value`` no OpenTelemetry attribute value, or ``None`` if it is one."""
    if isinstance(value, _SCALARS):
        return _int_problem(value)
    if isinstance(value, (list, tuple)):
        kinds = {type(item) for item in value}
        if len(kinds) <= 1 and kinds <= set(_SCALARS):
            return next(filter(None, map(_int_problem, value)), None)
        return 'a list must hold values of one type: str, bool, int or float'
    return f'expected str, bool, int, float or a list of one of them, got {type(value).__name__}'


def _int_problem(value: Any) -> Optional[str]:
    if type(value) is int and not INT_MIN <= value <= INT_MAX:
        return 'an integer must fit in 64 bits (OTLP and the span topic carry int64)'
    return None


def _attributes_to_dict(attributes: Mapping[str, AttributeValue]) -> Dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in attributes.items()}


def _event_to_dict(event: Event) -> Dict[str, Any]:
    return {'name': event.name, 'time_ns': event.time_ns,
            'attributes': _attributes_to_dict(event.attributes)}


def record_to_dict(record: SpanRecord) -> Dict[str, Any]:
    """Return the record as one JSON Lines object (the format of ``mtrace collect``)."""
    return {
        'trace_id': record.trace_id,
        'span_id': record.span_id,
        'parent_span_id': record.parent_span_id,
        'node': record.node,
        'topic': record.topic,
        'kind': record.kind,
        'start_ns': record.start_ns,
        'end_ns': record.end_ns,
        'latency_ns': record.latency_ns,
        'error': record.error,
        'publishes': [
            {'topic': topic, 'subscriber_count': count, 'time_ns': time_ns}
            for topic, count, time_ns in record.publishes],
        'links': [
            {'trace_id': trace_id, 'span_id': span_id} for trace_id, span_id in record.links],
        'name': record.name,
        'attributes': _attributes_to_dict(record.attributes),
        'events': [_event_to_dict(event) for event in record.events],
        'status': {'code': record.status.code, 'message': record.status.message},
    }


class RecordError(ValueError):
    """A JSON object that is not a usable span record; the message names the field."""


_HEX = re.compile(r'[0-9a-fA-F]+')
_TRACE_ID_DIGITS = 2 * TRACE_ID_SIZE
_SPAN_ID_DIGITS = 2 * SPAN_ID_SIZE
#: Times and counts are 64-bit signed on the wire; anything beyond cannot be a real one.
INT_MIN, INT_MAX = -2 ** 63, 2 ** 63 - 1


def _id(record: Dict[str, Any], key: str, digits: int, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) != digits or not _HEX.fullmatch(value):
        raise RecordError(f"'{key}' must be {digits} hex digits, got {_shown(value)}")
    value = value.lower()
    if value.strip('0'):
        return value
    if optional:
        return None  # an all-zero parent is the wire form of "no parent"
    raise RecordError(f"'{key}' is all zeros (an invalid id)")


def _typed(record: Dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    # bool is an int to Python, but never a time or a count.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RecordError(f"'{key}' must be {kind.__name__}, got {_shown(value)}")
    if kind is int and not INT_MIN <= value <= INT_MAX:
        raise RecordError(f"'{key}' is out of the 64-bit range, got {_shown(value)}")
    return value


def _list(record: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RecordError(f"'{key}' must be a list of objects, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """Return a wrong value as an error message shows it: escaped and short."""
    return echo(value, 60) if isinstance(value, str) else echo(repr(value), 60)[1:-1]


def _attribute_map(record: Dict[str, Any], key: str) -> Mapping[str, AttributeValue]:
    value = record.get(key)
    if value is None:
        return NO_ATTRIBUTES
    if not isinstance(value, dict):
        raise RecordError(f"'{key}' must be an object, got {_shown(value)}")
    for name, item in value.items():
        problem = attribute_value_problem(item)
        if problem is not None:
            raise RecordError(f"'{key}': attribute {_shown(name)}: {problem}")
    return value


def _status(record: Dict[str, Any]) -> Status:
    value = record.get('status')
    if value is None:
        return UNSET
    if not isinstance(value, dict):
        raise RecordError(f"'status' must be an object, got {_shown(value)}")
    code = value.get('code', STATUS_UNSET)
    if code not in STATUS_CODES:
        raise RecordError(f"'status': code must be one of {STATUS_CODES}, got {_shown(code)}")
    return Status(code, _typed(value, 'message', str, optional=True) or '')


def record_from_dict(record: Any) -> SpanRecord:
    """
    Check one decoded JSON value and return it as a :class:`SpanRecord`.

    Unknown keys are ignored; ``end_ns`` missing means the span has no known
    end and is taken as instantaneous.

    :raises RecordError: naming the first field that is missing or wrong.
    """
    if not isinstance(record, dict):
        raise RecordError(f'expected a JSON object, got {type(record).__name__}')
    start_ns = _typed(record, 'start_ns', int)
    end_ns = _typed(record, 'end_ns', int, optional=True)
    return SpanRecord(
        trace_id=_id(record, 'trace_id', _TRACE_ID_DIGITS),
        span_id=_id(record, 'span_id', _SPAN_ID_DIGITS),
        parent_span_id=_id(record, 'parent_span_id', _SPAN_ID_DIGITS, optional=True),
        node=_typed(record, 'node', str),
        topic=_typed(record, 'topic', str, optional=True),
        kind=_typed(record, 'kind', str),
        start_ns=start_ns,
        end_ns=start_ns if end_ns is None else end_ns,
        latency_ns=_typed(record, 'latency_ns', int, optional=True),
        error=_typed(record, 'error', str, optional=True),
        publishes=tuple(
            Publish(_typed(item, 'topic', str), _typed(item, 'subscriber_count', int),
                    _typed(item, 'time_ns', int, optional=True) or 0)
            for item in _list(record, 'publishes')),
        links=tuple(
            Link(_id(item, 'trace_id', _TRACE_ID_DIGITS), _id(item, 'span_id', _SPAN_ID_DIGITS))
            for item in _list(record, 'links')),
        name=_typed(record, 'name', str, optional=True),
        attributes=_attribute_map(record, 'attributes'),
        events=tuple(
            Event(_typed(item, 'name', str), _typed(item, 'time_ns', int),
                  _attribute_map(item, 'attributes'))
            for item in _list(record, 'events')),
        status=_status(record),
    )


_KINDS = {
    SpanMsg.KIND_ROOT: KIND_ROOT, SpanMsg.KIND_RECEIVE: KIND_RECEIVE,
    SpanMsg.KIND_CLIENT: KIND_CLIENT, SpanMsg.KIND_SERVER: KIND_SERVER,
    SpanMsg.KIND_GOAL: KIND_GOAL, SpanMsg.KIND_EXECUTE: KIND_EXECUTE,
    SpanMsg.KIND_RESULT: KIND_RESULT, SpanMsg.KIND_CANCEL: KIND_CANCEL}
_STATUS_CODES = {
    SpanMsg.STATUS_UNSET: STATUS_UNSET, SpanMsg.STATUS_OK: STATUS_OK,
    SpanMsg.STATUS_ERROR: STATUS_ERROR}
_WIRE_STATUS_CODES = {code: wire for wire, code in _STATUS_CODES.items()}
_WIRE_KINDS = {kind: wire for wire, kind in _KINDS.items()}
_NO_PARENT = bytes(SPAN_ID_SIZE)


def _uint8s(hex_id: str) -> Any:
    return numpy.frombuffer(bytes.fromhex(hex_id), dtype=numpy.uint8)


def _time(stamp_ns: int) -> Time:
    sec, nanosec = split_ns(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def _hex(values: Any) -> str:
    return bytes(bytearray(values)).hex()


def _attributes_to_message(attributes: Mapping[str, AttributeValue]) -> List[SpanAttribute]:
    return [SpanAttribute(key=key, value=json.dumps(value)) for key, value in attributes.items()]


def _json_value(text: str) -> AttributeValue:
    """Return the value a ``SpanAttribute`` carries; text that is no JSON value stays text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if attribute_value_problem(value) is not None else value


def _attributes_from_message(attributes: Any) -> Mapping[str, AttributeValue]:
    if not attributes:
        return NO_ATTRIBUTES
    return {attribute.key: _json_value(attribute.value) for attribute in attributes}


def record_to_message(record: SpanRecord) -> SpanMsg:
    """
    Return the record as the ``mtrace_msgs/Span`` the topic sink publishes.

    :raises KeyError: for a kind the message has no constant for.
    """
    return SpanMsg(
        trace_id=_uint8s(record.trace_id),
        span_id=_uint8s(record.span_id),
        parent_span_id=_uint8s(record.parent_span_id or _NO_PARENT.hex()),
        node=record.node,
        topic=record.topic or '',
        kind=_WIRE_KINDS[record.kind],
        start=_time(record.start_ns),
        end=_time(record.end_ns),
        latency_ns=-1 if record.latency_ns is None else record.latency_ns,
        error=record.error or '',
        publishes=[
            SpanPublish(topic=topic, subscriber_count=count, time=_time(time_ns))
            for topic, count, time_ns in record.publishes],
        links=[
            SpanLink(trace_id=_uint8s(trace_id), span_id=_uint8s(span_id))
            for trace_id, span_id in record.links],
        name=record.name or '',
        attributes=_attributes_to_message(record.attributes),
        events=[
            SpanEvent(name=event.name, time=_time(event.time_ns),
                      attributes=_attributes_to_message(event.attributes))
            for event in record.events],
        status_code=_WIRE_STATUS_CODES[record.status.code],
        status_message=record.status.message,
    )


def record_from_message(msg: SpanMsg) -> SpanRecord:
    """
    Return the record a ``Span`` message carries.

    The message's "none" markers become ``None``: an all-zero parent (a root),
    an empty topic, latency -1 and an empty error. An unknown kind number is
    kept as its decimal string, so a newer publisher is still readable.
    """
    parent = _hex(msg.parent_span_id)
    return SpanRecord(
        trace_id=_hex(msg.trace_id),
        span_id=_hex(msg.span_id),
        parent_span_id=parent if parent.strip('0') else None,
        node=msg.node,
        topic=msg.topic or None,
        kind=_KINDS.get(msg.kind, str(msg.kind)),
        start_ns=time_to_ns(msg.start),
        end_ns=time_to_ns(msg.end),
        latency_ns=None if msg.latency_ns == -1 else msg.latency_ns,
        error=msg.error or None,
        publishes=tuple(
            Publish(publish.topic, publish.subscriber_count, time_to_ns(publish.time))
            for publish in msg.publishes),
        links=tuple(Link(_hex(link.trace_id), _hex(link.span_id)) for link in msg.links),
        name=msg.name or None,
        attributes=_attributes_from_message(msg.attributes),
        events=tuple(
            Event(event.name, time_to_ns(event.time), _attributes_from_message(event.attributes))
            for event in msg.events),
        # A newer publisher's unknown code is kept readable as an error.
        status=Status(_STATUS_CODES.get(msg.status_code, STATUS_ERROR), msg.status_message),
    )
