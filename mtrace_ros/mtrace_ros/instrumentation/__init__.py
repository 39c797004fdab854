"""
How publishers, subscriptions and callbacks are wrapped to carry traces.

:mod:`.node` (``TracedNode``) and the explicit factories in :mod:`.publisher`
and :mod:`.subscription` give rclpy's own objects a trace; :mod:`.callbacks`
runs each callback in its message's trace (sync, ``async def``, threads);
:mod:`.tasks` gives every rclpy task a context of its own, as asyncio does;
:mod:`.explicit` is the hand-held API (``start_trace``, ``continue_trace``,
``link``); :mod:`.span_api` is ``current_span()``; :mod:`.otel_context` shares
the context with OpenTelemetry once the process uses it; :mod:`.notices` says,
rate-limited, what was wrong with input.
"""
