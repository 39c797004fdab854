"""
A service server for multi-process tests: answers with the trace its callback ran in.

The response's ``message`` is a JSON object with the callback's trace id,
span id and parent span id (all null outside any trace), so the caller can
check the server span against its own client span.

    service_node.py [--plain] [--multi] [--async]
"""

import argparse
import json

from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.executors import MultiThreadedExecutor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_srvs.srv import Trigger


def where() -> str:
    context = mtrace_ros.current_trace()
    if context is None:
        return json.dumps({'trace_id': None, 'span_id': None, 'parent_span_id': None})
    return json.dumps({'trace_id': context.trace_id, 'span_id': context.span_id,
                       'parent_span_id': context.parent_span_id})


def answer(request, response):
    response.success = True
    response.message = where()
    return response


async def answer_later(request, response):
    return answer(request, response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--plain', action='store_true')
    parser.add_argument('--multi', action='store_true')
    parser.add_argument('--async', dest='coroutine', action='store_true')
    args, ros_args = parser.parse_known_args()
    rclpy.init(args=ros_args)
    node = (Node if args.plain else mtrace_ros.TracedNode)('server')
    group = ReentrantCallbackGroup()
    callback = answer_later if args.coroutine else answer
    node.create_service(TracedTrigger, 'trigger', callback, callback_group=group)
    node.create_service(Trigger, 'std_trigger', answer, callback_group=group)
    executor = MultiThreadedExecutor(4) if args.multi else SingleThreadedExecutor()
    executor.add_node(node)
    print('ready', flush=True)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()


if __name__ == '__main__':
    main()
