"""Test helpers for recordings: copy a bag (other storage, fewer topics), rewrite it with mcap."""

import pathlib
from typing import Collection

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.writer import Writer as McapRos2Writer
from rosbags.rosbag2 import Reader
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer


def copy_bag(
    source: pathlib.Path, target: pathlib.Path, *,
    storage: StoragePlugin = StoragePlugin.MCAP, without: Collection[str] = (),
) -> pathlib.Path:
    """Copy a recording message for message, leaving out the topics ``without``."""
    with Reader(source) as reader:
        writer = Writer(target, version=9, storage_plugin=storage)
        writer.open()
        connections = {}
        for connection in reader.connections:
            if connection.topic not in without:
                connections[connection.id] = writer.add_connection(
                    connection.topic, connection.msgtype,
                    msgdef=connection.msgdef.data, rihs01=connection.digest)
        for connection, timestamp, data in reader.messages():
            if connection.id in connections:
                writer.write(connections[connection.id], timestamp, data)
        writer.close()
    return target


def rewrite_with_mcap_ros2(source_mcap: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """
    Decode a recording's messages and encode them again with mcap + mcap-ros2-support.

    An implementation independent of rosbags (its own CDR decoder and encoder,
    as Foxglove's tools use), writing one ``.mcap`` file.
    """
    decoders = DecoderFactory()
    with open(source_mcap, 'rb') as stream, open(target, 'wb') as out:
        reader = make_reader(stream, decoder_factories=[decoders])
        writer = McapRos2Writer(out)
        schemas = {}
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            if schema.id not in schemas:
                schemas[schema.id] = writer.register_msgdef(schema.name, schema.data.decode())
            writer.write_message(
                channel.topic, schemas[schema.id], decoded,
                log_time=message.log_time, publish_time=message.publish_time)
        writer.finish()
    return target
