"""
Tracing any message type: wrapping it in a ``TracedEnvelope`` and back.

A type with no ``TracedHeader`` field travels serialized inside an envelope
whose header carries the trace. The topic's wire type is then
``mtrace_msgs/msg/TracedEnvelope``: both ends must use mtrace's traced
publisher and subscription.
"""

import array
from typing import Any
from typing import Type
from typing import Union

from mtrace_msgs.msg import TracedEnvelope
from mtrace_ros.core.text import echo
from mtrace_ros.wire.message_types import type_name
from rclpy.serialization import deserialize_message
from rclpy.serialization import serialize_message


class EnvelopeError(ValueError):
    """An envelope that cannot be opened as the subscription's type."""

    def __init__(self, kind: str, detail: str) -> None:
        """Say what kind of problem (a fixed text) and this envelope's particulars."""
        super().__init__(f'{kind}: {detail}')
        self.kind = kind
        self.detail = detail


def seal(msg: Union[Any, bytes], msg_type: Type) -> TracedEnvelope:
    """Return an envelope (header not yet filled) holding ``msg``, a message or its bytes."""
    envelope = TracedEnvelope()
    envelope.type_name = type_name(msg_type)
    data = msg if isinstance(msg, bytes) else serialize_message(msg)
    # An array.array is taken as is; bytes would be checked byte by byte.
    envelope.payload = array.array('B', data)
    return envelope


def payload_bytes(envelope: TracedEnvelope, msg_type: Type) -> bytes:
    """Return the envelope's payload after checking it holds a ``msg_type``."""
    expected = type_name(msg_type)
    if envelope.type_name != expected:
        raise EnvelopeError(
            'envelope holds another type',
            f'{echo(envelope.type_name)}, subscription expects {expected!r}')
    return envelope.payload.tobytes()


def open_envelope(envelope: TracedEnvelope, msg_type: Type) -> Any:
    """
    Return the ``msg_type`` message inside an envelope.

    :raises EnvelopeError: if the envelope holds another type or corrupt bytes.
    """
    payload = payload_bytes(envelope, msg_type)
    try:
        return deserialize_message(payload, msg_type)
    except Exception as ex:  # rclpy raises RMWError (a RuntimeError) and others
        raise EnvelopeError(
            'corrupt envelope payload',
            f'cannot deserialize {len(payload)} bytes as {type_name(msg_type)}: {ex}') from None
