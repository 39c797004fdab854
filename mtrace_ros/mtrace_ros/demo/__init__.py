"""The demo tree of the problem statement: a -> b -> (d, e), a -> c -> f."""
