"""Helpers shared by several test folders (importable as `support`: tests/ is on sys.path).

pytest puts `tests/` on `sys.path` when it imports `tests/conftest.py` (a rootless conftest,
default `prepend` import mode), so test modules anywhere under tests/ can `import support...`.
"""
