"""The web edge: server-rendered pages, the JSON API under /api/v1, Atom feeds, health and metrics."""
