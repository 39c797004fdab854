"""
The demo tree, defined once: a -> b -> (d, e), a -> c -> f.

Both the launch file (``launch/demo.launch.py``) and the embedded runner
(``make demo``, :mod:`mtrace_ros.demo.run`) are built from :data:`NODES`, so
they always start the same processes.
"""

from typing import NamedTuple
from typing import Optional
from typing import Tuple

PACKAGE = 'mtrace_ros'
#: Default rate of the root's timer, in traces per second.
DEFAULT_RATE_HZ = 2.0


class DemoNode(NamedTuple):
    """One node of the tree: its console_script, and the topics it reads and writes."""

    name: str
    subscribes: Optional[str]
    publishes: Tuple[str, ...]
    #: What the node shows off, for the README and its own log lines.
    role: str

    @property
    def executable(self) -> str:
        """Return the console_script that runs this node (``ros2 run mtrace_ros <it>``)."""
        return self.name


def _edge(parent: str, child: str) -> str:
    return f'/demo/{parent}_to_{child}'


NODES: Tuple[DemoNode, ...] = (
    DemoNode('a', None, (_edge('a', 'b'), _edge('a', 'c')),
             'root: starts one trace per timer tick'),
    DemoNode('b', _edge('a', 'b'), (_edge('b', 'd'), _edge('b', 'e')),
             'async callback awaiting a future that another callback completes'),
    DemoNode('c', _edge('a', 'c'), (_edge('c', 'f'),),
             'hands each message to a thread pool with mtrace_ros.wrap'),
    DemoNode('d', _edge('b', 'd'), (), 'leaf'),
    DemoNode('e', _edge('b', 'e'), (), 'leaf'),
    DemoNode('f', _edge('c', 'f'), (), 'leaf'),
)


def node_named(name: str) -> DemoNode:
    """Return the node called ``name``."""
    for node in NODES:
        if node.name == name:
            return node
    raise KeyError(f'no demo node named {name!r}; the tree has {[n.name for n in NODES]}')
