"""Which message types carry a ``TracedHeader``, and what ROS calls a type."""

import functools
from typing import Optional
from typing import Type

_TRACED_HEADER_TYPE = 'mtrace_msgs/TracedHeader'


@functools.lru_cache(maxsize=None)
def header_field(msg_type: Type) -> Optional[str]:
    """
    Return the name of ``msg_type``'s top-level ``TracedHeader`` field, or ``None``.

    The first such field carries the trace; a type without one is traced by
    wrapping it in a ``TracedEnvelope``.
    """
    get_fields = getattr(msg_type, 'get_fields_and_field_types', None)
    if get_fields is None:
        return None
    for name, field_type in get_fields().items():
        if field_type == _TRACED_HEADER_TYPE:
            return name
    return None


@functools.lru_cache(maxsize=None)
def type_name(msg_type: Type) -> str:
    """Return the ROS name of a generated message type, e.g. ``std_msgs/msg/String``."""
    package, interface_kind = msg_type.__module__.split('.')[:2]
    return f'{package}/{interface_kind}/{msg_type.__name__}'
