"""Install mtrace_ros the ROS 2 ament_python way (see setup.cfg for script dirs)."""

from glob import glob

from setuptools import find_packages
from setuptools import setup

package_name = 'mtrace_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        # `mtrace` on PATH; the console script below is for `ros2 run mtrace_ros mtrace`.
        ('bin', ['scripts/mtrace']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='mtrace developers',
    maintainer_email='mtrace@example.com',
    description='Distributed tracing of message flows for rclpy.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'pytest-timeout']},
    entry_points={
        'console_scripts': [
            'mtrace = mtrace_ros.cli.main:main',
            # The demo tree (mtrace_ros/demo/topology.py): one script per node.
            'a = mtrace_ros.demo.nodes:main_a',
            'b = mtrace_ros.demo.nodes:main_b',
            'c = mtrace_ros.demo.nodes:main_c',
            'd = mtrace_ros.demo.nodes:main_d',
            'e = mtrace_ros.demo.nodes:main_e',
            'f = mtrace_ros.demo.nodes:main_f',
        ],
        # The mtrace_span_exporter fixture for users' own tests (mtrace_ros.testing).
        'pytest11': ['mtrace = mtrace_ros.testing.pytest_plugin'],
    },
)
