"""Local stand-ins for the outside world: test platforms, and (later) fake platform servers."""
