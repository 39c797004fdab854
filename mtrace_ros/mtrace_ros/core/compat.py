"""
What differs between the rclpy releases mtrace runs on, in one place.

mtrace is tested on ROS 2 Kilted (rclpy 9) and Jazzy (rclpy 7). Each
difference is checked by looking for the feature, never by comparing version
numbers, so that a release in between (or a backport) takes the right path.
"""

from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy

try:
    from rclpy.qos import qos_profile_rosout_default as ROSOUT_QOS
except ImportError:  # rclpy 7 (Jazzy): the profile of rcl's /rosout publishers, by hand
    ROSOUT_QOS = QoSProfile(
        depth=1000, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""QoS for subscribing to ``/rosout``: transient local, so recent lines arrive too."""
