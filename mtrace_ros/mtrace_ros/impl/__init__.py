"""mtrace internals: not part of the public API."""
