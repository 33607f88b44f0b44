"""Atom 1.0 feeds of recent papers, search results and categories."""
