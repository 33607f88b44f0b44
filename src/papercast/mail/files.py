"""The embedded default mailer: each message becomes an `.eml` file under `<data_dir>/mail/`.

Files are written crash-safely (temporary file, fsync, rename, fsync of the folder), so a file
with a `.eml` name is always a whole message. A message is named by its Message-ID, so sending
it again replaces the file instead of adding a second copy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from papercast.domain.mail import DeliveryFailed, Envelope, FailureKind, Receipt

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@+-]+")


class FileMailer:
    """Writes messages to `directory` instead of sending them; open them with any mail client."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def session(self) -> FileMailer:
        return self

    def path_for(self, message_id: str) -> Path:
        name = _UNSAFE_IN_NAME.sub("_", message_id.strip("<>")).lstrip(".") or "message"
        return self.directory / f"{name}.eml"

    def deliver(self, envelope: Envelope) -> Receipt:
        path = self.path_for(envelope.message_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, envelope.message.encode("ascii"))
        except UnicodeEncodeError as error:
            raise DeliveryFailed(FailureKind.PERMANENT, f"the message is not ASCII: {error}") from error
        except OSError as error:
            # A full disk or a read-only folder is no fault of this message: try it again later.
            raise DeliveryFailed(FailureKind.UNREACHABLE, f"cannot write {path}: {error}") from error
        return Receipt(250, f"written to {path}")

    def close(self) -> None:
        """Nothing to close: each file is complete once written."""


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut only once the folder is synced
    finally:
        os.close(folder)
