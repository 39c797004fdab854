"""Recordings as input: old header layouts, companion records, and hostile recordings."""

import pathlib
import subprocess

from mcap_ros2.writer import Writer as McapRos2Writer
from mtrace_ros.analysis.bag_reader import KIND_UNPLACED
from mtrace_ros.analysis.bag_reader import MAX_LOG_TEXT
from mtrace_ros.analysis.bag_reader import read_recording
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
import numpy
import pytest
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_types_from_msg
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

TIME = 'builtin_interfaces/msg/Time'
SEPARATOR = '=' * 80 + '\n'
#: TracedHeader before it carried parent_span_id.
OLD_HEADER = 'uint8[16] trace_id\nuint8[8] span_id\nuint8 flags\nbuiltin_interfaces/Time stamp\n'
NEW_HEADER = ('uint8[16] trace_id\nuint8[8] span_id\nuint8[8] parent_span_id\nuint8 flags\n'
              'builtin_interfaces/Time stamp\n')
TRACE = bytes.fromhex('4bf92f3577b34da6a3ce929d0e0e4736')
ROOT = bytes.fromhex('00f067aa0ba902b7')
CHILD = bytes.fromhex('b7ad6b7169203331')
NOW_NS = 1_795_000_000_000_000_000


def traced_string_types(header: str) -> dict:
    """Return rosbags types of a TracedString whose TracedHeader has the given fields."""
    text = (f'mtrace_msgs/TracedHeader header\nstring data\n{SEPARATOR}'
            f'MSG: mtrace_msgs/TracedHeader\n{header}{SEPARATOR}'
            'MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n')
    return get_types_from_msg(text, 'mtrace_msgs/msg/TracedString')


class Bag:
    """A recording written message by message with rosbags, from any message definitions."""

    def __init__(self, path: pathlib.Path, storage: StoragePlugin = StoragePlugin.MCAP):
        self.path = path
        self.store = get_typestore(Stores.ROS2_KILTED)
        self.writer = Writer(path, version=9, storage_plugin=storage)
        self.writer.open()
        self.connections = {}

    def register(self, types: dict) -> None:
        self.store.register(types)

    def write(self, topic: str, msgtype: str, msg, stamp_ns: int = NOW_NS) -> None:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store)
        self.writer.write(
            self.connections[topic], stamp_ns, self.store.serialize_cdr(msg, msgtype))

    def raw(self, topic: str, msgtype: str, data: bytes) -> None:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store)
        self.writer.write(self.connections[topic], NOW_NS, data)

    def stamp(self, ns: int = NOW_NS):
        return self.store.types[TIME](sec=ns // 10**9, nanosec=ns % 10**9)

    def traced_string(self, span: bytes, parent: bytes = None, data: str = 'x', ns=NOW_NS):
        fields = {
            'trace_id': numpy.frombuffer(TRACE, numpy.uint8),
            'span_id': numpy.frombuffer(span, numpy.uint8), 'flags': 1, 'stamp': self.stamp(ns)}
        if parent is not None:
            fields['parent_span_id'] = numpy.frombuffer(parent, numpy.uint8)
        header = self.store.types['mtrace_msgs/msg/TracedHeader'](**fields)
        return self.store.types['mtrace_msgs/msg/TracedString'](header=header, data=data)

    def log(self, name: str, text: str, ns: int = NOW_NS):
        return self.store.types['rcl_interfaces/msg/Log'](
            stamp=self.stamp(ns), level=20, name=name, msg=text, file='f.py', function='f',
            line=1)

    def close(self) -> pathlib.Path:
        self.writer.close()
        return self.path


def ids(span: bytes) -> str:
    return f'trace_id={TRACE.hex()} span_id={span.hex()} '


def test_old_headers_without_parent_still_read(tmp_path):
    bag = Bag(tmp_path / 'old')
    bag.register(traced_string_types(OLD_HEADER))
    bag.write('/a_to_b', 'mtrace_msgs/msg/TracedString', bag.traced_string(ROOT))
    bag.write('/b_to_c', 'mtrace_msgs/msg/TracedString', bag.traced_string(CHILD, ns=NOW_NS + 5))
    bag.write('/rosout', 'rcl_interfaces/msg/Log', bag.log('b', ids(CHILD) + 'handled it'))
    recording = read_recording(str(bag.close()))
    assert recording.skipped == []
    spans = {record.span_id: record for record in recording.records}
    assert set(spans) == {ROOT.hex(), CHILD.hex()}
    assert {record.kind for record in spans.values()} == {KIND_UNPLACED}
    assert spans[CHILD.hex()].node == 'b'
    notes = recording.notes.for_span(TRACE.hex(), CHILD.hex())
    assert 'published /b_to_c x1' in notes
    assert 'not placed: its messages have the old header layout, without parent_span_id' in notes
    assert 'INFO [b] handled it' in notes


def test_new_headers_place_every_publishing_span(tmp_path):
    bag = Bag(tmp_path / 'new', StoragePlugin.SQLITE3)
    bag.register(traced_string_types(NEW_HEADER))
    bag.write('/a_to_b', 'mtrace_msgs/msg/TracedString', bag.traced_string(ROOT, bytes(8)))
    bag.write('/b_to_c', 'mtrace_msgs/msg/TracedString', bag.traced_string(CHILD, ROOT))
    recording = read_recording(str(bag.close()))
    forest = Forest(recording.records)
    [trace] = forest.traces
    [top] = trace.tops
    assert top.span.span_id == ROOT.hex() and top.span.kind == 'root'
    assert [child.span.span_id for child in top.children] == [CHILD.hex()]


def test_companion_records_beside_a_topic_of_any_type(tmp_path):
    record_def = ('uint8[16] publisher_gid\nuint64 sequence_number\nuint8[16] trace_id\n'
                  'uint8[8] span_id\nuint8[8] parent_span_id\nuint8 flags\n'
                  'builtin_interfaces/Time stamp\n')
    bag = Bag(tmp_path / 'companion')
    bag.register(get_types_from_msg(record_def, 'mtrace_msgs/msg/TraceRecord'))
    record = bag.store.types['mtrace_msgs/msg/TraceRecord'](
        publisher_gid=numpy.zeros(16, numpy.uint8), sequence_number=1,
        trace_id=numpy.frombuffer(TRACE, numpy.uint8),
        span_id=numpy.frombuffer(CHILD, numpy.uint8),
        parent_span_id=numpy.frombuffer(ROOT, numpy.uint8), flags=1, stamp=bag.stamp())
    bag.write('/scan/_mtrace', 'mtrace_msgs/msg/TraceRecord', record)
    recording = read_recording(str(bag.close()))
    [span] = recording.records
    assert (span.span_id, span.parent_span_id) == (CHILD.hex(), ROOT.hex())
    assert 'published /scan x1' in recording.notes.for_span(TRACE.hex(), CHILD.hex())
    assert any('no message of span' in note for note in recording.notes.for_trace(TRACE.hex()))


def test_wrong_types_on_known_topics_are_skipped_by_name(tmp_path):
    bag = Bag(tmp_path / 'wrong')
    text = bag.store.types['std_msgs/msg/String']
    for topic in ('/mtrace/spans', '/rosout', '/scan/_mtrace'):
        bag.write(topic, 'std_msgs/msg/String', text(data=ids(ROOT)))
    recording = read_recording(str(bag.close()))
    assert recording.records == []
    reasons = {item.where: item.reason for item in recording.skipped}
    assert reasons['/mtrace/spans'].startswith(
        'type std_msgs/msg/String, expected mtrace_msgs/msg/Span')
    assert 'expected rcl_interfaces/msg/Log' in reasons['/rosout']
    assert 'expected mtrace_msgs/msg/TraceRecord' in reasons['/scan/_mtrace']


def test_hostile_values_are_skipped_or_escaped_never_fatal(tmp_path):
    bag = Bag(tmp_path / 'hostile')
    bag.register(traced_string_types(NEW_HEADER))
    topic, msgtype = '/a_to_b', 'mtrace_msgs/msg/TracedString'
    bag.write(topic, msgtype, bag.traced_string(ROOT, bytes(8), ns=(2**31 - 1) * 10**9))
    bag.raw(topic, msgtype, b'\x00\x01\x00\x00' + b'\xff' * 7)  # not CDR of this type
    bag.write(topic, msgtype, bag.traced_string(CHILD, ROOT, data='\x1b[2J' * 1000))
    bag.write(topic, msgtype, bag.traced_string(CHILD, CHILD))  # contradicts the line above
    bag.write('/rosout', 'rcl_interfaces/msg/Log',
              bag.log('\x1b[31mevil', ids(CHILD) + '\x07bell ' + 'y' * 100_000))
    recording = read_recording(str(bag.close()))
    where = [item.where for item in recording.skipped]
    assert where == ['/a_to_b message 2', '/a_to_b message 4']
    assert 'has parent' in recording.skipped[1].reason
    text = render_text(Forest(recording.records), notes=recording.notes)
    assert '\x1b' not in text and '\x07' not in text
    assert '\\x1b[31mevil' in text
    longest = max(len(line) for line in text.splitlines())
    assert longest < MAX_LOG_TEXT + 200


def test_bad_ids_and_definitions_name_their_topic(tmp_path):
    short = ('uint8[4] trace_id\nuint8[8] span_id\nuint8[8] parent_span_id\nuint8 flags\n'
             'builtin_interfaces/Time stamp\n')
    bag = Bag(tmp_path / 'ids')
    bag.register(traced_string_types(short))
    header = bag.store.types['mtrace_msgs/msg/TracedHeader'](
        trace_id=numpy.ones(4, numpy.uint8), span_id=numpy.ones(8, numpy.uint8),
        parent_span_id=numpy.zeros(8, numpy.uint8), flags=1, stamp=bag.stamp())
    bag.write('/short', 'mtrace_msgs/msg/TracedString',
              bag.store.types['mtrace_msgs/msg/TracedString'](header=header, data=''))
    garbage = bag.writer.add_connection(
        '/garbage', 'pkg/msg/Nope', msgdef='uint8[ x\n', rihs01='RIHS01_00')
    bag.writer.write(garbage, NOW_NS, b'\x00\x01\x00\x00')
    recording = read_recording(str(bag.close()))
    reasons = {item.where: item.reason for item in recording.skipped}
    assert 'trace_id has 4 bytes, expected 16' in reasons['/short message 1']
    assert reasons['/garbage'].startswith('unreadable message definition')


def _mcap_with_small_chunks(path: pathlib.Path, count: int) -> pathlib.Path:
    with open(path, 'wb') as stream:
        writer = McapRos2Writer(stream, chunk_size=256)
        schema = writer.register_msgdef(
            'mtrace_msgs/msg/TracedString',
            traced_string_msgdef())
        for index in range(count):
            writer.write_message('/t', schema, {
                'header': {'trace_id': TRACE, 'span_id': (index + 1).to_bytes(8, 'big'),
                           'parent_span_id': bytes(8), 'flags': 1,
                           'stamp': {'sec': 1, 'nanosec': index}},
                'data': 'x' * 50}, log_time=index)
        writer.finish()
    return path


def traced_string_msgdef() -> str:
    return (f'mtrace_msgs/TracedHeader header\nstring data\n{SEPARATOR}'
            f'MSG: mtrace_msgs/TracedHeader\n{NEW_HEADER}')


def test_cut_short_mcap_shows_what_it_holds(tmp_path):
    whole = _mcap_with_small_chunks(tmp_path / 'whole.mcap', 40)
    assert len(read_recording(str(whole)).records) == 40
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    recording = read_recording(str(cut))
    assert 5 < len(recording.records) < 40
    assert 'reading it record by record' in recording.skipped[0].reason
    assert recording.skipped[-1].where == str(cut)
    assert 'breaks off after' in recording.skipped[-1].reason


@pytest.mark.parametrize('name, content', [
    ('noise.mcap', bytes(range(256)) * 8),
    ('noise.db3', b'SQLite format 3\x00' + b'\xff' * 2000),
    ('empty.mcap', b''),
])
def test_corrupt_files_give_a_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    try:
        recording = read_recording(str(path))
    except RuntimeError as error:
        assert str(path) in str(error)
        return
    assert recording.records == [] and recording.skipped


def test_mtrace_tree_reports_a_corrupt_recording_and_exits_1(tmp_path):
    path = tmp_path / 'bag'
    path.mkdir()
    (path / 'metadata.yaml').write_text('rosbag2_bagfile_information: [unclosed\n')
    result = subprocess.run(['mtrace', 'tree', str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f'mtrace tree: cannot read recording {path}')
    assert 'Traceback' not in result.stderr
