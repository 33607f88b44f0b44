"""Per-reader recommendation models over stored paper vectors (numpy and scipy)."""
