"""The `papercast` command line: one module per command family, errors shown as messages."""
