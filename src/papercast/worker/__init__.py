"""The worker: runs background work as leased jobs and periodic tasks (`papercast worker`, and
`papercast serve` in-process); `docs/architecture.md` ("Jobs and the worker") describes it."""
