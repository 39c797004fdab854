"""
Launch the mtrace demo tree: a -> b -> (d, e), a -> c -> f.

    ros2 launch mtrace_ros demo.launch.py rate:=5.0 sinks:=topic
    MTRACE_SINKS=jsonl:/tmp/spans.jsonl ros2 launch mtrace_ros demo.launch.py

The nodes come from mtrace_ros.demo.topology, the same definition that
``make demo`` runs without launch_ros.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from mtrace_ros.demo.topology import DEFAULT_RATE_HZ
from mtrace_ros.demo.topology import NODES
from mtrace_ros.demo.topology import PACKAGE


def generate_launch_description() -> LaunchDescription:
    """Return one launch_ros Node per demo node, plus the rate and sinks arguments."""
    rate = ParameterValue(LaunchConfiguration('rate'), value_type=float)
    return LaunchDescription([
        DeclareLaunchArgument(
            'rate', default_value=str(DEFAULT_RATE_HZ),
            description='traces the root node a starts per second'),
        DeclareLaunchArgument(
            'sinks', default_value=EnvironmentVariable('MTRACE_SINKS', default_value=''),
            description='where spans go (MTRACE_SINKS syntax, e.g. "topic"); '
                        "default: the environment's MTRACE_SINKS, else none"),
        SetEnvironmentVariable('MTRACE_SINKS', LaunchConfiguration('sinks')),
        *[
            Node(
                package=PACKAGE, executable=spec.executable, name=spec.name, output='screen',
                parameters=[{'rate': rate}] if spec.subscribes is None else [])
            for spec in NODES
        ],
    ])
