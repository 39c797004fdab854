"""Helpers of the service tests: a server process, a client node, what the server said."""

import json

from conftest import DEADLINE_SEC
from conftest import node_script
from conftest import wait_until
from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
from rclpy.node import Node


def start_server(processes, *flags):
    """Start ``nodes/service_node.py`` with ``flags``; return it once it serves."""
    server = processes(node_script('service_node.py') + list(flags), name='server')
    assert wait_until(lambda: 'ready' in server.output()), server.output()
    return server


def make_client(make_node, executor, name='caller', srv_type=TracedTrigger, srv_name='trigger',
                plain=False):
    """Return a client on a new (Traced)Node spun by ``executor``, once its service is there."""
    node = make_node(Node if plain else mtrace_ros.TracedNode, name)
    executor.add_node(node)
    client = node.create_client(srv_type, srv_name)
    assert client.wait_for_service(DEADLINE_SEC)
    return client


def served(response):
    """Return the trace the server callback ran in, as the server node reported it."""
    return json.loads(response.message)


def ended(recorded, futures):
    """Return a predicate: all calls answered, their client spans closed in done callbacks."""
    def predicate():
        clients = sum(s['kind'] == 'client' for s in recorded)
        return all(future.done() for future in futures) and clients >= len(futures)
    return predicate


def client_span(recorded, trace_id):
    """Return the one client span of ``trace_id``."""
    (span,) = [s for s in recorded if s['trace_id'] == trace_id and s['kind'] == 'client']
    return span


def local_server(make_node, executor, srv_type, srv_name, callback=None):
    """Return a service on a TracedNode in this process, and the contexts its calls ran in."""
    server = make_node(mtrace_ros.TracedNode, 'server')
    executor.add_node(server)
    contexts = []

    def serve(request, response):
        contexts.append(mtrace_ros.current_trace())
        return response

    return server.create_service(srv_type, srv_name, callback or serve), contexts
