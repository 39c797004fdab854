"""
What a trace context is: ids, the active context, W3C ``traceparent``, settings.

The bottom of the pipeline, with no ROS in it: a :class:`TraceContext` names
one span of one trace (W3C ids and flags); one ``contextvars.ContextVar``
holds the active one; ids come from the OS's CSPRNG; ``traceparent`` strings
are parsed strictly; :mod:`.sampling` decides, once per new trace, whether
its spans are recorded; every ``MTRACE_*`` setting is named in
:mod:`mtrace_ros.core.settings`. Everything else builds on this.
"""
