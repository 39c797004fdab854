"""A fan-in scenario shared by span tests: a fusion callback combining two traces."""

from typing import NamedTuple

from conftest import publish_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import current_trace
from mtrace_ros import link
from mtrace_ros import start_trace
from mtrace_ros import TraceContext
from mtrace_ros import TracedNode
import pytest


class FanIn(NamedTuple):
    """What the scenario's callbacks saw."""

    #: The fusion callback that linked an imu message's trace.
    fusion: TraceContext
    #: What link() returned: the span that published that imu message.
    imu: TraceContext
    #: A later fusion callback that raised ``ValueError('corrupt frame')``.
    failed: TraceContext


def run_fan_in(make_node, executor) -> FanIn:
    """Run node ``fusion``: images from ``sensors`` (roots), each linked to the latest imu."""
    fusion = make_node(TracedNode, 'fusion')
    sensors = make_node(TracedNode, 'sensors')
    latest_imu = []
    fused = []

    def on_image(msg):
        fused.append((current_trace(), link(latest_imu[-1])))
        if msg.data == 'corrupt':
            raise ValueError('corrupt frame')

    fusion.create_subscription(TracedString, 'imu', latest_imu.append, 10)
    fusion.create_subscription(TracedString, 'image', on_image, 10)
    imu = sensors.create_publisher(TracedString, 'imu', 10)
    image = sensors.create_publisher(TracedString, 'image', 10)
    executor.add_node(fusion)
    executor.add_node(sensors)

    def publish_image(data=''):
        with start_trace(node='sensors'):
            image.publish(TracedString(data=data))
    assert publish_until(executor, lambda: imu.publish(TracedString()), lambda: latest_imu)
    assert publish_until(executor, publish_image, lambda: fused)
    publish_image('corrupt')
    with pytest.raises(ValueError, match='corrupt frame'):
        while len(fused) < 2:
            executor.spin_once(timeout_sec=1.0)
    imu_header = latest_imu[-1].header
    (context, linked), (failed, _) = fused[:2]
    assert linked.trace_id == bytes(imu_header.trace_id).hex() != context.trace_id
    assert linked.span_id == bytes(imu_header.span_id).hex()
    return FanIn(context, linked, failed)
