"""Use cases: each service takes its ports in the constructor and holds no global state."""
