"""
The sink list syntax shared by ``MTRACE_SINKS``, the ``mtrace.sinks`` parameter and the API.

A comma-separated list of entries, each ``KIND`` or ``KIND:TARGET``::

    topic                        mtrace_msgs/msg/Span on /mtrace/spans
    topic:/robot1/spans          ... on another topic
    jsonl:/tmp/spans.jsonl       one JSON object per line, appended
    otlp-http                    OTLP/HTTP (protobuf), endpoint from the OTEL_EXPORTER_OTLP_*
                                 variables, else http://localhost:4318/v1/traces
    otlp-http:http://host:4318   ... to this endpoint (/v1/traces is added if no path is given)
    otlp-grpc                    OTLP/gRPC, endpoint from OTEL_EXPORTER_OTLP_*, else
                                 localhost:4317
    otlp-grpc:host:4317          ... to this endpoint (plain text; https://host:4317 for TLS)

Whitespace around entries is ignored, and so are empty entries; an empty list
means no sink. Entries name sinks: the same entry twice is one sink.
"""

import os
from typing import List
from typing import NamedTuple
from urllib.parse import urlsplit

from mtrace_ros.export.schema import SPAN_TOPIC
from rclpy.exceptions import InvalidTopicNameException
from rclpy.validate_full_topic_name import validate_full_topic_name

TOPIC = 'topic'
JSONL = 'jsonl'
OTLP_HTTP = 'otlp-http'
OTLP_GRPC = 'otlp-grpc'

_OTLP_HTTP_PATH = '/v1/traces'
_SYNTAX = (
    'expected topic[:TOPIC], jsonl:PATH, otlp-http[:URL] or otlp-grpc[:HOST:PORT or URL]')


class SinkSpec(NamedTuple):
    """One sink entry, normalized: equal entries name the same sink."""

    kind: str
    #: Topic name, absolute file path, or endpoint URL ('' for the OTLP default).
    target: str

    def __str__(self) -> str:
        return f'{self.kind}:{self.target}' if self.target else self.kind


def _topic(target: str) -> str:
    name = target or SPAN_TOPIC
    if not name.startswith('/'):
        name = '/' + name
    try:
        validate_full_topic_name(name)
    except InvalidTopicNameException as ex:
        raise ValueError(f'invalid topic name: {ex}') from None
    return name


def _jsonl(target: str) -> str:
    if not target:
        raise ValueError('a file path is needed (jsonl:PATH)')
    return os.path.abspath(os.path.expanduser(target))


def _url(target: str, default_path: str) -> str:
    if not target:
        return ''
    if '://' not in target:
        target = 'http://' + target
    url = urlsplit(target)
    if url.scheme not in ('http', 'https') or not url.hostname:
        raise ValueError(f'not an http:// or https:// endpoint: {target!r}')
    try:
        url.port
    except ValueError as ex:
        raise ValueError(f'bad port in {target!r}: {ex}') from None
    if url.path in ('', '/'):
        url = url._replace(path=default_path)
    return url.geturl()


_NORMALIZE = {
    TOPIC: _topic,
    JSONL: _jsonl,
    OTLP_HTTP: lambda target: _url(target, _OTLP_HTTP_PATH),
    OTLP_GRPC: lambda target: _url(target, ''),
}


def parse_sinks(spec: str) -> List[SinkSpec]:
    """
    Parse a sink list into normalized, distinct entries, in order.

    :raises ValueError: naming the first bad entry and what is wrong with it.
    """
    entries: List[SinkSpec] = []
    for entry in spec.split(','):
        entry = entry.strip()
        if not entry:
            continue
        kind, _, target = entry.partition(':')
        kind = kind.strip().lower()
        normalize = _NORMALIZE.get(kind)
        if normalize is None:
            raise ValueError(f'bad span sink {entry!r}: unknown kind {kind!r}; {_SYNTAX}')
        try:
            parsed = SinkSpec(kind, normalize(target.strip()))
        except ValueError as ex:
            raise ValueError(f'bad span sink {entry!r}: {ex}') from None
        if parsed not in entries:
            entries.append(parsed)
    return entries
