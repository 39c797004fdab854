"""A fan-in scenario shared by span tests: a fusion callback combining two traces."""

import time
from typing import NamedTuple

from conftest import DEADLINE_SEC
from conftest import publish_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import current_trace
from mtrace_ros import link
from mtrace_ros import start_trace
from mtrace_ros import TraceContext
from mtrace_ros import TracedNode


class FanIn(NamedTuple):
    """What the scenario's callbacks saw."""

    #: The fusion callback that linked an imu message's trace.
    fusion: TraceContext
    #: What link() returned: the span that published that imu message.
    imu: TraceContext
    #: A later fusion callback that raised ``ValueError('corrupt frame')``.
    failed: TraceContext


def run_fan_in(make_node, executor) -> FanIn:
    """
    Run node ``fusion``: images from ``sensors`` (roots), each linked to the latest imu.

    Until the image topic is matched, plain images are published again and
    again, so more than one may arrive, before or after the corrupt one: each
    callback is kept by the image it handled (the first of each), with the imu
    message it linked, and the wait is for the corrupt image itself.
    """
    fusion = make_node(TracedNode, 'fusion')
    sensors = make_node(TracedNode, 'sensors')
    latest_imu = []
    fused = {}  # image data: (callback context, what link() returned, the imu message linked)

    def on_image(msg):
        imu_message = latest_imu[-1]
        fused.setdefault(msg.data, (current_trace(), link(imu_message), imu_message))
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
    assert publish_until(executor, publish_image, lambda: '' in fused)
    publish_image('corrupt')
    raised = []
    deadline = time.monotonic() + DEADLINE_SEC
    while 'corrupt' not in fused and time.monotonic() < deadline:
        try:
            executor.spin_once(timeout_sec=0.1)
        except ValueError as ex:  # the executor hands on what the callback raised
            raised.append(str(ex))
    assert raised == ['corrupt frame'], raised
    context, linked, imu_message = fused['']
    assert linked.trace_id == bytes(imu_message.header.trace_id).hex() != context.trace_id
    assert linked.span_id == bytes(imu_message.header.span_id).hex()
    return FanIn(context, linked, fused['corrupt'][0])
