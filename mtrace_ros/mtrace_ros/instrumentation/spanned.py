"""Run a callback in a span of its own: the server side of services and actions."""

import functools
import inspect
from typing import Any
from typing import Callable

from mtrace_ros.core.context import TraceContext
from mtrace_ros.export import spans
from mtrace_ros.instrumentation.callbacks import bind_coroutine
from mtrace_ros.instrumentation.explicit import active

#: Opens the span a call runs in, from the call's arguments.
Enter = Callable[..., TraceContext]
#: Sees the call's result before its span ends (e.g. writes the span into a response header).
Leave = Callable[[TraceContext, Any], None]


def spanned(callback: Callable[..., Any], enter: Enter, leave: Leave) -> Callable[..., Any]:
    """
    Return ``callback`` running in the span ``enter(*args)`` opens, ended when it returns.

    A coroutine function stays one: every step of it runs in the span (its
    own context copy); a plain callback gets the span attached and detached
    around it. A raised exception ends the span with it, and propagates.
    """
    if inspect.iscoroutinefunction(callback):
        @functools.wraps(callback)
        async def run_coroutine(*args: Any) -> Any:
            context = enter(*args)
            error = None
            try:
                result = await bind_coroutine(callback(*args), context)
                leave(context, result)
                return result
            except BaseException as ex:
                error = ex
                raise
            finally:
                spans.end_span(context, error)
        return run_coroutine

    @functools.wraps(callback)
    def run(*args: Any) -> Any:
        with active(enter(*args)) as context:
            result = callback(*args)
            leave(context, result)
            return result
    return run
