"""Peers with another layout of a traced type (TracedHeader before parent_span_id) are said."""

import copy

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.layout_check import mismatched
from mtrace_ros.instrumentation.layout_check import PROBLEM
from rclpy.type_hash import TypeHash


def _endpoints(make_node, executor, topic):
    talker = make_node(mtrace_ros.TracedNode, 'talker')
    listener = make_node(name='listener')
    publisher = talker.create_publisher(TracedString, topic, 10)
    mtrace_ros.create_traced_subscription(listener, TracedString, topic, lambda msg: None, 10)
    executor.add_node(talker)
    executor.add_node(listener)
    assert spin_until(executor, lambda: talker.get_subscriptions_info_by_topic(topic)
                      and talker.get_publishers_info_by_topic(topic))
    publishers = talker.get_publishers_info_by_topic(topic)
    return publisher, publishers, talker.get_subscriptions_info_by_topic(topic)


def test_a_peer_with_another_type_hash_of_the_same_type_is_found(make_node, executor):
    _, publishers, subscriptions = _endpoints(make_node, executor, '/layout')
    assert mismatched(publishers, subscriptions) == []
    old_layout = copy.copy(subscriptions[0])
    old_layout.topic_type_hash = TypeHash(version=1, value=bytes(range(32)))
    assert mismatched(publishers, [old_layout]) == [old_layout]
    other_type = copy.copy(old_layout)
    other_type.topic_type = 'std_msgs/msg/String'
    assert mismatched(publishers, [other_type]) == []


def test_peers_of_the_same_layout_are_not_reported(make_node, executor):
    publisher, _, _ = _endpoints(make_node, executor, '/layout_ok')
    assert publisher.mtrace_layout is not None
    publisher.publish(TracedString())
    assert not [key for key in notices.counts() if key[2] == PROBLEM]
