"""A mailer that keeps messages in memory, for tests; failures can be scripted per recipient."""

from __future__ import annotations

import threading
from collections import defaultdict, deque

from papercast.domain.mail import DeliveryFailed, Envelope, FailureKind, Receipt


class MemoryMailer:
    """Delivered envelopes in `delivered`, in order; `fail_next` makes the next deliveries to one fail.

    A scripted UNKNOWN_OUTCOME failure keeps the message before raising, as a server that
    accepted it and then lost the connection would.
    """

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []
        self.sessions_opened = 0
        self._failures: defaultdict[str, deque[DeliveryFailed]] = defaultdict(deque)
        self._lock = threading.Lock()

    def fail_next(self, recipient: str, *failures: DeliveryFailed) -> None:
        with self._lock:
            self._failures[recipient].extend(failures)

    def session(self) -> MemoryMailer:
        with self._lock:
            self.sessions_opened += 1
        return self

    def deliver(self, envelope: Envelope) -> Receipt:
        with self._lock:
            failures = self._failures[envelope.recipient]
            failure = failures.popleft() if failures else None
            if failure is None or failure.kind is FailureKind.UNKNOWN_OUTCOME:
                self.delivered.append(envelope)
        if failure is not None:
            raise failure
        return Receipt(250, "kept in memory")

    def close(self) -> None:
        """Nothing to close: every delivery is already kept."""
