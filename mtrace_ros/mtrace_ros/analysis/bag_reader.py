"""
Rebuild traces from a rosbag2 recording alone: a recording is a trace store.

Every traced message says where it sits in its tree: its ``TracedHeader``
(or its companion record on ``<topic>/_mtrace``) carries the trace, the span
that published it and that span's parent. So, from a recording:

* headers and companion records give every span that published, placed
  exactly under its parent, with the topics it published on;
* recorded ``/rosout`` lines with ``trace_id=... span_id=...`` give node
  names and what each node said in each span; a span known only from its
  log lines (a leaf that published nothing) cannot be placed, and is listed
  under its trace as not placed;
* the recorded span topic (``/mtrace/spans``) gives complete spans, and with
  it complete trees.

Each topic is decoded with the message definition stored in the recording
(rosbags, pure Python: no ROS install needed), so recordings made before
``TracedHeader`` carried ``parent_span_id`` still read: their spans' parents
are unknown unless the span topic says. Recordings are untrusted input:
whatever cannot be read (a corrupt file, a cut-short MCAP, a wrong type on a
known topic, a bad id) is reported with where it was, and the rest is shown.
"""

from dataclasses import dataclass
from dataclasses import field
import pathlib
import re
from typing import Any
from typing import Callable
from typing import Dict
from typing import Iterator
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Set
from typing import Tuple

from mcap.records import Channel as McapChannel
from mcap.records import Message as McapMessage
from mcap.records import Schema as McapSchema
from mcap.stream_reader import StreamReader
from mtrace_ros.analysis.notes import Notes
from mtrace_ros.analysis.recording_types import add_installed_type
from mtrace_ros.analysis.recording_types import installed_typestore
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.ids import SPAN_ID_SIZE
from mtrace_ros.core.ids import TRACE_ID_SIZE
from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import KIND_ROOT
from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.export.schema import SpanRecord
from rosbags.interfaces import MessageDefinition
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader
from rosbags.typesys import get_types_from_idl
from rosbags.typesys import get_types_from_msg
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

#: Storage files a recording may be given as, besides its directory.
STORAGE_SUFFIXES = ('.mcap', '.db3')
#: The kind of a span whose parent the recording does not say.
KIND_UNPLACED = 'unplaced'

HEADER_TYPE = 'mtrace_msgs/msg/TracedHeader'
SPAN_TYPE = 'mtrace_msgs/msg/Span'
LOG_TYPE = 'rcl_interfaces/msg/Log'
ROSOUT_TOPIC = '/rosout'
#: Companion records: the trace of a message of any type, beside its topic.
COMPANION_TYPE = 'mtrace_msgs/msg/TraceRecord'
COMPANION_SUFFIX = '/_mtrace'
#: What a known topic must hold.
_EXPECTED_TYPES = ((SPAN_TOPIC, SPAN_TYPE), (ROSOUT_TOPIC, LOG_TYPE))

#: The ids mtrace writes into log lines (the default ``MTRACE_LOG_FORMAT``).
_LOG_IDS = re.compile(r'trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16}) ?')
#: Longest log text kept per line (records may hold anything).
MAX_LOG_TEXT = 500
_LEVELS = {10: 'DEBUG', 20: 'INFO', 30: 'WARN', 40: 'ERROR', 50: 'FATAL'}
#: rosbags' node type of a field naming another message type.
_NAMED = 2


def is_recording(path: str) -> bool:
    """Return whether ``path`` is a rosbag2 recording: its directory or a storage file."""
    candidate = pathlib.Path(path)
    if candidate.is_dir():
        return (candidate / 'metadata.yaml').is_file() or any(
            next(candidate.glob(f'*{suffix}'), None) for suffix in STORAGE_SUFFIXES)
    return candidate.suffix in STORAGE_SUFFIXES


class Skipped(NamedTuple):
    """Something in a recording that could not be used, where it was, and why."""

    where: str
    reason: str


class LogLine(NamedTuple):
    """A ``/rosout`` line written inside a span."""

    stamp_ns: int
    level: str
    node: str
    text: str


@dataclass
class _Evidence:
    """What a recording says about one span, gathered from every source."""

    parent: Optional[str] = None
    #: False while no header said who the parent is (old layout, or only log lines).
    parent_known: bool = False
    publishes: Dict[str, int] = field(default_factory=dict)
    first_ns: Optional[int] = None
    last_ns: Optional[int] = None
    lines: List[LogLine] = field(default_factory=list)

    def seen_at(self, stamp_ns: int) -> None:
        self.first_ns = stamp_ns if self.first_ns is None else min(self.first_ns, stamp_ns)
        self.last_ns = stamp_ns if self.last_ns is None else max(self.last_ns, stamp_ns)


@dataclass
class RecordingTraces:
    """The traces a recording holds: span records for the trees, notes, and what was skipped."""

    records: List[SpanRecord]
    notes: Notes
    skipped: List[Skipped]
    #: Recorded topic -> its message type.
    topics: Dict[str, str]


class _Edge(NamedTuple):
    trace_id: str
    span_id: str
    #: '' when the header has no parent field (the layout before parent_span_id).
    parent: Optional[str]
    stamp_ns: int


def _hex_id(values: Any, size: int, name: str) -> str:
    raw = bytes(bytearray(values))
    if len(raw) != size:
        raise ValueError(f'{name} has {len(raw)} bytes, expected {size}')
    return raw.hex()


def _edge(header: Any) -> Optional[_Edge]:
    """Return the edge a header (or companion record) carries; ``None`` for an untraced one."""
    trace_id = _hex_id(header.trace_id, TRACE_ID_SIZE, 'trace_id')
    span_id = _hex_id(header.span_id, SPAN_ID_SIZE, 'span_id')
    if not trace_id.strip('0') and not span_id.strip('0'):
        return None
    if not trace_id.strip('0') or not span_id.strip('0'):
        raise ValueError('all-zero trace_id or span_id')
    parent: Optional[str] = ''
    if hasattr(header, 'parent_span_id'):
        parent = _hex_id(header.parent_span_id, SPAN_ID_SIZE, 'parent_span_id')
        parent = parent if parent.strip('0') else None
    return _Edge(trace_id, span_id, parent, time_to_ns(header.stamp))


def _log_line(msg: Any) -> Optional[Tuple[str, str, LogLine]]:
    """Return ``(trace_id, span_id, line)`` for a log line with ids, else ``None``."""
    text = str(msg.msg)
    match = _LOG_IDS.search(text)
    if match is None:
        return None
    rest = (text[:match.start()] + text[match.end():])[:MAX_LOG_TEXT]
    level = _LEVELS.get(msg.level, str(msg.level))
    return match[1], match[2], LogLine(time_to_ns(msg.stamp), level, str(msg.name), rest)


def _span_record(msg: Any) -> SpanRecord:
    """Return the checked record of a ``Span`` message (as strict as a span file's line)."""
    try:
        return record_from_dict(record_to_dict(record_from_message(msg)))
    except (TypeError, AttributeError, OverflowError) as error:
        raise ValueError(str(error)) from None


class _Typestores:
    """One rosbags type store per stored message definition (layouts may differ by topic)."""

    def __init__(self) -> None:
        self._by_definition: Dict[Tuple[Any, str], Any] = {}
        self._installed: Any = None

    def for_connection(self, connection: Any) -> Any:
        """Return the store that decodes ``connection``; raise ValueError if none can."""
        definition = connection.msgdef
        if definition.format == MessageDefinitionFormat.NONE or not definition.data:
            if self._installed is None:
                self._installed = installed_typestore()
            if not add_installed_type(self._installed, connection.msgtype):
                raise ValueError(f'no message definition of {connection.msgtype} '
                                 'in the recording nor installed')
            return self._installed
        key = (definition.format, definition.data)
        store = self._by_definition.get(key)
        if store is None:
            store = get_typestore(Stores.EMPTY)
            try:
                if definition.format == MessageDefinitionFormat.MSG:
                    types = get_types_from_msg(definition.data, connection.msgtype)
                else:
                    types = {}
                    for part in definition.data.split('=' * 80 + '\n'):
                        idl = part.split('\n', 1)[1] if part.startswith('IDL: ') else part
                        if idl.strip():
                            types.update(get_types_from_idl(idl))
                store.register(types)
            except Exception as error:  # a definition written by anyone
                raise ValueError(f'unreadable message definition: {error}') from None
            self._by_definition[key] = store
        if connection.msgtype not in store.fielddefs:
            raise ValueError(f'the stored definition does not define {connection.msgtype}')
        return store


def _header_field(store: Any, msgtype: str) -> Optional[str]:
    """Return the name of the type's top-level ``TracedHeader`` field, if it has one."""
    for name, (node_type, detail) in store.fielddefs[msgtype][1]:
        if node_type == _NAMED and detail == HEADER_TYPE:
            return name
    return None


def _role(topic: str, msgtype: str, store: Any) -> Tuple[Optional[str], Optional[str]]:
    """
    Return what a topic holds for traces (``'span'``, ``'log'``, ``'edge'``, or None).

    With it, the header field to read (``''`` for a companion record), or
    why a known topic with the wrong type is skipped.
    """
    for known, expected in _EXPECTED_TYPES:
        if topic == known and msgtype != expected:
            return None, f'type {msgtype}, expected {expected}: topic skipped'
    if topic.endswith(COMPANION_SUFFIX) and msgtype != COMPANION_TYPE:
        return None, f'type {msgtype}, expected {COMPANION_TYPE}: topic skipped'
    if msgtype == SPAN_TYPE:
        return 'span', None
    if msgtype == LOG_TYPE:
        return 'log', None
    if msgtype == COMPANION_TYPE:
        return 'edge', ''
    header = _header_field(store, msgtype)
    return ('edge', header) if header is not None else (None, None)


class _Builder:
    """Gathers the evidence of every message, then turns it into span records and notes."""

    def __init__(self) -> None:
        self.spans: Dict[Tuple[str, str], SpanRecord] = {}
        self.evidence: Dict[Tuple[str, str], _Evidence] = {}
        self.skipped: List[Skipped] = []
        self.topics: Dict[str, str] = {}

    def _about(self, trace_id: str, span_id: str) -> _Evidence:
        key = (trace_id, span_id)
        evidence = self.evidence.get(key)
        if evidence is None:
            evidence = self.evidence[key] = _Evidence()
        return evidence

    def add_edge(self, topic: str, edge: _Edge, where: str) -> None:
        evidence = self._about(edge.trace_id, edge.span_id)
        if edge.parent != '':
            if evidence.parent_known and evidence.parent != edge.parent:
                self.skipped.append(Skipped(where, (
                    f'span {edge.span_id} has parent {edge.parent}, but an earlier message '
                    f'said {evidence.parent}: message skipped')))
                return
            evidence.parent, evidence.parent_known = edge.parent, True
        evidence.publishes[topic] = evidence.publishes.get(topic, 0) + 1
        evidence.seen_at(edge.stamp_ns)

    def add_span(self, record: SpanRecord, where: str) -> None:
        key = (record.trace_id, record.span_id)
        if key in self.spans:
            self.skipped.append(Skipped(where, f'span {record.span_id} repeated in its trace'))
            return
        self.spans[key] = record

    def add_log(self, trace_id: str, span_id: str, line: LogLine) -> None:
        evidence = self._about(trace_id, span_id)
        evidence.lines.append(line)
        evidence.seen_at(line.stamp_ns)

    def result(self) -> RecordingTraces:
        notes = Notes()
        records = list(self.spans.values())
        for key, evidence in self.evidence.items():
            if key not in self.spans:
                records.append(self._from_evidence(key, evidence, notes))
        self._note_lines(notes)
        self._note_missing_hops(records, notes)
        return RecordingTraces(records, notes, self.skipped, self.topics)

    def _from_evidence(
        self, key: Tuple[str, str], evidence: _Evidence, notes: Notes,
    ) -> SpanRecord:
        trace_id, span_id = key
        if evidence.publishes:
            notes.add_span(trace_id, span_id, 'published ' + ', '.join(
                f'{topic} x{count}' for topic, count in evidence.publishes.items()))
        if evidence.parent_known:
            kind = KIND_ROOT if evidence.parent is None else KIND_RECEIVE
        else:
            kind = KIND_UNPLACED
            why = ('its messages have the old header layout, without parent_span_id'
                   if evidence.publishes else 'it published nothing that was recorded')
            notes.add_span(trace_id, span_id, f'not placed: {why}')
        names = [line.node for line in evidence.lines]
        assert evidence.first_ns is not None and evidence.last_ns is not None
        return SpanRecord(
            trace_id=trace_id, span_id=span_id, parent_span_id=evidence.parent,
            node=names[0] if names else '?', topic=None, kind=kind,
            start_ns=evidence.first_ns, end_ns=evidence.last_ns, latency_ns=None, error=None,
            # Who received each message is not in it: publishes are noted, not counted.
            publishes=(), links=())

    def _note_lines(self, notes: Notes) -> None:
        for (trace_id, span_id), evidence in self.evidence.items():
            for line in sorted(evidence.lines):
                notes.add_span(trace_id, span_id, f'{line.level} [{line.node}] {line.text}')

    def _note_missing_hops(self, records: List[SpanRecord], notes: Notes) -> None:
        """Name every hop whose message is not in the recording because its topic was not."""
        by_key = {(record.trace_id, record.span_id): record for record in records}
        published = {key for key, evidence in self.evidence.items() if evidence.publishes}
        named: Set[Tuple[str, str]] = set()
        for record in records:
            parent_key = (record.trace_id, record.parent_span_id)
            parent = by_key.get(parent_key)
            parent_name = '?' if parent is None else parent.node
            topic = record.topic
            if topic is not None and record.kind != KIND_ROOT and topic not in self.topics:
                if (record.trace_id, topic) not in named:
                    named.add((record.trace_id, topic))
                    notes.add_trace(record.trace_id, (
                        f'hop {topic} ({parent_name} -> {record.node}) not recorded: '
                        f'{topic} is not in the recording'))
            elif (topic is None and record.parent_span_id is not None
                  and parent_key not in published):
                notes.add_trace(record.trace_id, (
                    f'hop {parent_name} (span {record.parent_span_id}) -> {record.node} '
                    f'(span {record.span_id}) not recorded: no message of span '
                    f'{record.parent_span_id} is in the recording (its topic was not recorded)'))
        for record in records:  # publishes no recorded span received
            for topic in dict.fromkeys(publish.topic for publish in record.publishes):
                if topic not in self.topics and (record.trace_id, topic) not in named:
                    named.add((record.trace_id, topic))
                    notes.add_trace(record.trace_id, (
                        f'hop {topic} (from {record.node}) not recorded: '
                        f'{topic} is not in the recording'))


def _handler(builder: _Builder, role: str, topic: str, field_name: str) -> Callable:
    """Return what to do with one decoded message of a topic of the given role."""
    if role == 'span':
        return lambda msg, where: builder.add_span(_span_record(msg), where)
    if role == 'log':
        def on_log(msg: Any, where: str) -> None:
            found = _log_line(msg)
            if found is not None:
                builder.add_log(*found)
        return on_log
    data_topic = topic[:-len(COMPANION_SUFFIX)] if not field_name else topic

    def on_edge(msg: Any, where: str) -> None:
        edge = _edge(getattr(msg, field_name) if field_name else msg)
        if edge is not None:
            builder.add_edge(data_topic, edge, where)
    return on_edge


class _Channel(NamedTuple):
    """A topic of a storage file read record by record (what rosbags calls a connection)."""

    id: Tuple[int, int]  # noqa: A003 (the name rosbags' connections have)
    topic: str
    msgtype: str
    msgdef: MessageDefinition


def _salvage(path: pathlib.Path, builder: _Builder) -> Iterator[Tuple[Any, bytes]]:
    """
    Yield the messages of MCAP files read record by record, up to where they break off.

    For a recording that its index cannot open: a recorder killed before it
    closed the file, or a file cut short in a copy. Complete chunks are kept.
    """
    files = sorted(path.glob('*.mcap')) if path.is_dir() else [path]
    if not files:
        raise ValueError('no .mcap file to read')
    for index, file in enumerate(files):
        channels: Dict[int, _Channel] = {}
        schemas: Dict[int, Any] = {}
        count = 0
        try:
            with open(file, 'rb') as stream:
                for record in StreamReader(stream).records:
                    if isinstance(record, McapSchema):
                        schemas[record.id] = record
                    elif isinstance(record, McapChannel) and record.schema_id in schemas:
                        schema = schemas[record.schema_id]
                        definition = MessageDefinition(
                            MessageDefinitionFormat.MSG if schema.encoding == 'ros2msg'
                            else MessageDefinitionFormat.IDL,
                            schema.data.decode('utf-8', 'replace'))
                        channels[record.id] = _Channel(
                            (index, record.id), record.topic, schema.name, definition)
                        builder.topics[record.topic] = schema.name
                    elif isinstance(record, McapMessage) and record.channel_id in channels:
                        count += 1
                        yield channels[record.channel_id], record.data
        except Exception as error:  # where the file breaks off
            builder.skipped.append(Skipped(str(file), (
                f'breaks off after {count} readable messages ({type(error).__name__}: '
                f'{str(error)[:200]}): the rest of the file skipped')))


def _indexed(reader: Any, builder: _Builder, where: str) -> Iterator[Tuple[Any, bytes]]:
    """Yield the messages of an opened recording; a storage that breaks off is reported."""
    for connection in reader.connections:
        builder.topics[connection.topic] = connection.msgtype
    count = 0
    try:
        for connection, _, data in reader.messages():
            count += 1
            yield connection, data
    except Exception as error:  # a corrupt storage file: keep what was read
        builder.skipped.append(Skipped(where, (
            f'storage unreadable after {count} messages ({type(error).__name__}: '
            f'{str(error)[:200]}): the rest of the recording skipped')))


def read_recording(path: str) -> RecordingTraces:
    """
    Return the traces a rosbag2 recording holds: a bag directory, ``.mcap`` or ``.db3`` file.

    An MCAP recording whose index cannot be read (cut short, or never
    closed) is read record by record instead, as far as it goes.

    :raises RuntimeError: if ``path`` cannot be opened as a recording at all.
    """
    builder = _Builder()
    stores = _Typestores()
    location = pathlib.Path(path)
    reader = None
    try:
        reader = Reader(location)
        reader.open()
        messages = _indexed(reader, builder, path)
    except Exception as error:  # rosbags raises its own errors, and others on corrupt files
        reader = None
        mcap = location.suffix == '.mcap' or (
            location.is_dir() and next(location.glob('*.mcap'), None) is not None)
        if not mcap:
            raise RuntimeError(f'cannot read recording {path}: {type(error).__name__}: '
                               f'{str(error)[:300]}') from None
        builder.skipped.append(Skipped(path, (
            f'cannot be opened by its index ({type(error).__name__}: {str(error)[:200]}); '
            'reading it record by record')))
        messages = _salvage(location, builder)
    try:
        handlers: Dict[Any, Optional[Tuple[Any, Callable]]] = {}
        counts: Dict[Any, int] = {}
        for connection, data in messages:
            if connection.id not in handlers:
                handlers[connection.id] = _connection_handler(connection, stores, builder)
            handler = handlers[connection.id]
            if handler is None:
                continue
            counts[connection.id] = number = counts.get(connection.id, 0) + 1
            where = f'{connection.topic} message {number}'
            store, handle = handler
            try:
                handle(store.deserialize_cdr(data, connection.msgtype), where)
            except Exception as error:  # any field of any message may be bad
                builder.skipped.append(Skipped(
                    where, f'{type(error).__name__}: {str(error)[:200]}; message skipped'))
    finally:
        if reader is not None:
            reader.close()
    return builder.result()


def _connection_handler(
    connection: Any, stores: _Typestores, builder: _Builder,
) -> Optional[Tuple[Any, Callable]]:
    """Return ``(type store, handler)`` for a topic's messages, or ``None`` to pass it by."""
    topic = connection.topic
    try:
        store = stores.for_connection(connection)
        role, detail = _role(topic, connection.msgtype, store)
    except Exception as error:
        builder.skipped.append(Skipped(topic, f'{str(error)[:300]}: topic skipped'))
        return None
    if role is None:
        if detail is not None:
            builder.skipped.append(Skipped(topic, detail))
        return None
    return store, _handler(builder, role, topic, detail or '')
