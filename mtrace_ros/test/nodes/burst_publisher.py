"""
Publish a burst a recorder must keep, then SIGINT the recorder as soon as it holds all of it.

    burst_publisher.py TOPIC COUNT RECORDER_PID [--spans]

Sends ``std_msgs/String`` ``0`` .. ``COUNT-1`` on TOPIC (reliable, depth COUNT),
or with ``--spans`` span messages of nodes ``0`` .. ``COUNT-1`` (the span
topic's QoS), once a reliable subscription matched; waits until the
recorder's middleware acknowledged every message, signals the recorder at
once and prints ``{"acked": ...}``.
Its writer sends heartbeats every 10 ms (a Fast DDS profile written before
rclpy starts): acknowledgements then come within milliseconds of the burst,
while the recorder still has most of it to take. With Fast DDS' default
period (3 s) they come so late that the recorder has taken everything.
"""

import glob
import json
import os
import pathlib
import signal
import sys
import tempfile
import time
from typing import Any
from typing import List
from typing import Tuple

from mtrace_msgs.msg import Span as SpanMsg
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.export.schema import SPAN_QOS
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String

DEADLINE_SEC = 30.0
#: The element's name: Fast DDS 3 (Kilted) renamed Fast DDS 2's (Jazzy).
PERIOD_TAG = ('heartbeat_period' if glob.glob(os.path.join(sys.prefix, 'lib', 'libfastdds.so*'))
              else 'heartbeatPeriod')
PROFILE = f"""<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
  <data_writer profile_name="burst_writer" is_default_profile="true">
    <times><{PERIOD_TAG}><sec>0</sec><nanosec>10000000</nanosec></{PERIOD_TAG}></times>
  </data_writer>
</profiles>
"""


def _reliable_reader(node: Node, topic: str) -> bool:
    return any(info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
               for info in node.get_subscriptions_info_by_topic(topic))


def _burst(count: int, spans: bool) -> Tuple[Any, QoSProfile, List[Any]]:
    """Return the message type, the QoS and the messages to send."""
    if not spans:
        return String, QoSProfile(depth=count), [String(data=str(i)) for i in range(count)]
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from span_fixtures import make_span  # test-local module
    return SpanMsg, SPAN_QOS, [record_to_message(make_span(node=str(i))) for i in range(count)]


def main() -> None:
    topic, count, recorder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    msg_type, qos, messages = _burst(count, '--spans' in sys.argv[4:])
    with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as profile:
        profile.write(PROFILE)
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = profile.name  # Fast DDS 3
    os.environ['FASTRTPS_DEFAULT_PROFILES_FILE'] = profile.name  # Fast DDS 2
    rclpy.init()
    node = Node('burst_publisher')
    publisher = node.create_publisher(msg_type, topic, qos)
    deadline = time.monotonic() + DEADLINE_SEC
    while not _reliable_reader(node, topic) and time.monotonic() < deadline:
        time.sleep(0.02)
    publisher.publish(messages[0])
    matched = publisher.wait_for_all_acked(Duration(seconds=DEADLINE_SEC))  # both ways
    for message in messages[1:]:
        publisher.publish(message)
    acked = matched and publisher.wait_for_all_acked(Duration(seconds=DEADLINE_SEC))
    os.kill(recorder, signal.SIGINT)
    print(json.dumps({'acked': acked}), flush=True)
    os.unlink(profile.name)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
