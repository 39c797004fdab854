"""How publishers, subscriptions and callbacks are wrapped to carry traces."""
