"""
The demo tree, defined once: a -> b -> (d, e), a -> c -> f.

Every edge carries ``mtrace_msgs/TracedString`` (the trace in the message's
header) but ``c -> f``, which carries ``std_msgs/String``: a standard type,
traced on the hidden companion topic ``/demo/c_to_f/_mtrace``.

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
#: Where the rate's check and its refusal are worded, for the node and the runner alike.
RATE_RANGE = 'a number of traces per second > 0'
#: Environment variable naming a pipe's read end that a node watches: EOF means the runner died.
ENV_RUNNER_FD = 'MTRACE_DEMO_RUNNER_FD'


def rate_problem(rate: object) -> Optional[str]:
    """Return why ``rate`` cannot be the root's rate (one line), or ``None`` if it can."""
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate < float('inf'):
        return None
    return f'rate must be {RATE_RANGE}, got {rate!r}'


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


#: The service d offers and e calls for each message it handles (in the caller's trace).
PLAN_SERVICE = '/demo/d_plan'
#: The action d serves and f sends a short goal to for each message it handles.
COUNT_ACTION = '/demo/d_count'


def _edge(parent: str, child: str) -> str:
    return f'/demo/{parent}_to_{child}'


#: The edges on a standard message type (``std_msgs/String``): traced by companion records.
STANDARD_TYPE_EDGES = frozenset({_edge('c', 'f')})

NODES: Tuple[DemoNode, ...] = (
    DemoNode('a', None, (_edge('a', 'b'), _edge('a', 'c')),
             'root: starts one trace per timer tick'),
    DemoNode('b', _edge('a', 'b'), (_edge('b', 'd'), _edge('b', 'e')),
             'async callback awaiting a future that another callback completes'),
    DemoNode('c', _edge('a', 'c'), (_edge('c', 'f'),),
             'hands each message to a thread pool with mtrace_ros.wrap'),
    DemoNode('d', _edge('b', 'd'), (),
             f'leaf; serves {PLAN_SERVICE} (TracedTrigger) and {COUNT_ACTION} (TracedCount)'),
    DemoNode('e', _edge('b', 'e'), (), f'leaf; asks {PLAN_SERVICE} on d for each message'),
    DemoNode('f', _edge('c', 'f'), (),
             f'leaf; reads std_msgs/String (companion records), sends {COUNT_ACTION} goals to d'),
)


def node_named(name: str) -> DemoNode:
    """Return the node called ``name``."""
    for node in NODES:
        if node.name == name:
            return node
    raise KeyError(f'no demo node named {name!r}; the tree has {[n.name for n in NODES]}')
