"""
How a trace context crosses the wire: the ``TracedHeader``, envelopes, message types.

A context leaves a process inside the messages it publishes and comes back
out on the receiving side. :mod:`.traced_header` writes and reads the header
field of types that have one; :mod:`.envelope` carries other types inside a
``TracedEnvelope``; :mod:`.companion` writes and reads the ``TraceRecord``
that travels beside a message on its hidden companion topic;
:mod:`.message_types` tells which route a type takes.
Everything read here comes from other processes and is checked, never trusted.
"""
